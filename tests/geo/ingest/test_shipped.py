"""Shipped boundary sets: rebuilt from an upstream-shaped mirror over real HTTP, bundles, choosing sets.

The mirror is made from the prepared files in ../shared (one pretty-printed FeatureCollection per
ward, laid out as in the upstream repository, plus its unit list); its files are not the real
upstream bytes, so the tests pass the mirror's own manifest (``--manifest``). The real upstream is
checked by ``bench/upstream.py check``.
"""
from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import text

from geo.errors import InputError
from geo.ingest import shipped
from geo.ingest.parsing import sha256_of
from geo.store.accounts import create_user
from geo.store.models import make_engine, upgrade
from geo.store.queries import load_areas
from server import create_app
from tests.conftest import PASSWORD, SHARED_BOUNDARIES, signed_in, table_counts

REPO = "thanglequoc/vietnamese-provinces-database"
COMMIT = "cd58063299585146ded3981f2272946ef19ced54"
FOLDERS = {"79": "79_ho_chi_minh", "31": "31_hai_phong"}
UNIT_LIST = "json/full_json_generated_data_vn_units_2026-07-25__20_49_07.json"


def entry(name: str) -> dict:
    return next(s for s in shipped.registry()["sets"] if s["name"] == name)


def upstream_rings(coords):
    """Rings as upstream writes them: clockwise, one vertex further on than the snap-rounded file
    (GEOS snap-rounding starts each ring at the vertex after the original first one)."""
    return [[[ring[1], *ring[::-1][:-1]] for ring in poly] for poly in coords]


def make_mirror(root: Path, sets=("hcmc-2025", "haiphong-2025")) -> Path:
    """Upstream layout under root/<repo>/<commit>/; returns the manifest of the files written."""
    base = root / REPO / COMMIT
    provinces = {}
    for name in sets:
        grid = entry(name)["upstream"]["params"]["precision"] == "grid"
        for line in (SHARED_BOUNDARIES / entry(name)["file"]).read_text(encoding="utf-8").split("\n")[1:-2]:
            f = json.loads(line.rstrip(","))
            if grid:
                f["geometry"]["coordinates"] = upstream_rings(f["geometry"]["coordinates"])
            p = f["properties"]
            prov = provinces.setdefault(p["province_code"], {"Code": p["province_code"], "FullName": p["province"],
                                                             "Wards": []})
            prov["Wards"].append({"Code": p["code"], "Name": p["short_name"], "NameEn": p["short_name_en"],
                                  "FullName": p["name"], "FullNameEn": p["name_en"],
                                  "ProvinceCode": p["province_code"], "AdministrativeUnitShortName": p["level"],
                                  "AdministrativeUnitShortNameEn": p["level_en"]})
            xy = [c for poly in f["geometry"]["coordinates"] for ring in poly for c in ring]
            bbox = [min(c[0] for c in xy), min(c[1] for c in xy), max(c[0] for c in xy), max(c[1] for c in xy)]
            ward = {"type": "FeatureCollection", "bbox": bbox, "features": [{
                "type": "Feature", "id": p["code"], "bbox": bbox, "geometry": f["geometry"],
                "properties": {"unit_name": p["short_name"], "unit_code": p["code"], "unit_code_name": "x",
                               "gis_server_id": "x", "area_km2": 1.0}}]}
            path = base / "json" / "geojson" / FOLDERS[p["province_code"]] / "wards" / f"{p['code']}_x.geojson"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(ward, indent=2, ensure_ascii=False), encoding="utf-8")
    (base / UNIT_LIST).write_text(json.dumps(list(provinces.values()), indent=1, ensure_ascii=False), encoding="utf-8")
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"repo": REPO, "commit": COMMIT, "files": {
        str(p.relative_to(base)): sha256_of(p) for p in sorted(base.rglob("*")) if p.is_file()}}), encoding="utf-8")
    return manifest


class Counting(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):
        Counting.requests.append(self.path)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    manifest = make_mirror(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Counting, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", manifest, root
    server.shutdown()
    server.server_close()


def make_app(tmp_path: Path, **config):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": url,
                       "BOUNDARY_SOURCE_DIR": str(tmp_path / "no-prepared-files"),
                       "BOUNDARY_CACHE_DIR": str(tmp_path / "cache"), **config})


def test_rebuilds_from_the_mirror_checks_the_hash_and_loads(mirror, tmp_path):
    url, manifest, _root = mirror
    app = make_app(tmp_path, BOUNDARY_MIRROR_URL=url, BOUNDARY_SETS="hcmc-2025,haiphong-2025")
    Counting.requests.clear()
    res = app.test_cli_runner().invoke(args=["load-shipped-boundaries", "--manifest", str(manifest)])
    assert res.exit_code == 0, res.output
    assert "Đã nạp: hcmc-2025, haiphong-2025" in res.output
    assert len(Counting.requests) == 168 + 114 + 1  # every ward file and the unit list, once
    for name in ("hcmc-2025", "haiphong-2025"):
        rebuilt = tmp_path / "cache" / entry(name)["file"]
        assert sha256_of(rebuilt) == entry(name)["sha256"]
    eng = make_engine(app.config["DATABASE_URL"])
    areas = load_areas(eng, "haiphong-2025")
    ref = gpd.read_file(SHARED_BOUNDARIES / "haiphong_wards_2025.geojson").sort_values("code")
    assert len(areas) == 114 and list(areas["code"]) == list(ref["code"])
    assert list(areas["name"]) == list(ref["name"]) and set(areas["parent_name"]) == {"Thành phố Hải Phòng"}
    assert len(load_areas(eng, "hcmc-2025")) == 168
    assert app.config["DEFAULT_BOUNDARY"] == "hcmc-2025"

    # a second start downloads nothing; a fresh store takes the kept files, still without the network
    Counting.requests.clear()
    res = app.test_cli_runner().invoke(args=["load-shipped-boundaries", "--manifest", str(manifest)])
    assert res.exit_code == 0 and "Các bộ ranh giới đã được nạp từ trước." in res.output
    (tmp_path / "store.db").unlink()
    app2 = make_app(tmp_path, BOUNDARY_MIRROR_URL="http://127.0.0.1:9", BOUNDARY_SETS="haiphong-2025")
    res = app2.test_cli_runner().invoke(args=["load-shipped-boundaries"])
    assert res.exit_code == 0, res.output
    assert Counting.requests == []
    assert app2.config["DEFAULT_BOUNDARY"] == "haiphong-2025"


def test_a_tampered_mirror_file_is_refused_and_nothing_is_loaded(mirror, tmp_path):
    url, manifest, root = mirror
    ward = next((root / REPO / COMMIT / "json/geojson/31_hai_phong/wards").glob("10507_*.geojson"))
    original = ward.read_bytes()
    ward.write_bytes(original.replace(b"Feature\"", b"Feature\" ", 1))
    try:
        app = make_app(tmp_path, BOUNDARY_MIRROR_URL=url, BOUNDARY_SETS="haiphong-2025")
        before = table_counts(make_engine(app.config["DATABASE_URL"]))
        res = app.test_cli_runner().invoke(args=["load-shipped-boundaries", "--manifest", str(manifest)])
    finally:
        ward.write_bytes(original)
    assert res.exit_code == 1
    assert f"{url}/{REPO}/{COMMIT}/json/geojson/31_hai_phong/wards/10507_x.geojson: sha256 của tệp tải về khác" \
           in res.output
    assert "flask --app server load-boundaries-bundle FILE.zip" in res.output
    assert table_counts(make_engine(app.config["DATABASE_URL"])) == before
    assert not (tmp_path / "cache" / "haiphong_wards_2025.geojson").exists()


def test_offline_says_the_two_ways_that_work(tmp_path):
    app = make_app(tmp_path, BOUNDARY_MIRROR_URL="http://127.0.0.1:9", BOUNDARY_SETS="hue-2025")
    res = app.test_cli_runner().invoke(args=["load-shipped-boundaries"])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "Không tải được http://127.0.0.1:9/thanglequoc/vietnamese-provinces-database/" in out
    assert "đặt BOUNDARY_SOURCE_DIR là thư mục chứa các tệp đã chuẩn bị" in out
    assert "flask --app server load-boundaries-bundle FILE.zip" in out
    assert table_counts(make_engine(app.config["DATABASE_URL"]))["boundary_version"] == 0


def test_a_bundle_only_set_with_a_wrong_file_names_it_and_the_ways_offline(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "hcmc_wards_2019.geojson").write_bytes(b"{}")
    with pytest.raises(InputError) as err:
        shipped.prepare(["hcmc-2019"], source_dir=src, cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "hcmc_wards_2019.geojson: sha256 là 44136fa" in msg and "cần là 175fbb2d" in msg
    assert "chỉ có dưới dạng tệp đã chuẩn bị sẵn" in msg and "load-boundaries-bundle FILE.zip" in msg


def test_export_and_load_a_bundle(tmp_path):
    a = make_app(tmp_path / "a", BOUNDARY_SOURCE_DIR=str(SHARED_BOUNDARIES))
    zip_path = tmp_path / "ranh_gioi.zip"
    res = a.test_cli_runner().invoke(args=["export-boundaries", str(zip_path), "--sets", "hcmc-2025,hcmc-2019"])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert sorted(z.namelist()) == ["hcmc_wards_2019.geojson", "hcmc_wards_2019_to_2025.csv",
                                        "hcmc_wards_2025.geojson", "manifest.json"]
        for f in manifest["files"]:
            assert hashlib.sha256(z.read(f["file"])).hexdigest() == f["sha256"]
    b = make_app(tmp_path / "b", BOUNDARY_MIRROR_URL="http://127.0.0.1:9")
    res = b.test_cli_runner().invoke(args=["load-boundaries-bundle", str(zip_path)])
    assert res.exit_code == 0, res.output
    eng = make_engine(b.config["DATABASE_URL"])
    assert len(load_areas(eng, "hcmc-2025")) == 168 and len(load_areas(eng, "hcmc-2019")) == 322
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM crosswalk")).scalar() == 558
    # the kept files serve a later load-shipped-boundaries without the network
    assert sha256_of(tmp_path / "b" / "cache" / "hcmc_wards_2025.geojson") == entry("hcmc-2025")["sha256"]


def test_a_changed_bundle_is_refused_before_anything_is_loaded(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("hcmc_wards_2025.geojson", (SHARED_BOUNDARIES / "hcmc_wards_2025.geojson").read_bytes()[:-2])
    app = make_app(tmp_path)
    res = app.test_cli_runner().invoke(args=["load-boundaries-bundle", str(bad)])
    assert res.exit_code == 1
    assert "bad.zip: hcmc_wards_2025.geojson có sha256" in res.output and "cần là 4c73338d" in res.output
    assert table_counts(make_engine(app.config["DATABASE_URL"]))["boundary_version"] == 0
    assert not (tmp_path / "cache" / "hcmc_wards_2025.geojson").exists()

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("../hcmc_wards_2025.geojson", "x")
    res = app.test_cli_runner().invoke(args=["load-boundaries-bundle", str(evil)])
    assert res.exit_code == 1 and "evil.zip" in res.output and "../hcmc_wards_2025.geojson" in res.output


def test_boundary_sets_are_checked_and_all_means_every_set():
    assert shipped.set_names("all") == [s["name"] for s in shipped.registry()["sets"]]
    assert shipped.set_names(" haiphong-2025 , hue-2025") == ["haiphong-2025", "hue-2025"]
    with pytest.raises(InputError, match="BOUNDARY_SETS: không có bộ ranh giới hai-phong; hãy chọn trong hcmc-2025"):
        shipped.set_names("hai-phong")


def test_registry_lists_the_national_sets_with_their_upstream_recipes():
    sets = {s["name"]: s for s in shipped.registry()["sets"]}
    assert {n: sets[n]["features"] for n in ("haiphong-2025", "hue-2025", "vietnam-communes-2025",
                                             "vietnam-provinces-2025")} == {
        "haiphong-2025": 114, "hue-2025": 40, "vietnam-communes-2025": 3321, "vietnam-provinces-2025": 34}
    assert "upstream" not in sets["hcmc-2019"]  # bundle only
    files = shipped.upstream_manifest(REPO, COMMIT)
    assert len(files) == 3321 + 1 and UNIT_LIST in files


def test_an_empty_store_says_the_online_and_the_offline_command(tmp_path):
    app = make_app(tmp_path, BOUNDARY_SETS="haiphong-2025")
    create_user(make_engine(app.config["DATABASE_URL"]), "analyst", "analyst", password=PASSWORD)
    client = signed_in(app)
    html = client.get("/").get_data(as_text=True)
    row = html[html.index('id="no-boundaries"'):html.index("</tr>", html.index('id="no-boundaries"'))]
    assert "BOUNDARY_SETS (haiphong-2025)" in row
    assert "<code>flask --app server load-shipped-boundaries</code>" in row
    assert "<code>flask --app server load-boundaries-bundle FILE.zip</code>" in row
    assert "make run" not in row
    res = client.get("/api/v1/areas?start=2025-01-01&end=2025-12-31")
    assert res.status_code == 400
    msg = res.get_json()["error"]
    assert msg.startswith("Không có phiên bản ranh giới 'haiphong-2025' trong kho dữ liệu.")
    assert "load-shipped-boundaries --sets TÊN" in msg and "load-boundaries-bundle FILE.zip" in msg


def test_demo_data_fills_the_loaded_set_when_it_is_not_hồ_chí_minh_city(tmp_path):
    app = make_app(tmp_path, BOUNDARY_SOURCE_DIR=str(SHARED_BOUNDARIES), BOUNDARY_SETS="haiphong-2025",
                   DEMO_INCIDENTS=3000)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["load-shipped-boundaries"]).exit_code == 0
    res = runner.invoke(args=["demo-data"])
    assert res.exit_code == 0, res.output
    again = runner.invoke(args=["demo-data"])  # the second start: nothing is imported again
    assert again.exit_code == 0 and "Dữ liệu mẫu đã được nhập (lô 1," in again.output, again.output
    made = Path(app.instance_path) / "demo" / "demo_incidents_haiphong-2025_3000_138.csv"
    try:
        records = pd.read_csv(made, encoding="utf-8-sig")
    finally:
        made.unlink()
        (made.parent / "demo_truth_haiphong-2025_3000_138.csv").unlink()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(records["Kinh độ"], records["Vĩ độ"]), crs="EPSG:4326")
    wards = gpd.read_file(SHARED_BOUNDARIES / "haiphong_wards_2025.geojson")
    inside = gpd.sjoin(points, wards, predicate="within", how="left")
    assert len(records) == 3000 and inside["code"].notna().all()  # every incident in a Hải Phòng unit
    with make_engine(app.config["DATABASE_URL"]).connect() as conn:
        assert conn.execute(text("SELECT COUNT(DISTINCT incident_id) FROM incident_area")).scalar() == 3000
        assert conn.execute(text("SELECT COUNT(*) FROM import_batch")).scalar() == 1
