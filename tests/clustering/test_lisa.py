import warnings

import esda
import geopandas as gpd
import numpy as np
import pytest
from esda.moran import _moran_local_crand
from numpy.testing import assert_allclose, assert_array_equal

from clustering.getis_ord import binary_neighbours, fdr_threshold, permutation_draws, pseudo_p_value
from clustering.grid import make_grid, ward_weights
from clustering.lisa import QUADRANTS, LocalMoran, local_moran
from clustering.projection import to_metric
from geo.errors import InputError
from geo.render import palette
from tests.clustering.test_getis_ord import _mc_bound, esda_on_draws
from tests.conftest import SHARED_BOUNDARIES as BOUNDARIES  # noqa: E402


@pytest.fixture(scope="module")
def wards():
    """The 168 HCMC units of 2025 with a synthetic count: a central cluster plus noise."""
    path = BOUNDARIES / "hcmc_wards_2025.geojson"
    if not path.exists():
        pytest.skip(f"{path} not available; set BOUNDARY_SOURCE_DIR")
    wards = gpd.read_file(path)
    centroids = to_metric(wards).centroid
    centre = centroids[wards["name"].str.contains("Bến Thành")].iloc[0]
    km = centroids.distance(centre).to_numpy() / 1000
    rng = np.random.default_rng(1938)
    wards["count"] = rng.poisson(60 * np.exp(-km / 10) + 5)
    return wards


@pytest.fixture(scope="module")
def w(wards):
    return ward_weights(wards)


def _esda_moran(y, w, permutations=999, seed=12345):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return esda.Moran_Local(y, w, transformation="r", permutations=permutations, seed=seed)


def test_values_equal_esda_on_real_wards(wards, w):
    out = local_moran(wards, "count", w=w, permutations=999, seed=11)
    ref = _esda_moran(wards["count"].to_numpy(), w, permutations=0)
    assert_allclose(out["lisa_i"], ref.Is, rtol=0, atol=1e-10)
    assert_allclose(out["lisa_z"], (ref.Is - ref.EI) / np.sqrt(ref.VI), rtol=0, atol=1e-10)
    assert_array_equal(out["lisa_quadrant"], ref.q)
    lm = LocalMoran(wards["count"], w, permutations=9, seed=11)
    assert_allclose(lm.EI, ref.EI, rtol=1e-12)
    assert_allclose(lm.VI, ref.VI, rtol=1e-12)
    assert (out["lisa_code"] == "HH").any()


def _esda_moran_on_draws(y, w, observed, draws):
    z = (y - y.mean()) / y.std()
    neighbours = binary_neighbours(w)
    k = np.diff(neighbours.indptr)
    return esda_on_draws(_moran_local_crand, z, observed, neighbours, np.repeat(1.0 / k, k),
                         np.zeros(len(y)), draws, (len(y) - 1) / (z * z).sum())


def test_permutations_equal_esdas_own_code_on_the_same_draws(wards, w):
    y = wards["count"].to_numpy(dtype=float)
    lm = LocalMoran(y, w, permutations=999, seed=11)
    draws = permutation_draws(len(y), w.cardinalities.max(), 999, 11)
    p_sim, sims = _esda_moran_on_draws(y, w, lm.Is, draws)
    assert_allclose(lm.z_sim, (lm.Is - sims.mean(axis=1)) / sims.std(axis=1), rtol=1e-9)
    # ties counted in both tails, from esda's simulations
    ge = (sims >= lm.Is[:, None] - 1e-12 - 1e-9 * np.abs(lm.Is[:, None])).sum(axis=1)
    le = (sims <= lm.Is[:, None] + 1e-12 + 1e-9 * np.abs(lm.Is[:, None])).sum(axis=1)
    assert_array_equal(lm.p, (np.minimum(ge, le) + 1) / 1000)
    # esda's own p_sim where no simulated value ties with the observed one (at a tie its
    # rounding decides the side; ours compares the neighbours' sums, where counts tie exactly)
    no_ties = ~np.isclose(sims, lm.Is[:, None], rtol=1e-9, atol=1e-12).any(axis=1)
    assert no_ties.sum() > 10
    assert_allclose(lm.p_sim[no_ties], p_sim[no_ties], rtol=0, atol=1e-7)
    assert_array_equal(lm.p[no_ties], lm.p_sim[no_ties])


def test_p_values_agree_with_esdas_permutations_within_monte_carlo_error(wards, w):
    y = wards["count"].to_numpy(dtype=float)
    lm = LocalMoran(y, w, permutations=9999, seed=11)
    ref = _esda_moran(y, w, permutations=9999, seed=11)
    theirs = pseudo_p_value(ref.Is, ref.rlisas)
    assert (np.abs(lm.p - theirs) <= _mc_bound(theirs, 9999)).all()
    assert abs(np.mean(lm.p - theirs)) < 0.005
    assert_allclose(lm.z_sim, ref.z_sim, rtol=0.05, atol=0.05)


def test_fdr_classification(wards, w):
    out = local_moran(wards, "count", w=w, seed=11)
    threshold = fdr_threshold(out["lisa_p"], 0.05)
    assert out.attrs["local_moran"]["threshold"] == threshold
    significant = out["lisa_p"] <= threshold
    assert_array_equal(out["lisa_code"] != "not_significant", significant)
    codes = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
    assert_array_equal(out.loc[significant, "lisa_code"], out.loc[significant, "lisa_quadrant"].map(codes))
    assert_array_equal(out["lisa_q"] <= 0.05, significant)
    raw = local_moran(wards, "count", w=w, seed=11, fdr=False)
    assert_array_equal(raw["lisa_code"] != "not_significant", raw["lisa_p"] <= 0.05)
    assert (raw["lisa_code"] != "not_significant").sum() >= significant.sum()


def test_all_four_types_on_a_constructed_grid():
    grid = make_grid((0, 0, 1200, 1200), cell_m=100, shape="square", crs="EPSG:32648")
    high_half = grid["col"] < 6
    grid["count"] = np.where(high_half, 20, 0)
    spike = (grid["col"] == 9) & (grid["row"] == 6)     # a high cell among low ones
    hole = (grid["col"] == 2) & (grid["row"] == 6)      # a low cell among high ones
    grid.loc[spike, "count"] = 20
    grid.loc[hole, "count"] = 0
    out = local_moran(grid, "count", seed=4)
    assert out.loc[spike, "lisa_code"].item() == "HL"
    assert out.loc[spike, "lisa_label"].item() == "High-Low Outlier"
    assert out.loc[hole, "lisa_code"].item() == "LH"
    assert out.loc[hole, "lisa_label"].item() == "Low-High Outlier"
    interior_high = (grid["col"] == 1) & (grid["row"] == 2)
    interior_low = (grid["col"] == 10) & (grid["row"] == 2)
    high = out.loc[interior_high, ["lisa_code", "lisa_label"]].squeeze().tolist()
    assert high == ["HH", "High-High Cluster"]
    low = out.loc[interior_low, "lisa_code"].item()
    assert (low, palette.label(low, locale="vi")) == ("LL", "Cụm thấp – thấp")


def test_labels_table():
    table = QUADRANTS.set_index("code")
    assert table.loc[["HH", "HL", "LH", "LL", "not_significant"], "label"].tolist() == [
        "High-High Cluster", "High-Low Outlier", "Low-High Outlier", "Low-Low Cluster", "Not Significant"]
    assert [palette.label(c, locale="en") for c in QUADRANTS["code"]] == QUADRANTS["label"].tolist()
    assert table.loc["HH", "quadrant"] == 1 and table.loc["HL", "quadrant"] == 4


def test_class_matches_function(wards, w):
    lm = LocalMoran(wards["count"], w, permutations=99, seed=3)
    out = local_moran(wards, "count", w=w, permutations=99, seed=3)
    assert_allclose(lm.p, out["lisa_p"])
    assert_array_equal(lm.codes, out["lisa_code"])


def test_errors(wards, w):
    with pytest.raises(InputError, match=r"`alpha` was 1.5 but must be a number between 0 and 1"):
        local_moran(wards, "count", w=w, alpha=1.5)
    with pytest.raises(InputError, match=r"`permutations` was 0 but must be an integer above 0"):
        local_moran(wards, "count", w=w, permutations=0)
    with pytest.raises(InputError, match=r"`column` was 'n' but `values_gdf` has no such column"):
        local_moran(wards, "n", w=w)
    with pytest.raises(InputError, match=r"`w` has 168 ids but `values_gdf` has 20 rows"):
        local_moran(wards.iloc[:20], "count", w=w)
