from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from clustering.compare import (
    andresen_s,
    city_total,
    compare_counts,
    fdr,
    mask_overlap,
    poisson_rate_test,
    spot_overlap,
    sppt_diff,
)
from geo.errors import InputError
from geo.format import count_change

VANCOUVER = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "vancouver"
SPPT_REF = VANCOUVER / "reference" / "sppt_diff_vancouver_burglary_2003_vs_2016_by_DA.csv"
needs_vancouver = pytest.mark.skipif(not SPPT_REF.exists(), reason="Vancouver reference data not found")


# --------------------------------------------------------- poisson_rate_test

def _scipy_p(k1, t1, k2, t2, alternative):
    n = k1 + k2
    if n == 0:
        return 1.0
    return stats.binomtest(int(k1), int(n), t1 / (t1 + t2), alternative=alternative).pvalue


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_poisson_rate_test_equals_scipy_binomtest(alternative):
    rng = np.random.default_rng(7)
    k1 = np.concatenate([rng.integers(0, 60, 300), rng.integers(0, 3000, 60), [0, 5, 0, 7, 1000]])
    k2 = np.concatenate([rng.integers(0, 60, 300), rng.integers(0, 3000, 60), [0, 5, 9, 0, 1000]])
    t1 = np.concatenate([rng.choice([28, 29, 30, 31, 90, 91, 181, 365, 366], 360), [31, 10, 10, 10, 1]])
    t2 = np.concatenate([rng.choice([28, 29, 30, 31, 90, 91, 181, 365, 366], 360), [31, 10, 30, 30, 1]])
    got = poisson_rate_test(k1, t1, k2, t2, alternative=alternative)
    want = [_scipy_p(*row, alternative) for row in zip(k1, t1, k2, t2)]
    assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_poisson_rate_test_hand_worked():
    # equal periods, 3 vs 0: k1 ~ Bin(3, 1/2); P(3) = P(0) = 1/8
    assert poisson_rate_test(3, 30, 0, 30) == pytest.approx(0.25)
    assert poisson_rate_test(3, 30, 0, 30, alternative="greater") == pytest.approx(0.125)
    # 1 vs 4: Bin(5, 1/2) pmf = (1, 5, 10, 10, 5, 1)/32; outcomes as unlikely as 1: 0, 1, 4, 5
    assert poisson_rate_test(1, 7, 4, 7) == pytest.approx(12 / 32)
    # t1 = 1, t2 = 3: p0 = 1/4, n = 2, pmf = (9, 6, 1)/16
    assert poisson_rate_test(2, 1, 0, 3) == pytest.approx(1 / 16)
    assert poisson_rate_test(0, 1, 2, 3) == pytest.approx(1.0)
    assert poisson_rate_test(0, 1, 2, 3, alternative="less") == pytest.approx(9 / 16)
    # no incidents at all: no evidence
    assert poisson_rate_test(0, 30, 0, 30) == 1.0


def test_poisson_rate_test_shapes_and_periods():
    assert isinstance(poisson_rate_test(5, 31, 9, 31), float)
    p = poisson_rate_test([5, 9], 31, [9, 5], 31)
    assert p.shape == (2,) and p[0] == pytest.approx(p[1])
    # Quý I/2024 has 91 days, Quý I/2023 90
    assert poisson_rate_test(40, 91, 30, 90) == pytest.approx(stats.binomtest(40, 70, 91 / 181).pvalue)


@pytest.mark.parametrize("kwargs, match", [
    ({"k1": -1}, r"`k1` was -1 but counts must be whole numbers >= 0"),
    ({"k2": 2.5}, r"`k2` was 2.5 but counts must be whole numbers"),
    ({"t1": 0}, r"`t1` was 0 but must be a finite number > 0"),
    ({"t2": float("nan")}, r"`t2` was nan"),
    ({"alternative": "two_sided"}, r"`alternative` was 'two_sided' but is expected to be in \['two-sided'"),
])
def test_poisson_rate_test_errors(kwargs, match):
    args = {"k1": 3, "t1": 30, "k2": 4, "t2": 30, **kwargs}
    with pytest.raises(InputError, match=match):
        poisson_rate_test(**args)


# ------------------------------------------------------------------------ fdr

@pytest.mark.parametrize("method", ["by", "bh"])
def test_fdr_equals_scipy(method):
    p = np.random.default_rng(3).uniform(0, 0.2, 200) ** 2
    assert_allclose(fdr(p, method), stats.false_discovery_control(p, method=method), rtol=1e-14)


def test_fdr_hand_worked():
    assert_allclose(fdr([0.01, 0.02, 0.5], "bh"), [0.03, 0.03, 0.5])
    c = 1 + 1 / 2 + 1 / 3  # Benjamini–Yekutieli factor for m = 3
    assert_allclose(fdr([0.01, 0.02, 0.5]), [0.03 * c, 0.03 * c, 0.5 * c])
    assert_allclose(fdr([0.01, 0.02], "none"), [0.01, 0.02])


def test_fdr_keeps_nan_and_index():
    s = pd.Series([0.01, np.nan, 0.02], index=["a", "b", "c"])
    q = fdr(s, "bh")
    assert list(q.index) == ["a", "b", "c"] and np.isnan(q["b"])
    assert_allclose(q[["a", "c"]], [0.02, 0.02])


def test_fdr_errors():
    with pytest.raises(InputError, match=r"`method` was 'holm' but is expected to be in \['by', 'bh', 'none'\]"):
        fdr([0.1], "holm")
    with pytest.raises(InputError, match=r"`p` holds values outside \[0, 1\]"):
        fdr([0.1, 1.5])


# -------------------------------------------------------------- compare_counts

@pytest.fixture
def current():
    return pd.DataFrame({"code": ["26734", "26737", "26740", "26743", "26746"],
                         "count": [458, 60, 5, 10, 0]})


@pytest.fixture
def base():
    return pd.DataFrame({"code": ["26734", "26737", "26740", "26743", "26749", "26746"],
                         "count": [500, 20, 30, 12, 4, 0]})


def test_compare_counts_columns_and_values(current, base):
    t = compare_counts(current, base, t_current_days=91, t_base_days=91)
    assert list(t.columns) == ["code", "count", "base_count", "change", "change_pct", "p_value",
                               "q_value", "change_class"]
    t = t.set_index("code")
    # outer join: 26749 has no incident this period, 26746 none in either
    assert t.loc["26749", ["count", "base_count", "change"]].tolist() == [0, 4, -4]
    assert t.loc["26734", "change"] == -42
    assert t.loc["26734", "change_pct"] == pytest.approx(-8.4)
    # the words people read are made from the counts at display, in their language
    words = {c: count_change(r["count"], r["base_count"], locale="vi") for c, r in t.iterrows()}
    assert words["26734"] == "giảm 8,4%"
    assert count_change(t.loc["26734", "count"], t.loc["26734", "base_count"], locale="en") == "down 8.4%"
    assert words["26737"] == "tăng 200,0%"
    assert np.isnan(t.loc["26746", "change_pct"]) and words["26746"] == "không đổi"
    assert words["26749"] == "giảm 100,0%"


def test_compare_counts_tests_and_fdr(current, base):
    t = compare_counts(current, base, t_current_days=91, t_base_days=90).set_index("code")
    for code, row in t.iterrows():
        assert row["p_value"] == pytest.approx(_scipy_p(row["count"], 91, row["base_count"], 90, "two-sided"))
    informative = t.index != "26746"
    assert_allclose(t.loc[informative, "q_value"],
                    stats.false_discovery_control(t.loc[informative, "p_value"], method="by"))
    assert t.loc["26746", ["p_value", "q_value"]].tolist() == [1.0, 1.0]
    assert t.loc["26737", "change_class"] == "significant_increase"    # 60 vs 20
    assert t.loc["26740", "change_class"] == "significant_decrease"    # 5 vs 30
    assert t.loc["26743", "change_class"] == "no_significant_change"   # 10 vs 12
    assert t.loc["26734", "change_class"] == "no_significant_change"   # 458 vs 500
    bh = compare_counts(current, base, t_current_days=91, t_base_days=90, method="bh")
    assert (bh["q_value"] <= t["q_value"].to_numpy() + 1e-15).all()


def test_compare_counts_direction_follows_rates():
    # same count, but the base period is three times longer: the rate rose
    t = compare_counts(pd.DataFrame({"code": ["a"], "count": [60]}),
                       pd.DataFrame({"code": ["a"], "count": [60]}),
                       t_current_days=30, t_base_days=90)
    assert t["change_class"].item() == "significant_increase"
    assert count_change(t["count"].item(), t["base_count"].item(), locale="vi") == "không đổi"


def test_compare_counts_zero_base_text_and_names():
    t = compare_counts(pd.DataFrame({"code": ["a"], "count": [3]}),
                       pd.DataFrame({"code": ["b"], "count": [2]}),
                       t_current_days=31, t_base_days=31, names={"a": "Phường 1", "b": "Phường 3"})
    assert list(t.columns[:2]) == ["code", "name"]
    assert t["name"].tolist() == ["Phường 1", "Phường 3"]
    assert count_change(t.loc[0, "count"], t.loc[0, "base_count"], locale="vi") == "tăng 3 vụ"
    assert count_change(t.loc[0, "count"], t.loc[0, "base_count"], locale="en") == "up 3 incidents"
    names = pd.DataFrame({"code": ["a", "b"], "name": ["P1", "P3"]})
    t = compare_counts(pd.DataFrame({"code": ["a"], "count": [3]}),
                       pd.DataFrame({"code": ["b"], "count": [2]}),
                       t_current_days=31, t_base_days=31, names=names)
    assert t["name"].tolist() == ["P1", "P3"]


@pytest.mark.parametrize("change, match", [
    ({"current": pd.DataFrame({"code": ["a"], "n": [1]})}, r"`current` has no column \['count'\]"),
    ({"base": pd.DataFrame({"code": ["a", "a"], "count": [1, 2]})}, r"`base` has several rows for code 'a'"),
    ({"base": pd.DataFrame({"code": ["a"], "count": [-1]})}, r"`base\['count'\]` holds -1 \(position 0\) but counts must be whole numbers >= 0"),
    ({"current": [1, 2]}, r"`current` was a list but must be a DataFrame"),
    ({"t_current_days": 0}, r"`t_current_days` was 0 but must be a finite number > 0"),
    ({"alpha": 1.5}, r"`alpha` was 1.5 but must be a number strictly between 0 and 1"),
    ({"method": "holm"}, r"`method` was 'holm'"),
    ({"base": pd.DataFrame({"code": [1], "count": [1]})}, r"codes of different types"),
    ({"names": ["x"]}, r"`names` was a list"),
])
def test_compare_counts_errors(change, match):
    args = {"current": pd.DataFrame({"code": ["a"], "count": [1]}),
            "base": pd.DataFrame({"code": ["a"], "count": [2]}),
            "t_current_days": 30, "t_base_days": 30, **change}
    with pytest.raises(InputError, match=match):
        compare_counts(**args)


def test_city_total(current, base):
    t = city_total(current, base, t_current_days=366, t_base_days=365, name="Toàn quận")
    assert t[["code", "name", "count", "base_count", "change"]].values.tolist() == \
        [["total", "Toàn quận", 533, 566, -33]]
    assert t["p_value"].item() == pytest.approx(stats.binomtest(533, 1099, 366 / 731).pvalue)
    assert t["q_value"].item() == t["p_value"].item()
    assert t["change_pct"].item() == pytest.approx(-33 / 566 * 100)
    assert count_change(t["count"].item(), t["base_count"].item(), locale="vi") == "giảm 5,8%"


# ------------------------------------------------------------------- overlap

def _squares(boxes, crs):
    import geopandas as gpd
    from shapely.geometry import box
    return gpd.GeoSeries([box(*b) for b in boxes], crs=crs)


def test_spot_overlap_metric():
    cur = _squares([(0, 0, 100, 100), (1000, 0, 1100, 100)], "EPSG:32648")
    old = _squares([(50, 0, 150, 100)], "EPSG:32648")
    assert spot_overlap(cur, old) == pytest.approx(0.25)       # 50×100 of 2×100×100
    assert spot_overlap(old, cur) == pytest.approx(0.5)
    assert spot_overlap(cur, old.iloc[:0]) == 0.0
    assert np.isnan(spot_overlap(cur.iloc[:0], old))


def test_spot_overlap_reprojects_lon_lat():
    import geopandas as gpd
    cur = _squares([(0, 0, 100, 100)], "EPSG:32648").to_crs("EPSG:4326")
    old = gpd.GeoDataFrame(geometry=_squares([(50, 0, 150, 100)], "EPSG:32648"))
    assert spot_overlap(cur, old) == pytest.approx(0.5, rel=1e-3)


def test_spot_overlap_errors():
    import geopandas as gpd
    from shapely.geometry import box
    with pytest.raises(InputError, match=r"`base_polys` has no CRS; call `.set_crs\(...\)`"):
        spot_overlap(_squares([(0, 0, 1, 1)], "EPSG:32648"), gpd.GeoSeries([box(0, 0, 1, 1)]))
    with pytest.raises(InputError, match=r"`current_polys` was a list"):
        spot_overlap([box(0, 0, 1, 1)], _squares([(0, 0, 1, 1)], "EPSG:32648"))


def test_mask_overlap():
    assert mask_overlap([[1, 1, 1, 0]], [[1, 0, 0, 1]]) == pytest.approx(1 / 3)
    assert np.isnan(mask_overlap([0, 0], [1, 1]))
    with pytest.raises(InputError, match=r"`current_mask` has shape \(2,\) but `base_mask` has \(3,\)"):
        mask_overlap([1, 0], [1, 0, 0])


# ------------------------------------------------------------------- S-index

def test_andresen_s_whole_test_set_without_replacement_is_exact():
    # a 100 % sample without replacement is the test set itself: the interval is one point
    b, t = [40, 30, 20, 10], [10, 30, 30, 30]
    r = andresen_s(b, t, sample_pct=100, seed=0)
    assert_allclose(r.lower, [10, 30, 30, 30])
    assert_allclose(r.upper, [10, 30, 30, 30])
    assert r.SIndex.tolist() == [1, 0, -1, -1]
    assert r.localS.tolist() == [-1, 0, 1, 1]
    assert r.S == 0.25 and r.S_robust == 0.25


def test_andresen_s_disjoint_and_identical_patterns():
    r = andresen_s([100, 0, 0], [0, 100, 0], seed=1)
    assert r.SIndex.tolist() == [1, -1, 0]
    assert r.S == pytest.approx(1 / 3) and r.S_robust == 0.0
    r = andresen_s([500, 300, 200], [500, 300, 200], seed=1, replace=True)
    assert r.S == 1.0


def test_andresen_s_intervals_and_seed():
    b = np.array([120, 80, 40, 30, 20, 10])
    t = np.array([60, 40, 20, 15, 10, 5])
    a1, a2 = andresen_s(b, t, seed=5), andresen_s(b, t, seed=5)
    pd.testing.assert_series_equal(a1.lower, a2.lower)
    pct = 100 * t / t.sum()
    assert (a1.lower <= pct + 1e-9).all() and (pct <= a1.upper + 1e-9).all()
    wide = andresen_s(b, t, seed=5, replace=True)
    assert ((wide.upper - wide.lower) >= (a1.upper - a1.lower)).all()


def test_andresen_s_aligns_series():
    b = pd.Series({"p1": 10, "p3": 5})
    t = pd.Series({"p3": 5, "p4": 10})
    r = andresen_s(b, t, sample_pct=100)
    assert list(r.SIndex.index) == ["p1", "p3", "p4"]
    assert r.SIndex.tolist() == [1, 0, -1]
    assert list(r.frame().columns) == ["pct_base", "pct_test", "lower", "upper", "SIndex", "localS"]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_sim": 5}, r"`n_sim` was 5 but must be an integer >= 20"),
    ({"sample_pct": 0}, r"`sample_pct` was 0 but must be in \(0, 100\]"),
    ({"conf_level": 100}, r"`conf_level` was 100"),
    ({"counts_test": [1, 2, 3]}, r"`counts_base` has shape \(2,\) but `counts_test` has \(3,\)"),
    ({"counts_test": [0, 0]}, r"must each hold at least one point"),
])
def test_andresen_s_errors(kwargs, match):
    args = {"counts_base": [1, 2], "counts_test": [2, 1], **kwargs}
    with pytest.raises(InputError, match=match):
        andresen_s(**args)


def test_sppt_diff_hand_worked():
    b, t = np.array([30, 30, 40]), np.array([10, 45, 45])
    r = sppt_diff(b, t, adjust="none")
    for i in range(3):
        table = np.array([[b[i], b.sum() - b[i]], [t[i], t.sum() - t[i]]])
        chi2 = stats.chi2_contingency(table, correction=False)[0]
        n = table.sum()
        assert r.p_value.iloc[i] == pytest.approx(stats.chi2.sf(chi2 * (n - 1) / n, 1))
    assert r.SIndex.tolist() == [1, -1, 0]
    r = sppt_diff([5, 0, 5], [5, 0, 5])
    assert np.isnan(r.p_value.iloc[1]) and r.S == 1.0 and r.S_robust == 1.0


@needs_vancouver
def test_sppt_diff_reproduces_the_vancouver_reference():
    ref = pd.read_csv(SPPT_REF)
    b, t = ref["nevents_2003"].to_numpy(), ref["nevents_2016"].to_numpy()
    r = sppt_diff(b, t, adjust="none")
    assert r.S == pytest.approx(0.8466196, abs=5e-8)       # published: 839 of 991 DAs
    assert r.S_robust == pytest.approx(836 / 988)
    assert_allclose(r.p_value, ref["p_value_chi2_nmin1"], rtol=1e-8)
    assert_allclose(r.pct_base, ref["perc_2003"], rtol=1e-8)
    assert (r.SIndex.to_numpy() == ref["SIndex_adj_none"]).all()
    assert (r.localS.to_numpy() == ref["localS_adj_none"]).all()
    r = sppt_diff(b, t)  # Benjamini–Yekutieli, the sppt default
    assert r.S == pytest.approx(990 / 991)
    assert_allclose(r.p_adjusted, ref["p_adjusted_BY"], rtol=1e-8)
    assert (r.SIndex.to_numpy() == ref["SIndex_adj_BY"]).all()


@needs_vancouver
def test_andresen_s_agrees_with_published_vancouver_value():
    ref = pd.read_csv(SPPT_REF)
    b, t = ref["nevents_2003"].to_numpy(), ref["nevents_2016"].to_numpy()
    runs = [andresen_s(b, t, seed=s) for s in range(5)]
    # sppt vignettes: globalS 0.2896065 (set.seed(547347)) and 0.2916246 (set.seed(244))
    assert np.mean([r.S for r in runs]) == pytest.approx(0.2896, abs=0.01)
    assert all(abs(r.S - 0.2896) < 0.02 for r in runs)
    assert np.mean([r.S_robust for r in runs]) == pytest.approx(0.2895, abs=0.01)
    # sampling with replacement gives wider intervals and a very different S
    assert andresen_s(b, t, seed=0, replace=True).S > 0.6
