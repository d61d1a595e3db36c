import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from libpysal.graph import Graph
from libpysal.weights import Queen
from numpy.testing import assert_allclose

from clustering.grid import count_points, make_grid, ward_weights
from clustering.projection import to_metric
from geo.errors import InputError
from tests.conftest import SHARED_BOUNDARIES as BOUNDARIES  # noqa: E402


def _wards(name):
    path = BOUNDARIES / name
    if not path.exists():
        pytest.skip(f"{path} not available; set BOUNDARY_SOURCE_DIR")
    return gpd.read_file(path)


@pytest.fixture(scope="module")
def wards_2025():
    return _wards("hcmc_wards_2025.geojson")


@pytest.fixture(scope="module")
def wards_2019():
    return _wards("hcmc_wards_2019.geojson")


def _pairs(graph):
    adj = graph.adjacency.reset_index()
    adj = adj[adj["weight"] > 0]
    return set(zip(adj["focal"], adj["neighbor"]))


# --------------------------------------------------------------------------- weights


def test_2025_wards_have_one_island_con_dao(wards_2025):
    kept = ward_weights(wards_2025, islands="keep")
    assert wards_2025.loc[kept.isolates, "name"].tolist() == ["Đặc khu Côn Đảo"]
    assert kept.n_components == 2


def test_island_joins_nearest_centroid_both_ways(wards_2025):
    graph = ward_weights(wards_2025)
    assert len(graph.isolates) == 0
    assert graph.n_components == 1
    con_dao = wards_2025.index[wards_2025["name"] == "Đặc khu Côn Đảo"][0]
    (neighbour,) = graph.neighbors[con_dao]
    centroids = to_metric(wards_2025).centroid
    dist = centroids.distance(centroids[con_dao]).drop(con_dao)
    assert neighbour == dist.idxmin()
    assert wards_2025.loc[neighbour, "name"] == "Phường Vũng Tàu"
    assert con_dao in graph.neighbors[neighbour]
    assert graph.asymmetry().empty


def test_ids_and_order_follow_the_frame(wards_2025):
    wards = wards_2025.set_index("code")
    graph = ward_weights(wards)
    assert graph.unique_ids.tolist() == wards.index.tolist()


def test_snapping_keeps_every_vertex_neighbour_and_adds_only_near_ones(wards_2025):
    metric = to_metric(wards_2025)
    vertex = Graph.build_contiguity(metric, rook=False)
    snapped = ward_weights(wards_2025, islands="keep")
    assert _pairs(vertex) <= _pairs(snapped)
    extra = _pairs(snapped) - _pairs(vertex)
    assert len(extra) == 2          # one pair of wards about a metre apart
    for i, j in extra:
        assert metric.geometry[i].distance(metric.geometry[j]) <= 2.0


def test_2019_wards_gaps_are_bridged(wards_2019):
    # Vertex-based queen contiguity misses neighbours whose shared boundaries have no
    # common vertices; it even leaves one ward without neighbours.
    with pytest.warns(UserWarning):
        vertex = Queen.from_dataframe(wards_2019, use_index=True)
    assert wards_2019.loc[vertex.islands, "name"].tolist() == ["Phường Linh Xuân"]
    snapped = ward_weights(wards_2019, islands="keep")
    assert len(snapped.isolates) == 0
    assert snapped.n_edges > vertex.s0 + 200
    exact = ward_weights(wards_2019, snap_m=0, islands="keep")
    assert len(exact.isolates) == 0
    assert _pairs(exact) <= _pairs(snapped)


def test_islands_raise_names_them(wards_2025):
    with pytest.raises(InputError, match=r"1 area\(s\) have no neighbour: Đặc khu Côn Đảo"):
        ward_weights(wards_2025, islands="raise")


def test_distance_band_matches_libpysal(wards_2025):
    graph = ward_weights(wards_2025, kind="distance", threshold_m=5_000, islands="keep")
    expected = Graph.build_distance_band(to_metric(wards_2025).centroid, 5_000)
    assert _pairs(graph) == _pairs(expected)
    assert len(graph.isolates) > 0
    assert len(ward_weights(wards_2025, kind="distance", threshold_m=5_000).isolates) == 0


def test_distance_band_needs_threshold(wards_2025):
    with pytest.raises(InputError, match=r"`threshold_m` is required .* every area a neighbour is [\d,]+ m"):
        ward_weights(wards_2025, kind="distance")


def test_weights_errors(wards_2025):
    with pytest.raises(InputError, match=r"`kind` was 'rook' but must be one of \('queen', 'distance'\)"):
        ward_weights(wards_2025, kind="rook")
    with pytest.raises(InputError, match=r"has no CRS; call `.set_crs"):
        ward_weights(wards_2025.set_crs(None, allow_override=True))
    doubled = wards_2025.iloc[[0, 1, 2]].set_axis([0, 0, 1])
    with pytest.raises(InputError, match="duplicate index labels"):
        ward_weights(doubled)
    with pytest.raises(InputError, match="`snap_m` was -1"):
        ward_weights(wards_2025, snap_m=-1)


# --------------------------------------------------------------------------- grids


def test_square_grid_exact():
    grid = make_grid((0, 0, 1000, 500), cell_m=250, shape="square", crs="EPSG:32648")
    assert len(grid) == 8
    assert grid.crs.to_epsg() == 32648
    assert_allclose(grid.area, 62_500)
    assert grid.union_all().equals(shapely.box(0, 0, 1000, 500))
    assert set(grid["cell_id"]) == {f"c{c}_r{r}" for c in range(4) for r in range(2)}


def test_hexagon_geometry_and_neighbours():
    grid = make_grid((0, 0, 2000, 2000), cell_m=200, shape="hexagon", crs="EPSG:32648")
    assert_allclose(grid.area, math.sqrt(3) / 2 * 200**2)
    assert_allclose(grid.attrs["cell_area_m2"], math.sqrt(3) / 2 * 200**2)
    # cells tile the plane: no overlaps
    assert_allclose(grid.union_all().area, grid.area.sum(), rtol=1e-9)
    graph = ward_weights(grid)
    assert graph.cardinalities.max() == 6
    centre = grid.index[(grid["col"] == 5) & (grid["row"] == 5)][0]
    c = grid.centroid
    assert_allclose(c[list(graph.neighbors[centre])].distance(c[centre]), 200)


def test_grid_ids_are_stable_across_extents():
    a = make_grid((0, 0, 1000, 1000), cell_m=100, shape="hexagon", crs="EPSG:32648")
    b = make_grid((300, 300, 700, 700), cell_m=100, shape="hexagon", crs="EPSG:32648")
    common = a.set_index("cell_id").loc[b["cell_id"]]
    assert all(g1.equals_exact(g2, 1e-6) for g1, g2 in zip(common.geometry, b.geometry))


def test_clip_to_wards_keeps_overlapping_whole_cells(wards_2025):
    grid = make_grid(wards_2025, cell_m=2_000, shape="hexagon", clip=wards_2025)
    assert grid.crs.to_epsg() == 32648
    study = shapely.union_all(to_metric(wards_2025).geometry.values)
    assert shapely.intersects(grid.geometry.values, study).all()
    assert_allclose(grid.area, math.sqrt(3) / 2 * 2_000**2)
    con_dao = to_metric(wards_2025[wards_2025["name"] == "Đặc khu Côn Đảo"]).union_all()
    assert grid.intersects(con_dao).sum() >= 10            # the island gets its own cells
    assert grid.area.sum() > study.area
    assert len(grid) < 3_000


def test_too_many_cells_error(wards_2025):
    with pytest.raises(InputError, match=r"cell_m=50 m over this area would have at least [\d,]+ "
                                         r"cells, more than max_cells=50,000\. Use cell_m=[\d,]+ m or more"):
        make_grid(wards_2025, cell_m=50, clip=wards_2025)


def test_suggested_cell_size_fits(wards_2025):
    with pytest.raises(InputError) as err:
        make_grid(wards_2025, cell_m=200, shape="square", clip=wards_2025)
    suggested = int(str(err.value).split("Use cell_m=")[1].split(" m")[0].replace(",", ""))
    grid = make_grid(wards_2025, cell_m=suggested, shape="square", clip=wards_2025)
    assert len(grid) <= 50_000


def test_default_cell_from_nearest_neighbour_distance():
    xs, ys = np.meshgrid(np.arange(20) * 100.0, np.arange(20) * 100.0)
    pts = list(zip(xs.ravel(), ys.ravel())) + [(30_000.0, 0.0), (0.0, 0.0)]   # outlier, duplicate
    points = gpd.GeoSeries(shapely.points(pts), crs="EPSG:32648")
    grid = make_grid(points, shape="square")
    assert grid.attrs["cell_m"] == 200.0
    assert grid.attrs["cell_rule"] == "nearest_neighbour"


def test_default_cell_respects_max_cells():
    xs, ys = np.meshgrid(np.arange(20) * 100.0, np.arange(20) * 100.0)
    points = gpd.GeoSeries(shapely.points(xs.ravel(), ys.ravel()), crs="EPSG:32648")
    grid = make_grid(points, shape="hexagon", max_cells=30)
    assert grid.attrs["cell_rule"] == "max_cells"
    assert len(grid) <= 30


def test_default_cell_without_points():
    grid = make_grid((0, 0, 10_000, 10_000), shape="square", crs="EPSG:32648")
    assert grid.attrs["cell_m"] == 200.0
    assert grid.attrs["cell_rule"] == "area"
    assert len(grid) == 2_500


def test_lonlat_box_is_projected():
    grid = make_grid((106.6, 10.7, 106.8, 10.9), cell_m=1_000, shape="square", crs="EPSG:4326")
    assert grid.crs.to_epsg() == 32648
    assert 400 < len(grid) < 600


def test_grid_errors():
    with pytest.raises(InputError, match=r"`shape` was 'triangle' but must be one of "
                                         r"\('hexagon', 'square'\)"):
        make_grid((0, 0, 1, 1), shape="triangle", crs="EPSG:32648")
    with pytest.raises(InputError, match=r"is a bounding box; pass its CRS too"):
        make_grid((0, 0, 1000, 1000), cell_m=10)
    with pytest.raises(InputError, match=r"`cell_m` was -5 but must be None or a number of metres above 0"):
        make_grid((0, 0, 1000, 1000), cell_m=-5, crs="EPSG:32648")
    with pytest.raises(InputError, match=r"has no area"):
        make_grid((0, 0, 0, 1000), cell_m=10, crs="EPSG:32648")


# --------------------------------------------------------------------------- counts


def test_count_points_hand_worked():
    grid = make_grid((0, 0, 200, 100), cell_m=100, shape="square", crs="EPSG:32648")
    pts = gpd.GeoDataFrame(
        {"victims": [1, 2, 3, 4, 5]},
        geometry=shapely.points([(10, 10), (20, 30), (100, 50), (150, 50), (500, 500)]),
        crs="EPSG:32648")
    out = count_points(grid, pts, weights="victims")
    # (100, 50) lies on the shared edge: it counts once, in the first cell
    assert out["count"].tolist() == [3, 1]
    assert out["weight"].tolist() == [6.0, 4.0]
    assert out.attrs["points_outside"] == 1


def test_count_points_matches_sjoin(wards_2025):
    grid = make_grid(wards_2025, cell_m=5_000, shape="hexagon", clip=wards_2025)
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = grid.total_bounds
    pts = gpd.GeoSeries(shapely.points(rng.uniform(minx, maxx, 5_000), rng.uniform(miny, maxy, 5_000)),
                        crs=grid.crs).to_crs("EPSG:4326")
    out = count_points(grid, pts)
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=pts.to_crs(grid.crs)), grid, predicate="within")
    expected = joined.groupby("index_right").size().reindex(grid.index, fill_value=0)
    assert out["count"].tolist() == expected.tolist()
    assert out.attrs["points_outside"] == 5_000 - out["count"].sum()


def test_count_points_errors():
    grid = make_grid((0, 0, 200, 100), cell_m=100, shape="square", crs="EPSG:32648")
    lines = gpd.GeoSeries([shapely.LineString([(0, 0), (1, 1)])], crs="EPSG:32648")
    with pytest.raises(InputError, match=r"`points` must hold points"):
        count_points(grid, lines)
    pts = gpd.GeoDataFrame({"w": [1.0, None]}, geometry=shapely.points([(1, 1), (2, 2)]), crs="EPSG:32648")
    with pytest.raises(InputError, match=r"`weights` has missing or non-numeric values"):
        count_points(grid, pts, weights="w")
    with pytest.raises(InputError, match=r"`weights` names column 'x'"):
        count_points(grid, pts, weights="x")
    with pytest.raises(InputError, match=r"`points` has no CRS"):
        count_points(grid, gpd.GeoSeries(shapely.points([(1, 1)])))
