"""The analysis API on the demo data, checked against esda, scipy and the planted truth."""
from __future__ import annotations

import numpy as np
import pytest
from babel.numbers import format_decimal
from scipy import stats

Q = "boundary=hcmc-2025&start=2025-01-01&end=2025-12-31"


def features(res):
    assert res.status_code == 200, res.get_json()
    return res.get_json()["features"]


def props(res, key="code"):
    return {f["properties"][key]: f["properties"] for f in features(res)}


@pytest.mark.reads_demo
def test_gistar_equals_esda_on_the_counts_of_the_areas_api(demo_client):
    import esda
    import geopandas as gpd

    from clustering.grid import ward_weights

    areas = gpd.GeoDataFrame.from_features(features(demo_client.get(f"/api/v1/areas?{Q}")), crs=4326)
    areas = areas.sort_values("code").set_index("code", drop=False)
    w = ward_weights(areas).to_W()
    w.transform = "B"
    ref = esda.G_Local(areas["count"].to_numpy(float), w, star=True, transform="B", permutations=999,
                       seed=12345)
    got = props(demo_client.get(f"/api/v1/gistar?{Q}"))
    np.testing.assert_allclose([got[c]["gi_z"] for c in areas["code"]], ref.Zs, atol=1e-6)
    hot = {c for c, p in got.items() if p["hotspot_code"].startswith("hot")}
    assert "26743" in hot  # Phường Bến Thành, the planted market spot
    assert got["26743"]["hotspot"].startswith("Hot Spot - ")
    # one label column, in the request's language, from the one class table
    assert got["26743"]["hotspot_label"].startswith("Điểm nóng (độ tin cậy ")
    assert "hotspot_vi" not in got["26743"]
    en = props(demo_client.get(f"/api/v1/gistar?{Q}&lang=en"))
    assert en["26743"]["hotspot_label"] == got["26743"]["hotspot"]


@pytest.mark.reads_demo
def test_compare_p_values_equal_scipy_binomtest(demo_client):
    now = props(demo_client.get(f"/api/v1/areas?{Q}"))
    base = props(demo_client.get("/api/v1/areas?boundary=hcmc-2025&start=2024-01-01&end=2024-12-31"))
    res = demo_client.get(f"/api/v1/compare?{Q}")
    got = props(res)
    meta = res.get_json()["meta"]
    assert meta["base_period"] == ["2024-01-01", "2024-12-31"]  # cùng kỳ by default
    for code in ("26833", "27457", "26743", "26911"):  # Long Bình, Tân Tạo, Bến Thành, Bình Quới
        k1, k2 = now[code]["count"], base[code]["count"]
        assert (got[code]["count"], got[code]["base_count"]) == (k1, k2)
        p = stats.binomtest(k1, k1 + k2, 365 / (365 + 366)).pvalue  # 2024 has 366 days
        assert got[code]["p_value"] == pytest.approx(p, rel=1e-9)
        assert got[code]["change_pct"] == pytest.approx(100 * (k1 - k2) / k2)
    # the planted emerging spot grew, the fading riverside spot fell
    assert got["26833"]["change_class"] == "significant_increase"
    assert got["26911"]["change_class"] == "significant_decrease"
    k1, k2 = got["26911"]["count"], got["26911"]["base_count"]
    pct = format_decimal(abs(100 * (k1 - k2) / k2), "0.0", locale="vi")
    assert got["26911"]["change_text"] == f"giảm {pct}%"
    assert got["26911"]["change_label"] == "Giảm rõ rệt"
    total_now = sum(p["count"] for p in now.values())
    assert meta["total"]["count"] == total_now


@pytest.mark.reads_demo
def test_emerging_finds_the_persistent_centre(demo_client):
    res = demo_client.get("/api/v1/emerging?boundary=hcmc-2025&start=2023-01-01&end=2025-12-31")
    got = props(res)
    assert len(res.get_json()["meta"]["bins"]) == 12
    assert got["26743"]["trend"] == "persistent_hot"
    assert len(got["26743"]["series"]) == 12


@pytest.mark.reads_demo
def test_dbscan_spot_straddles_a_ward_border_as_one_spot(demo_client, demo_truth):
    spots = features(demo_client.get(f"/api/v1/dbscan?{Q}&eps=150&min_samples=30"))
    assert spots
    go_vap = demo_truth.set_index("name").filter(like="Chợ Gò Vấp", axis=0).iloc[0]
    import shapely

    market = shapely.Point(go_vap["lon"], go_vap["lat"])
    holding = [s for s in spots if shapely.geometry.shape(s["geometry"]).contains(market)]
    assert len(holding) == 1
    touched = set(holding[0]["properties"]["ward_codes"].split(","))
    assert {"26876", "26890"} <= touched  # Hạnh Thông and An Nhơn: one spot across the border


@pytest.mark.reads_demo
def test_kde_contours_cover_the_market(demo_client):
    import shapely

    res = demo_client.get(f"/api/v1/kde?{Q}&bandwidth=400&cell=100")
    feats = features(res)
    levels = {f["properties"]["level"] for f in feats}
    assert levels == {"1%", "5%", "10%"}
    top = [shapely.geometry.shape(f["geometry"]) for f in feats if f["properties"]["level"] == "1%"]
    assert any(g.contains(shapely.Point(106.6981, 10.7725)) for g in top)  # Chợ Bến Thành
    assert res.get_json()["meta"]["bandwidth_m"] == 400


@pytest.mark.reads_demo
def test_complex_spots_put_the_planted_persistent_and_emerging_spots_on_top(demo_client, demo_truth):
    import shapely

    feats = features(demo_client.get(f"/api/v1/complex-areas?{Q}&unit=spot"))
    ranked = sorted(feats, key=lambda f: f["properties"]["rank"])
    planted = demo_truth[demo_truth["kind"].isin(["persistent", "emerging"])]
    top = [shapely.geometry.shape(f["geometry"]) for f in ranked[:len(planted)]]
    for spot in planted.itertuples():  # each planted centre lies in one of the top spots
        assert any(g.contains(shapely.Point(spot.lon, spot.lat)) for g in top), spot.name
    for spot in demo_truth[demo_truth["kind"] == "fading"].itertuples():  # gone by 2025
        assert not any(g.contains(shapely.Point(spot.lon, spot.lat)) for g in top), spot.name
    first = ranked[0]["properties"]
    assert 0 <= first["score"] <= 100 and first["reason"] and first["reasons"]
    emerging = [f["properties"] for f in ranked[:len(planted)] if f["properties"]["change_class"]
                == "significant_increase"]
    assert len(emerging) >= 2 and all("so với cùng kỳ" in p["reason"] for p in emerging)


@pytest.mark.reads_demo
def test_complex_wards_rank_the_persistent_centre_first(demo_client):
    feats = features(demo_client.get(f"/api/v1/complex-areas?{Q}&top=10"))
    ranked = sorted((f["properties"] for f in feats), key=lambda p: p["rank"])
    assert len(ranked) == 10 and [p["rank"] for p in ranked] == list(range(1, 11))
    assert ranked[0]["code"] == "26743"  # Phường Bến Thành
    assert ranked[0]["reason"].startswith("Gi* nóng")
    en = features(demo_client.get(f"/api/v1/complex-areas?{Q}&top=10&lang=en"))
    assert min(en, key=lambda f: f["properties"]["rank"])["properties"]["reason"].startswith("Gi* hot spot at ")
    assert all(a["score"] >= b["score"] for a, b in zip(ranked, ranked[1:]))


@pytest.mark.parametrize("query, message", [
    ("/api/v1/dbscan?" + Q + "&eps=-5", "`eps` was '-5' but must be above 0"),
    ("/api/v1/dbscan?" + Q + "&min_samples=abc", "`min_samples` was 'abc' but is expected to be a whole number"),
    ("/api/v1/kde?" + Q + "&bandwidth=0", "`bandwidth` was '0' but must be above 0"),
    ("/api/v1/kde?" + Q + "&cell=-1", "`cell` was '-1' but must be above 0"),
    ("/api/v1/kde?" + Q + "&kernel=box", "`kernel` was 'box' but is expected to be one of quartic, gaussian"),
    ("/api/v1/emerging?" + Q + "&bins=week", "`bins` was 'week' but is expected to be one of month, quarter"),
    ("/api/v1/emerging?boundary=hcmc-2025&start=2025-01-01&end=2025-06-30", "makes 2 quarter bins"),
    ("/api/v1/compare?" + Q + "&base_start=2025-06-01&base_end=2026-05-31", "overlap"),
    ("/api/v1/compare?" + Q + "&base_start=2024-01-01", "Give both `base_start` and `base_end`"),
    ("/api/v1/gistar?boundary=hcmc-2025&start=2030-01-01&end=2030-12-31", "No incidents in the chosen period"),
    ("/api/v1/gistar?" + Q + "&permutations=5", "`permutations` was '5' but must be at least 99"),
])
@pytest.mark.reads_demo
def test_bad_parameters_are_400_with_the_reason(demo_client, query, message):
    res = demo_client.get(query + "&lang=en")
    assert res.status_code == 400
    assert message in res.get_json()["error"]


@pytest.mark.parametrize("query, message", [
    ("/api/v1/emerging?boundary=hcmc-2025&start=2025-01-01&end=2025-06-30",
     "Khoảng 01/01/2025 – 30/06/2025 chỉ gồm 2 quý; cần ít nhất 4 quý để tìm điểm nóng mới nổi"),
    ("/api/v1/compare?" + Q + "&base_start=2024-01-01", "Hãy nhập cả `base_start` và `base_end`"),
    ("/api/v1/gistar?boundary=hcmc-2025&start=2030-01-01&end=2030-12-31",
     "Không có vụ việc nào trong khoảng thời gian đã chọn"),
])
@pytest.mark.reads_demo
def test_bad_parameters_are_explained_in_vietnamese_by_default(demo_client, query, message):
    res = demo_client.get(query)
    assert res.status_code == 400
    assert res.get_json()["error"].startswith(message)


def test_results_are_cached_until_the_data_change(demo_app, tmp_path):
    from geo import analysis
    from geo.ingest.importer import import_file
    from tests.conftest import signed_in
    from web import engine

    client = signed_in(demo_app)
    client.get(f"/api/v1/gistar?{Q}")
    with demo_app.app_context():
        eng = engine()
        before = analysis.data_version(eng)
        hits = len(analysis._cache)
        client.get(f"/api/v1/gistar?{Q}")
        assert len(analysis._cache) == hits  # served from the cache
        csv = tmp_path / "one.csv"
        csv.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\nX1,01/06/2025,Trộm cắp tài sản,"
                       "106.6981,10.7725\n", encoding="utf-8")
        import_file(eng, csv, source="extra")
        assert analysis.data_version(eng) != before
    got = props(client.get(f"/api/v1/areas?{Q}"))["26743"]["count"]
    after = props(client.get(f"/api/v1/gistar?{Q}"))["26743"]["count"]
    assert after == got


@pytest.mark.reads_demo
def test_ward_panel_figures_equal_the_areas_api(demo_client):
    areas = props(demo_client.get(f"/api/v1/areas?{Q}"))
    cmp = props(demo_client.get(f"/api/v1/compare?{Q}"))
    res = demo_client.get(f"/api/v1/ward/26833?{Q}")
    assert res.status_code == 200
    d = res.get_json()
    assert d["name"] == "Phường Long Bình" and d["count"] == areas["26833"]["count"]
    assert len(d["months"]) == 12 and sum(m["count"] for m in d["months"]) == d["count"]
    assert d["months"][0]["label"] == "Tháng 1/2025"
    k1, k2 = d["compare"]["count"], d["compare"]["base_count"]
    assert d["compare"]["change_text"] == cmp["26833"]["change_text"]
    assert d["compare"]["change_text"].startswith("tăng " if k1 > k2 else "giảm ")
    assert sum(d["categories"].values()) == d["count"]
    assert d["compare"]["p_value"] == pytest.approx(cmp["26833"]["p_value"])
    assert 0 <= d["clearance_rate"] <= 1
    assert demo_client.get(f"/api/v1/ward/99999?{Q}").status_code == 400
