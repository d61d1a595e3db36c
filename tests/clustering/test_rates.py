import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clustering.rates import HARM_WEIGHTS, harm_counts, rates, severity_weights
from geo.errors import InputError
from geo.format import percent


@pytest.fixture
def areas():
    return pd.DataFrame({"code": ["26734", "26737", "26740", "26743"],
                         "area_km2": [2.5, 0.8, 1.0, 0.0],
                         "population": [50000, np.nan, 0, 12000]})


def test_density_and_population_rates(areas):
    counts = pd.DataFrame({"code": ["26734", "26737", "26740", "26743"], "count": [100, 20, 7, 3]})
    r = rates(counts, areas).set_index("code")
    assert_allclose(r["per_km2"], [40.0, 25.0, 7.0, np.nan])      # area 0: no density
    assert_allclose(r["per_10k"], [20.0, np.nan, np.nan, 2.5])     # population unknown or 0
    assert "harm" not in r.columns and "clearance_rate" not in r.columns


def test_wards_without_incidents_and_unknown_wards(areas):
    counts = pd.DataFrame({"code": ["26734", "99999"], "count": [10, 4]})
    r = rates(counts, areas).set_index("code")
    assert r.loc["26737", "count"] == 0 and r.loc["26737", "per_km2"] == 0.0
    assert r.loc["99999", "count"] == 4 and np.isnan(r.loc["99999", "per_km2"])
    assert list(r.index) == ["26734", "26737", "26740", "26743", "99999"]


def test_missing_population_column():
    r = rates(pd.DataFrame({"code": ["a"], "count": [5]}),
              pd.DataFrame({"code": ["a"], "area_km2": [2.0]}))
    assert r["per_km2"].item() == 2.5 and np.isnan(r["per_10k"].item())


def test_harm_weights_default():
    assert HARM_WEIGHTS == {1: 1, 2: 3, 3: 7, 4: 15}
    assert severity_weights([1, 2, 3, 4]).tolist() == [1, 3, 7, 15]
    # unknown grades and blanks weigh 1; labels are mapped to grades at import, not here
    assert severity_weights([1, 4, 2, None, np.nan, pd.NA, 7, 2.0]).tolist() == [1, 15, 3, 1, 1, 1, 1, 3]
    with pytest.raises(InputError, match=r"`severity` holds 'Nghiêm trọng' but must hold grades 1–4"):
        severity_weights(["Nghiêm trọng"])


def test_harm_counts_from_incidents():
    inc = pd.DataFrame({"code": ["a", "a", "a", "b", "b"], "severity": [1, 3, 4, None, 2]})
    out = harm_counts(inc)
    assert out.values.tolist() == [["a", 3, 23.0], ["b", 2, 4.0]]   # 1+7+15, 1+3
    out = harm_counts(inc, weights={1: 1, 2: 2, 3: 4, 4: 8})
    assert out["harm"].tolist() == [13.0, 3.0]


def test_rates_with_counts_per_severity(areas):
    counts = pd.DataFrame({"code": ["26734", "26734", "26734", "26737"],
                           "severity": [1, 2, 4, 3],
                           "count": [10, 4, 1, 2], "cleared_count": [9, 4, 1, 1]})
    r = rates(counts, areas).set_index("code")
    assert r.loc["26734", ["count", "harm", "cleared_count"]].tolist() == [15, 10 + 12 + 15, 14]
    assert r.loc["26737", "harm"] == 14
    assert r.loc["26734", "harm_per_km2"] == pytest.approx(37 / 2.5)
    assert r.loc["26734", "harm_per_10k"] == pytest.approx(37 / 5)
    r = rates(counts, areas, weights={1: 1, 2: 1, 3: 1, 4: 1}).set_index("code")
    assert r.loc["26734", "harm"] == 15


def test_rates_with_given_harm(areas):
    counts = pd.DataFrame({"code": ["26734"], "count": [10], "harm": [31.0]})
    r = rates(counts, areas).set_index("code")
    assert r.loc["26734", "harm"] == 31.0 and r.loc["26737", "harm"] == 0.0
    assert r.loc["26734", "harm_per_km2"] == pytest.approx(12.4)


def test_clearance_rate():
    counts = pd.DataFrame({"code": ["a", "b", "c"], "count": [2500, 10, 0],
                           "cleared_count": [2101, 10, 0]})
    r = rates(counts, pd.DataFrame({"code": ["a", "b", "c"], "area_km2": [1, 1, 1]}))
    assert_allclose(r["clearance_rate"], [0.8404, 1.0, np.nan])
    # as the reports write it: "tỷ lệ điều tra khám phá đạt 84,04%"
    assert percent(r["clearance_rate"].iloc[0], 2, locale="vi") == "84,04%"


@pytest.mark.parametrize("counts, areas_, kwargs, match", [
    (pd.DataFrame({"code": ["a"], "n": [1]}), None, {}, r"`counts` has no column \['count'\]"),
    (pd.DataFrame({"code": ["a"], "count": [1]}), pd.DataFrame({"code": ["a"]}), {},
     r"`areas` has no column \['area_km2'\]"),
    (pd.DataFrame({"code": ["a", "a"], "count": [1, 2]}), None, {}, r"`counts` has several rows for code 'a'"),
    (pd.DataFrame({"code": ["a"], "count": [-1]}), None, {}, r"`counts\['count'\]` must hold numbers >= 0"),
    (pd.DataFrame({"code": ["a"], "count": [1]}), pd.DataFrame({"code": ["a"], "area_km2": [-2]}), {},
     r"`areas\['area_km2'\]` holds negative values"),
    (pd.DataFrame({"code": ["a"], "count": [1], "severity": [1], "harm": [1]}), None, {},
     r"`counts` has both `severity` and `harm`"),
    (pd.DataFrame({"code": ["a"], "count": [1], "severity": [1]}), None, {"weights": {1: -1}},
     r"`weights` was \{1: -1\} but must be a dict of severity grade"),
    ([1, 2], None, {}, r"`counts` was a list but must be a DataFrame"),
])
def test_rates_errors(counts, areas_, kwargs, match):
    if areas_ is None:
        areas_ = pd.DataFrame({"code": ["a"], "area_km2": [1.0], "population": [100]})
    with pytest.raises(InputError, match=match):
        rates(counts, areas_, **kwargs)


def test_harm_counts_errors():
    with pytest.raises(InputError, match=r"`incidents` has no column `severity`"):
        harm_counts(pd.DataFrame({"code": ["a"]}))
