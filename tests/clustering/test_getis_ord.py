import warnings

import esda
import geopandas as gpd
import numpy as np
import pytest
from esda.crand import compute_chunk
from esda.getisord import _g_local_star_crand
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from clustering.getis_ord import (
    HotSpots,
    binary_neighbours,
    category_table,
    conditional_sums,
    confidence_bins,
    fdr_qvalues,
    fdr_threshold,
    gi_star,
    permutation_draws,
    pseudo_p_value,
)
from clustering.grid import make_grid, ward_weights
from clustering.projection import to_metric
from geo.errors import InputError
from geo.render import palette
from tests.conftest import SHARED_BOUNDARIES as BOUNDARIES  # noqa: E402


@pytest.fixture(scope="module")
def wards():
    """The 168 HCMC units of 2025 with a synthetic count that falls off from the centre."""
    path = BOUNDARIES / "hcmc_wards_2025.geojson"
    if not path.exists():
        pytest.skip(f"{path} not available; set BOUNDARY_SOURCE_DIR")
    wards = gpd.read_file(path)
    centroids = to_metric(wards).centroid
    centre = centroids[wards["name"].str.contains("Bến Thành")].iloc[0]
    km = centroids.distance(centre).to_numpy() / 1000
    rng = np.random.default_rng(138)
    wards["count"] = rng.poisson(40 * np.exp(-km / 8) + 1)
    return wards


@pytest.fixture(scope="module")
def w(wards):
    return ward_weights(wards)


def _esda_gi(y, w, permutations=999, seed=12345):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return esda.G_Local(y, w, transform="B", star=True, permutations=permutations, seed=seed)


def esda_on_draws(stat_func, z, observed, neighbours, weights, self_weights, draws, scaling):
    """esda's own per-site conditional randomisation (``esda.crand.compute_chunk``) on our draws.

    Returns esda's ``p_sim`` and its simulated statistics, one row per site.
    """
    k = np.diff(neighbours.indptr)
    p_sim, sims = compute_chunk(0, z, z, observed, k, self_weights, weights, draws, scaling, True,
                                stat_func, 0, "directed")
    return np.asarray(p_sim, dtype=float), sims


def _brute_force_sums(v, k, draws):
    """The sums of conditional_sums, site by site: v without v[i], at the first k[i] draws."""
    return np.array([np.delete(v, i)[draws[:, :k[i]]].sum(axis=1) for i in range(len(v))])


def _mc_bound(p, permutations, sigmas=5.0):
    """Largest difference two independent pseudo p-values of the same test should show."""
    return sigmas * np.sqrt(2 * p * (1 - p) / (permutations + 1)) + 2 / (permutations + 1)


def test_values_equal_esda_on_real_wards(wards, w):
    out = gi_star(wards, "count", w=w, permutations=999, seed=7)
    ref = _esda_gi(wards["count"].to_numpy(), w, permutations=0)
    assert_allclose(out["gi_z"], ref.Zs, rtol=0, atol=1e-10)
    assert_allclose(out["gi_p_norm"], 2 * ref.p_norm, rtol=0, atol=1e-10)
    # self-weight: Gi* includes each ward in its own neighbourhood
    assert_allclose(out["n_neighbors"], w.cardinalities.to_numpy())
    assert (out["hotspot_code"] == "hot_99").any()
    centre = wards["name"].str.contains("Bến Thành")
    assert out.loc[centre, "hotspot_code"].iloc[0].startswith("hot_")


def test_permutations_equal_esdas_own_code_on_the_same_draws(wards, w):
    # esda's per-site code, given the draw matrix our seed makes, gives the same p-values
    y = wards["count"].to_numpy(dtype=float)
    hs = HotSpots(y, w, permutations=999, seed=7)
    neighbours = binary_neighbours(w)
    draws = permutation_draws(len(y), np.diff(neighbours.indptr).max(), 999, 7)
    p_sim, sims = esda_on_draws(_g_local_star_crand, y, hs.Gs, neighbours, neighbours.data,
                                np.ones(len(y)), draws, y.sum())
    assert_allclose(hs.p_sim, p_sim, rtol=0, atol=1e-7)          # esda keeps float32
    # the classification p-value: ties counted in both tails, from esda's simulations
    ge = (sims >= hs.Gs[:, None] - 1e-12).sum(axis=1)
    le = (sims <= hs.Gs[:, None] + 1e-12).sum(axis=1)
    assert_array_equal(hs.p_perm, (np.minimum(ge, le) + 1) / 1000)
    no_ties = ~np.isclose(sims, hs.Gs[:, None], rtol=1e-9, atol=1e-12).any(axis=1)
    assert no_ties.sum() > 20
    assert_array_equal(hs.p_perm[no_ties], hs.p_sim[no_ties])


def test_p_values_agree_with_esdas_permutations_within_monte_carlo_error(wards, w):
    # esda draws other random numbers; the p-values estimate the same ones
    y = wards["count"].to_numpy(dtype=float)
    hs = HotSpots(y, w, permutations=9999, seed=7)
    ref = _esda_gi(y, w, permutations=9999, seed=7)
    ours, theirs = hs.p_perm, pseudo_p_value(ref.Gs, ref.rGs)
    assert (np.abs(ours - theirs) <= _mc_bound(theirs, 9999)).all()
    assert abs(np.mean(ours - theirs)) < 0.005
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99


def test_conditional_sums_equal_brute_force():
    rng = np.random.default_rng(3)
    for n, kmax, permutations in ((3, 2, 7), (12, 11, 40), (57, 8, 25), (700, 9, 30)):
        v = rng.poisson(3, n) + rng.uniform(0, 1, n) * (n % 2)    # counts, and non-integers
        k = rng.integers(0, kmax + 1, n)                          # islands (k = 0) included
        draws = permutation_draws(n, kmax, permutations, seed=n)
        expected = _brute_force_sums(v, k, draws)
        for block_rows in (1, 5, 64):
            got = np.full((n, permutations), np.nan)
            for sites, sums in conditional_sums(v, k, draws, block_rows=block_rows):
                got[sites] = sums
            assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_permutation_draws_are_uniform_samples_without_replacement():
    draws = permutation_draws(6, 3, 60_000, seed=11)            # 5 * 4 * 3 ordered triples
    assert draws.min() == 0 and draws.max() == 4
    assert (np.sort(draws, axis=1)[:, 1:] != np.sort(draws, axis=1)[:, :-1]).all()
    _, counts = np.unique(draws, axis=0, return_counts=True)
    assert len(counts) == 60
    assert stats.chisquare(counts).pvalue > 1e-3
    assert_array_equal(draws, permutation_draws(6, 3, 60_000, seed=11))
    with pytest.raises(InputError, match="cannot draw 5 distinct neighbours among 4"):
        permutation_draws(5, 5, 10)


def test_simulated_sums_have_the_exact_conditional_moments():
    # drawing k of the N = n - 1 other values without replacement: mean k * mu,
    # variance k * s2 * (N - k) / (N - 1) (finite population), for every site
    grid = make_grid((0, 0, 3000, 3000), cell_m=100, shape="square", crs="EPSG:32648")
    v = np.random.default_rng(4).poisson(2.0, len(grid)).astype(float)
    neighbours = binary_neighbours(ward_weights(grid))
    k = np.diff(neighbours.indptr)
    permutations = 4000
    draws = permutation_draws(len(v), k.max(), permutations, seed=4)
    sums = np.full((len(v), permutations), np.nan)
    for sites, block in conditional_sums(v, k, draws):
        sums[sites] = block
    big_n = len(v) - 1
    mu = (v.sum() - v) / big_n
    s2 = ((v ** 2).sum() - v ** 2) / big_n - mu ** 2
    var = k * s2 * (big_n - k) / (big_n - 1)
    z = (sums.mean(axis=1) - k * mu) / np.sqrt(var / permutations)
    assert np.abs(z).max() < 5
    assert_allclose(sums.var(axis=1), var, rtol=0.15)


def test_default_weights_are_ward_weights(wards, w):
    a = gi_star(wards, "count", permutations=99, seed=1)
    b = gi_star(wards, "count", w=w, permutations=99, seed=1)
    assert_allclose(a["gi_z"], b["gi_z"])
    assert_array_equal(a["hotspot_code"], b["hotspot_code"])


def test_weights_in_another_order_are_aligned(wards, w):
    from libpysal.graph import Graph

    order = np.random.default_rng(0).permutation(len(wards))
    ids = w.unique_ids[order]
    shuffled = Graph.from_sparse(w.sparse.tocsr()[order][:, order], ids=ids)
    a = gi_star(wards, "count", w=shuffled, permutations=0, inference="normal")
    b = gi_star(wards, "count", w=w, permutations=0, inference="normal")
    assert_allclose(a["gi_z"], b["gi_z"])


def test_ties_at_the_minimum_are_not_cold_spots():
    # Sparse counts: a cell without incidents among neighbours without incidents has the
    # smallest possible Gi*, and esda's p_sim is 1/1000 although many simulations tie.
    grid = make_grid((0, 0, 2000, 2000), cell_m=100, shape="square", crs="EPSG:32648")
    rng = np.random.default_rng(0)
    grid["count"] = rng.poisson(0.3, len(grid))
    w = ward_weights(grid)
    y = grid["count"].to_numpy(dtype=float)
    out = gi_star(grid, "count", w=w, seed=1)
    neighbours = binary_neighbours(w)
    draws = permutation_draws(len(y), np.diff(neighbours.indptr).max(), 999, 1)
    gs = (neighbours @ y + y) / y.sum()
    p_sim, sims = esda_on_draws(_g_local_star_crand, y, gs, neighbours, neighbours.data,
                                np.ones(len(y)), draws, y.sum())
    empty = np.array([grid["count"][i] == 0 and all(grid["count"][j] == 0 for j in w.neighbors[i])
                      for i in grid.index])
    assert empty.sum() >= 10
    assert_allclose(p_sim[empty], 0.001)
    assert_allclose(out["gi_p_sim"][empty], 0.001)
    share_tied = (sims[empty] == gs[empty][:, None]).mean(axis=1)
    assert (share_tied > 0.05).all()
    assert_allclose(out["gi_p"][empty], (share_tied * 999 + 1) / 1000, atol=1e-9)
    assert (out.loc[empty, "hotspot_code"] == "not_significant").all()


def test_pseudo_p_value_hand_worked():
    sims = [[0.0, 0.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]
    # 0 ties twice: min(4, 2) -> 3/5; 5 is above all: min(0, 4) -> 1/5; 2.5: min(2, 2) -> 3/5
    assert_allclose(pseudo_p_value([0.0, 5.0, 2.5], sims), [0.6, 0.2, 0.6])


# --------------------------------------------------------------------------- FDR

# Ten features worked by hand. Sorted p and the Benjamini-Hochberg line k * alpha / n:
#   k      1      2      3      4      5      6      7      8      9     10
#   p  0.001  0.008  0.012  0.045  0.046  0.068  0.069  0.085  0.300  0.900
# a=.01 .001 ok  .002 -  .003 -  ...                              -> largest k = 1, p <= 0.001
# a=.05 .005 ok  .010 ok .015 ok .020 -  .025 - ... .050 -         -> largest k = 3, p <= 0.012
# a=.10 .010 ok  .020 ok .030 ok .040 -  .050 ok .060 - .070 ok .080 - .090 - .100 -
#                                                                 -> largest k = 7, p <= 0.069
# (0.045 and 0.068 fail their own line but are kept by the step-up rule.)
P = np.array([0.069, 0.900, 0.001, 0.046, 0.300, 0.012, 0.085, 0.045, 0.008, 0.068])
Z = np.array([-2.0, 0.1, 3.5, 2.1, -0.5, -2.6, 1.9, 2.0, 2.8, -1.8])


def test_fdr_thresholds_hand_worked():
    assert fdr_threshold(P, 0.01) == 0.001
    assert fdr_threshold(P, 0.05) == 0.012
    assert fdr_threshold(P, 0.10) == 0.069
    assert fdr_threshold([0.2, 0.5], 0.05) == 0.0


def test_fdr_bins_hand_worked():
    bins, thresholds = confidence_bins(Z, P, fdr=True)
    assert thresholds == {0.01: 0.001, 0.05: 0.012, 0.10: 0.069}
    assert bins.tolist() == [-1, 0, 3, 1, 0, -2, 0, 1, 2, -1]
    bins, thresholds = confidence_bins(Z, P, fdr=False)
    assert thresholds == {0.01: 0.01, 0.05: 0.05, 0.10: 0.10}
    assert bins.tolist() == [-1, 0, 3, 2, 0, -2, 1, 2, 3, -1]


def test_fdr_qvalues_hand_worked():
    q = fdr_qvalues(P)
    expected = {0.001: 0.01, 0.008: 0.04, 0.012: 0.04, 0.045: 0.092, 0.046: 0.092,
                0.068: 0.69 / 7, 0.069: 0.69 / 7, 0.085: 0.10625, 0.300: 1 / 3, 0.900: 0.9}
    assert_allclose(q, [expected[p] for p in P])
    bins, _ = confidence_bins(Z, P, fdr=True)
    for alpha, level in ((0.01, 3), (0.05, 2), (0.10, 1)):
        assert_array_equal(q <= alpha, np.abs(bins) >= level)


def test_fdr_agrees_with_esda_fdr():
    p = np.random.default_rng(5).uniform(0, 0.2, 500) ** 2
    for alpha in (0.01, 0.05, 0.10):
        assert_array_equal(p <= fdr_threshold(p, alpha), p <= esda.fdr(p, alpha))


def test_hot_spot_classification_end_to_end(wards, w):
    out = gi_star(wards, "count", w=w, permutations=999, seed=3)
    bins, _ = confidence_bins(out["gi_z"], out["gi_p"], fdr=True)
    assert_array_equal(out["gi_bin"], bins)
    table = category_table().set_index("bin")
    assert_array_equal(out["hotspot"], table.loc[bins, "label"])
    thresholds = out.attrs["gi_star"]["thresholds"]
    assert thresholds[0.05] == fdr_threshold(out["gi_p"], 0.05)


def test_normal_inference_uses_arcgis_z_cutoffs(wards, w):
    out = gi_star(wards, "count", w=w, permutations=0, inference="normal", fdr=False)
    z = out["gi_z"].to_numpy()
    expected = np.sign(z) * ((np.abs(z) >= 1.6449) + 0 + (np.abs(z) >= 1.96) + (np.abs(z) >= 2.5758))
    assert_array_equal(out["gi_bin"], expected)
    assert_array_equal(out["gi_p"], out["gi_p_norm"])
    assert out["gi_p_sim"].isna().all()


def test_category_labels():
    table = category_table()
    assert table["code"].tolist() == ["cold_99", "cold_95", "cold_90", "not_significant",
                                      "hot_90", "hot_95", "hot_99"]
    assert table["bin"].tolist() == [-3, -2, -1, 0, 1, 2, 3]
    assert table["label"].tolist() == [
        "Cold Spot - 99% Confidence", "Cold Spot - 95% Confidence", "Cold Spot - 90% Confidence",
        "Not Significant", "Hot Spot - 90% Confidence", "Hot Spot - 95% Confidence",
        "Hot Spot - 99% Confidence"]
    # the labels people read, from the one class table, in their language
    assert palette.label(table.loc[6, "code"], locale="vi") == "Điểm nóng (độ tin cậy 99%)"
    assert palette.label(table.loc[0, "code"], locale="vi") == "Điểm lạnh (độ tin cậy 99%)"
    assert palette.label(table.loc[3, "code"], locale="vi") == "Không có ý nghĩa thống kê"
    # the English labels are ArcGIS's wording, as the statistics name the classes
    assert [palette.label(c, locale="en") for c in table["code"]] == table["label"].tolist()


def test_hotspots_class_attributes(wards, w):
    hs = HotSpots(wards["count"], w, permutations=99, seed=2)
    ref = _esda_gi(wards["count"].to_numpy(), w, permutations=0)
    assert_allclose(hs.Gs, ref.Gs, rtol=1e-12)
    assert_allclose(hs.EGs, ref.EGs, rtol=1e-12)
    assert_allclose(hs.VGs, ref.VGs, rtol=1e-12)
    assert_allclose(hs.Zs, ref.Zs, rtol=0, atol=1e-10)
    assert hs.bins.dtype.kind == "i"


# --------------------------------------------------------------------------- errors


def test_errors(wards, w):
    with pytest.raises(InputError, match=r"`column` was 'crimes' but `values_gdf` has no such column"):
        gi_star(wards, "crimes", w=w)
    flat = wards.assign(count=5)
    with pytest.raises(InputError, match=r"has the same value \(5\) everywhere"):
        gi_star(flat, "count", w=w)
    holes = wards.assign(count=wards["count"].where(wards.index > 2))
    with pytest.raises(InputError, match=r"has 3 missing or infinite values; fill them"):
        gi_star(holes, "count", w=w)
    with pytest.raises(InputError, match=r"`permutations` was 0, which gives no pseudo p-values"):
        gi_star(wards, "count", w=w, permutations=0)
    with pytest.raises(InputError, match=r"`alpha_levels` was \(0\.01, 5\) but must be"):
        gi_star(wards, "count", w=w, alpha_levels=(0.01, 5))
    with pytest.raises(InputError, match=r"`inference` was 'bootstrap' but must be one of"):
        gi_star(wards, "count", w=w, inference="bootstrap")
    with pytest.raises(InputError, match=r"`w` has 168 ids but `values_gdf` has 10 rows"):
        gi_star(wards.iloc[:10], "count", w=w)
    with pytest.raises(InputError, match=r"`w` must be a libpysal Graph or W"):
        gi_star(wards, "count", w={"a": ["b"]})
    with pytest.raises(InputError, match=r"has non-numeric values"):
        gi_star(wards.assign(count="many"), "count", w=w)
