"""The committee's work on the demo store: plans, candidates, selections, assessments, flags,
programme statuses (the periodic report: tests/web/test_report.py)."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest
import shapely
from flask import Flask
from numpy.testing import assert_allclose
from scipy.stats import binomtest
from shapely.geometry import box
from sqlalchemy import bindparam, text

from geo import analysis, format
from geo.categories import expand
from geo.committee import _checks as check
from geo.committee import areas, assessments, candidates, evidence, plans
from geo.committee import flags as fl
from geo.committee import programmes as pg
from geo.errors import InputError
from geo.render import reasons
from geo.store.queries import load_areas
from tests.conftest import signed_in

SOCIAL = expand(["trat_tu_xa_hoi"])
BEN_THANH, BAN_CO, KHANH_HOI, LONG_BINH = "26743", "27154", "27265", "26833"
DECISION = dict(target_pct=10, responsible_unit="Công an phường", decided_by="BCĐ 138 Thành phố",
                decided_on="2024-01-15", recorded_by="committee")


@pytest.fixture
def eng(demo_app):
    from geo.store.models import make_engine

    e = make_engine(demo_app.config["DATABASE_URL"])
    yield e
    e.dispose()


def _plan(eng, year=2024, **kw):
    args = dict(year=year, level="city", boundary="hcmc-2025", created_by="committee")
    args.update(kw)
    return plans.get_plan(eng, plans.create_plan(eng, **args))


def _audit(eng, action):
    with eng.connect() as conn:
        return conn.execute(text("SELECT target, detail, username FROM audit_log WHERE action = :a ORDER BY id"),
                            {"a": action}).all()


def _points(eng, start, end, categories=SOCIAL):
    stmt = text("SELECT lon, lat, local_date FROM incident WHERE local_date BETWEEN :s AND :e "
                "AND category IN :c AND lon IS NOT NULL").bindparams(bindparam("c", expanding=True))
    with eng.connect() as conn:
        rows = conn.execute(stmt, {"s": start, "e": end, "c": list(categories)}).all()
    return np.array([[r.lon, r.lat] for r in rows])


def _inside(geom, pts) -> int:
    return int(shapely.intersects(geom, shapely.points(pts)).sum())


# --------------------------------------------------------------------------- plans and candidates

def test_candidates_are_the_complex_area_ranking_of_the_base_year(eng, demo_app):
    plan = _plan(eng)
    assert (plan.base_period.start, plan.base_period.end) == (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    got = candidates.candidates(eng, plan, top=10, spots_top=5)
    want = analysis.complex_areas(eng, boundary="hcmc-2025", start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31),
                                  categories=["trat_tu_xa_hoi"], top=10)
    assert got.wards["code"].tolist() == want["code"].tolist()
    assert_allclose(got.wards["score"], want["score"])
    # the reason ranks each ward among the wards of the plan's unit (here the whole city) by incidents
    full = analysis.complex_areas(eng, boundary="hcmc-2025", start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31),
                                  categories=["trat_tu_xa_hoi"])
    by_count = full.set_index("code")["count"].rank(ascending=False, method="min")
    first = [json.loads(r)[0] for r in got.wards["reasons"]]
    assert [f[1]["rank"] for f in first] == [int(by_count[c]) for c in got.wards["code"]]
    assert {f[1]["of"] for f in first} == {len(load_areas(eng, "hcmc-2025"))}
    assert all(candidates.reason(r).startswith("Đứng thứ ") for r in got.wards.to_dict("records"))
    spots = analysis.complex_spots(eng, boundary="hcmc-2025", start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31),
                                   categories=["trat_tu_xa_hoi"], top=5)
    assert got.spots["code"].tolist() == spots["code"].tolist()
    # the page lists the same wards, in the same order, as the API's top list
    api = signed_in(demo_app, "viewer").get("/api/v1/complex-areas?boundary=hcmc-2025&period=2023"
                                            "&category=trat_tu_xa_hoi&top=10").get_json()
    html = signed_in(demo_app, "viewer").get(f"/committee/plans/{plan.id}").get_data(as_text=True)
    table = html.split('id="candidate-wards"')[1].split("</table>")[0]
    assert re.findall(r'data-code="(\d+)"', table)[:10] == [f["properties"]["code"] for f in api["features"]]
    assert 'name="choice"' not in html  # a viewer sees the evidence but cannot select


def test_district_plan_ranks_the_wards_of_the_district(eng):
    plan = _plan(eng, year=2024, level="district", boundary="hcmc-2019", unit_code="764")
    assert plan.unit_name == "Quận Gò Vấp"
    got = candidates.candidates(eng, plan, top=20).wards
    ranked = analysis.complex_areas(eng, boundary="hcmc-2019", start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31),
                                    categories=["trat_tu_xa_hoi"])
    gv = load_areas(eng, "hcmc-2019")
    gv_codes = set(gv.loc[gv["parent_code"] == "764", "code"])
    assert len(gv_codes) == 16 and set(got["code"]) == gv_codes
    assert got["code"].tolist() == [c for c in ranked["code"] if c in gv_codes]


def test_plan_checks_say_what_to_fix(eng):
    with pytest.raises(InputError, match="cấp quận, huyện đã được bãi bỏ từ ngày 01/07/2025"):
        plans.create_plan(eng, year=2026, level="district", boundary="hcmc-2019", unit_code="764")
    with pytest.raises(InputError, match="Ban chỉ đạo phường, xã chỉ tự lập kế hoạch từ năm 2025"):
        plans.create_plan(eng, year=2024, level="ward", boundary="hcmc-2025", unit_code=BEN_THANH)
    with pytest.raises(InputError, match="không có phường, xã nào của 'hcmc-2025' thuộc quận, huyện"):
        plans.create_plan(eng, year=2024, level="district", boundary="hcmc-2025", unit_code="764")
    ward_plan = _plan(eng, year=2026, level="ward", unit_code=BEN_THANH)
    assert ward_plan.unit_name == "Phường Bến Thành"
    _plan(eng, year=2024)
    with pytest.raises(InputError, match="Đã có kế hoạch năm 2024"):
        _plan(eng, year=2024)
    with pytest.raises(InputError, match="không nhập mét của hệ tọa độ phẳng"):
        areas.parse_polygon(json.dumps(shapely.geometry.mapping(box(680000, 1190000, 681000, 1191000))))
    with pytest.raises(InputError, match="phải chứa hình Polygon hoặc MultiPolygon \\(nhận được Point\\)"):
        areas.parse_polygon('{"type": "Point", "coordinates": [106.7, 10.77]}')


def test_form_checks_read_in_the_users_language(eng):
    with pytest.raises(InputError, match=r"^Chỉ tiêu kéo giảm là 'abc' nhưng phải là một số phần trăm "
                                         r"\(ví dụ 10 nghĩa là kéo giảm 10%\)\.$"):
        check.target("abc")
    english = Flask(__name__)
    english.config["BABEL_DEFAULT_LOCALE"] = "en"
    with english.app_context():
        with pytest.raises(InputError, match=r"^`level` was 'district' but districts were abolished on "
                                             r"01/07/2025; make a city or ward plan for 2026\.$"):
            plans.create_plan(eng, year=2026, level="district", boundary="hcmc-2019", unit_code="764")
        with pytest.raises(InputError, match=r"^Plan name has 301 characters but at most 300 are allowed\.$"):
            plans.create_plan(eng, year=2024, level="city", boundary="hcmc-2025", title="x" * 301)
        with pytest.raises(InputError, match=r"^Target: reduce by was 'abc' but is expected to be a number of percent "
                                             r"\(e\.g\. 10 for a reduction of 10%\)\.$"):
            check.target("abc")


# --------------------------------------------------------------------------- selection

def test_selection_keeps_polygon_boundary_and_evidence(eng):
    plan = _plan(eng)
    spot = candidates.candidates(eng, plan, spots_top=3).spots.iloc[0]
    drawn = box(106.690, 10.765, 106.700, 10.775)
    ids = areas.select_areas(eng, plan.id, [f"ward:{BEN_THANH}", f"spot:{spot['code']}"], **DECISION)
    ids += areas.select_areas(eng, plan.id, [], **DECISION, reason="Tụ điểm trộm cắp", polygon_name="Khu chợ Bến Thành",
                           polygon=json.dumps({"type": "Feature", "properties": {},
                                               "geometry": shapely.geometry.mapping(drawn)}))
    ward, spot_area, poly = (areas.get_area(eng, i) for i in ids)
    wards = load_areas(eng, "hcmc-2025").set_index("code")
    assert ward.kind == "ward" and ward.boundary == "hcmc-2025"
    assert ward.geometry.equals(wards.at[BEN_THANH, "geometry"])
    assert spot_area.kind == "spot" and spot_area.geometry.equals(spot.geometry) and spot_area.name == spot["name"]
    assert poly.kind == "polygon" and poly.geometry.equals(drawn) and poly.name == "Khu chợ Bến Thành"
    assert_allclose(poly.area_km2, 1.0944 * 1.0935, rtol=0.02)  # ≈ 1.09 km × 1.09 km at 10.8° N
    assert ward.evidence["rank"] == 1 and ward.evidence["reasons"]
    # a blank reason takes the ranked one, as the committee's record keeps it: in Vietnamese
    assert ward.decision.reason == reasons.sentence(ward.evidence["reasons"], "vi") != ""
    assert poly.decision.reason == "Tụ điểm trộm cắp"
    assert ward.decision.target_pct == 10 and ward.decision.decided_on == dt.date(2024, 1, 15)
    with pytest.raises(InputError, match="đã được chọn trong kế hoạch này"):
        areas.select_areas(eng, plan.id, [f"ward:{BEN_THANH}"], **DECISION)
    with pytest.raises(InputError, match="Dữ liệu vụ việc đã thay đổi"):
        areas.select_areas(eng, plan.id, [f"ward:{BAN_CO}"], **DECISION, data_version="0-0-0")
    # after the reform: a 2019 Gò Vấp ward lies in the 2025 wards that replaced it
    gv = _plan(eng, year=2024, level="district", boundary="hcmc-2019", unit_code="764")
    [p1] = areas.select_areas(eng, gv.id, ["ward:26890"], **DECISION)
    now = areas.now_in(eng, areas.get_area(eng, p1).geometry)
    assert {r["boundary"] for r in now} == {"hcmc-2025"}
    assert 0.9 < sum(r["share"] for r in now) < 1.001  # the 2025 wards overlap a little
    assert now == sorted(now, key=lambda r: -r["share"])


def test_selection_and_decisions_are_audited_in_the_same_transaction(demo_app, eng):
    plan = _plan(eng)
    c = signed_in(demo_app, "committee")
    demo_app.config["WTF_CSRF_ENABLED"] = False
    res = c.post(f"/committee/plans/{plan.id}/select",
                 data={"choice": [f"ward:{BEN_THANH}", f"ward:{BAN_CO}"], "target_pct": "12,5",
                       "responsible_unit": "Công an quận 1", "decided_by": "Trưởng BCĐ", "decided_on": "2024-02-01"})
    assert res.status_code == 302
    rows = _audit(eng, "committee_select")
    assert [r.target for r in rows] == [f"area {a.id}" for a in areas.plan_areas(eng, plan.id)]
    assert {r.username for r in rows} == {"committee"}
    assert json.loads(rows[0].detail)["target_pct"] == 12.5
    # a failing audit write rolls the selection back
    def broken(conn, action, target, detail):
        raise RuntimeError("audit log unavailable")
    with pytest.raises(RuntimeError):
        areas.select_areas(eng, plan.id, [f"ward:{KHANH_HOI}"], **DECISION, on_write=broken)
    assert len(areas.plan_areas(eng, plan.id)) == 2


# --------------------------------------------------------------------------- proposals

@pytest.mark.parametrize("kind", ["ward", "spot", "polygon"])
def test_proposal_p_value_equals_binomtest_on_counts_inside_the_polygon(eng, kind):
    plan = _plan(eng)
    if kind == "ward":
        [area_id] = areas.select_areas(eng, plan.id, [f"ward:{BAN_CO}"], **DECISION)
    elif kind == "spot":
        code = candidates.candidates(eng, plan, spots_top=2).spots["code"].iloc[1]
        [area_id] = areas.select_areas(eng, plan.id, [f"spot:{code}"], **DECISION)
    else:
        [area_id] = areas.select_areas(eng, plan.id, [], **DECISION, reason="Chợ", polygon_name="Chợ",
                                    polygon=json.dumps(shapely.geometry.mapping(box(106.69, 10.765, 106.70, 10.775))))
    area = areas.get_area(eng, area_id)
    got = assessments.propose(eng, area_id, 2025)
    k1 = _inside(area.geometry, _points(eng, "2025-01-01", "2025-12-31"))
    k0 = _inside(area.geometry, _points(eng, "2024-01-01", "2024-12-31"))
    assert (got["count"], got["base_count"]) == (k1, k0) and k1 + k0 > 50
    assert_allclose(got["p_value"], binomtest(k1, k1 + k0, 365 / (365 + 366)).pvalue, rtol=1e-9)
    assert got["target_met"] == (100 * (k1 - k0) / k0 <= -10)
    assert got["proposed"] == ("dat" if got["target_met"] and not got["hot"] else "khong_dat")
    if kind == "ward":
        gi = analysis.gistar_wards(eng, boundary="hcmc-2025", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31),
                                   categories=["trat_tu_xa_hoi"])
        assert got["hotspot_code"] == gi.set_index("code").at[BAN_CO, "hotspot_code"] == "hot_95"
        assert got["hot"] and got["proposed"] == "khong_dat"
    else:
        spots = analysis.dbscan_spots(eng, boundary="hcmc-2025", start=dt.date(2025, 1, 1),
                                      end=dt.date(2025, 12, 31), categories=["trat_tu_xa_hoi"], eps_m=150,
                                      min_samples=30)
        assert got["spots"] == int(spots.intersects(area.geometry).sum())


def test_statistical_cut_plan_compares_15th_to_14th_years(eng):
    plan = _plan(eng, cut="stat")
    [area_id] = areas.select_areas(eng, plan.id, [f"ward:{KHANH_HOI}"], **DECISION)
    got = assessments.propose(eng, area_id, 2025)
    assert got["period"] == ["2024-12-15", "2025-12-14"] and got["base_period"] == ["2023-12-15", "2024-12-14"]
    geom = areas.get_area(eng, area_id).geometry
    assert got["count"] == _inside(geom, _points(eng, "2024-12-15", "2025-12-14"))
    assert got["period_text"] == "Năm 2025 (15/12/2024 – 14/12/2025)"


# --------------------------------------------------------------------------- corrections and flags

def test_corrections_insert_rows_and_keep_the_history(eng):
    plan = _plan(eng)
    [a] = areas.select_areas(eng, plan.id, [f"ward:{BAN_CO}"], **DECISION)
    first = areas.get_area(eng, a).decision
    fix = dict(DECISION, reason="Điểm nóng trộm cắp", note="Sửa chỉ tiêu theo nghị quyết")
    fix.pop("target_pct")
    second = areas.correct_decision(eng, a, supersedes_id=first.id, target_pct=15, **fix)
    with pytest.raises(InputError, match="không còn là quyết định hiện hành"):
        areas.correct_decision(eng, a, supersedes_id=first.id, target_pct=20, **fix)
    areas.correct_decision(eng, a, supersedes_id=second, target_pct=20, **fix)
    area = areas.get_area(eng, a)
    assert [d.target_pct for d in area.decisions] == [20, 15, 10]
    assert [d.supersedes_id for d in area.decisions] == [second, first.id, None]
    assert area.decision.note == "Sửa chỉ tiêu theo nghị quyết" and area.decision.recorded_by == "committee"

    one = assessments.record_assessment(eng, a, year=2024, result="khong_dat", note="", recorded_by="committee")
    with pytest.raises(InputError, match="đã có đánh giá cho năm 2024"):
        assessments.record_assessment(eng, a, year=2024, result="dat")
    with pytest.raises(InputError, match="Cần nhập Ghi chú"):
        assessments.record_assessment(eng, a, year=2024, result="dat", supersedes_id=one)
    two = assessments.record_assessment(eng, a, year=2024, result="dat", note="Đã xác minh lại", supersedes_id=one)
    rows = areas.get_area(eng, a).assessments[2024]
    assert [(r.id, r.result, r.supersedes_id) for r in rows] == [(two, "dat", one), (one, "khong_dat", None)]
    proposal = json.loads(rows[0].proposal)
    assert proposal["year"] == 2024 and proposal["count"] > 0 and proposal["target_pct"] == 20
    with pytest.raises(InputError, match="Kết quả do Ban Chỉ đạo quyết định là 'đạt' nhưng phải là một trong các giá trị: dat, khong_dat"):
        assessments.record_assessment(eng, a, year=2025, result="đạt")
    with pytest.raises(InputError, match="Năm là 2023 nhưng phải từ 2024"):
        assessments.record_assessment(eng, a, year=2023, result="dat")


def test_repeat_failures_and_relapses_are_flagged(eng):
    gi25 = analysis.gistar_wards(eng, boundary="hcmc-2025", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31),
                                 categories=["trat_tu_xa_hoi"]).set_index("code")
    cmp25, _ = analysis.compare_wards(eng, boundary="hcmc-2025", start=dt.date(2025, 1, 1),
                                      end=dt.date(2025, 12, 31), categories=["trat_tu_xa_hoi"])
    quiet = cmp25[(cmp25["p_value"] > 0.5) & (cmp25["count"] > 30)
                  & ~cmp25["code"].map(gi25["hotspot_code"]).isin(evidence.HOT_CODES)]["code"].iloc[0]
    plan = _plan(eng)
    a_fail, a_hot, a_rose, a_quiet, a_mixed, a_gone = areas.select_areas(
        eng, plan.id, [f"ward:{c}" for c in (BAN_CO, BEN_THANH, LONG_BINH, quiet, KHANH_HOI, "26758")], **DECISION)
    rec = lambda a, y, r: assessments.record_assessment(eng, a, year=y, result=r, recorded_by="committee")
    rec(a_fail, 2024, "khong_dat"), rec(a_fail, 2025, "khong_dat")
    rec(a_hot, 2024, "dat")
    rec(a_rose, 2024, "dat")
    rec(a_quiet, 2024, "dat")
    rec(a_mixed, 2024, "khong_dat"), rec(a_mixed, 2025, "dat")
    rec(a_gone, 2024, "khong_dat"), rec(a_gone, 2025, "khong_dat")
    gone = areas.get_area(eng, a_gone).decision
    areas.correct_decision(eng, a_gone, supersedes_id=gone.id, status="withdrawn", target_pct=10,
                        responsible_unit="x", decided_by="x", decided_on="2025-06-01", reason="x", note="Rút")
    # the same ward selected again by the next year's plan: the failures of both plans add up
    plan25 = _plan(eng, year=2025)
    [again] = areas.select_areas(eng, plan25.id, ["ward:27259"], **DECISION)
    [before] = areas.select_areas(eng, plan.id, ["ward:27259"], **DECISION)
    rec(before, 2024, "khong_dat"), rec(again, 2025, "khong_dat")

    f = fl.flags(eng)
    repeat = {r["name"]: r for r in f.repeat_failures}
    assert set(repeat) == {"Phường Bàn Cờ", "Phường Xóm Chiếu"}
    assert repeat["Phường Bàn Cờ"]["years"] == [2024, 2025]
    assert sorted(repeat["Phường Xóm Chiếu"]["area_ids"]) == [again, before]
    assert repeat["Phường Xóm Chiếu"]["plans"] == [2024, 2025]
    relapse = {r["area"].id: r for r in f.relapses}
    assert set(relapse) == {a_hot, a_rose}
    assert relapse[a_hot]["year"] == 2025 and relapse[a_hot]["hotspot_code"] == "hot_90"
    rose = relapse[a_rose]
    assert rose["year"] == 2025 and rose["rose"] and not rose["hot"] and rose["p_value"] <= 0.05
    geom = areas.get_area(eng, a_rose).geometry
    assert (rose["count"], rose["base_count"]) == (_inside(geom, _points(eng, "2025-01-01", "2025-12-31")),
                                                   _inside(geom, _points(eng, "2024-01-01", "2024-12-31")))
    flag_of = dict(zip(f.areas["id"], f.areas["flag"]))
    assert flag_of[a_fail] == "repeat_failure" and flag_of[a_hot] == flag_of[a_rose] == "relapse"
    assert flag_of[a_quiet] == flag_of[a_mixed] == "none" and a_gone not in flag_of
    # a correction changes the current value: the failure streak is broken
    cur = areas.get_area(eng, a_fail).assessment(2025)
    assessments.record_assessment(eng, a_fail, year=2025, result="dat", note="Sửa sau phúc tra", supersedes_id=cur.id)
    assert "Phường Bàn Cờ" not in {r["name"] for r in fl.flags(eng).repeat_failures}
    assert {r["name"] for r in fl.flags(eng, plan_id=plan25.id).repeat_failures} == {"Phường Xóm Chiếu"}


def test_the_same_place_in_several_plans_is_one_place():
    def area(i, plan, kind, code, geom):
        return areas.Area(i, plan, kind, code, f"A{i}", "hcmc-2025", geom, 0.0, {}, "", None)

    ward = box(0, 0, 1, 1)
    groups = fl.places([
        area(1, 1, "ward", "1", ward),
        area(2, 1, "spot", "spot-1", box(0, 0, 0.3, 0.3)),    # a small spot inside the ward
        area(3, 2, "spot", "spot-4", box(0.05, 0, 1, 0.95)),  # next plan, IoU 0.9 with the ward
        area(4, 2, "ward", "1", ward),                         # the same ward again
        area(5, 2, "polygon", "", box(0.5, 0, 1.5, 1)),       # IoU 1/3: another place
    ])
    assert sorted(sorted(a.id for a in g) for g in groups) == [[1, 3, 4], [2], [5]]
    # within one plan a spot that covers most of a selected ward is still its own selection
    same_plan = fl.places([area(1, 1, "ward", "1", ward), area(2, 1, "spot", "spot-1", box(0, 0, 1, 0.9))])
    assert len(same_plan) == 2


# --------------------------------------------------------------------------- programmes

def test_programme_status_keeps_history(eng):
    kw = dict(boundary="hcmc-2025", unit_code=BEN_THANH, programme="Xã, phường không ma túy", phase="Giai đoạn 2",
              valid_from="2023-12-15", valid_to="2024-05-14", recorded_by="committee")
    first = pg.record_programme_status(eng, status="in_progress", **kw)
    with pytest.raises(InputError, match="đã có tình trạng trong"):
        pg.record_programme_status(eng, status="met", **kw)
    second = pg.record_programme_status(eng, status="met", note="Đã công nhận", supersedes_id=first, **kw)
    pg.record_programme_status(eng, status="in_progress", **dict(kw, phase="Giai đoạn 3", valid_from="2024-05-15",
                                                                 valid_to="2024-10-14"))
    with pytest.raises(InputError, match="Đến ngày \\(01/12/2023\\) sớm hơn Từ ngày \\(15/12/2023\\)"):
        pg.record_programme_status(eng, status="met", **dict(kw, phase="x", valid_to="2023-12-01"))
    rows = pg.programme_statuses(eng)
    assert [(r["current"].phase, r["current"].status, len(r["history"])) for r in rows] == [
        ("Giai đoạn 2", "met", 1), ("Giai đoạn 3", "in_progress", 0)]
    assert rows[0]["current"].id == second and rows[0]["current"].unit_name == "Phường Bến Thành"
    assert rows[0]["history"][0].status == "in_progress"


# --------------------------------------------------------------------------- roles

def test_only_committee_members_and_above_record(demo_app, eng):
    plan = _plan(eng)
    [a] = areas.select_areas(eng, plan.id, [f"ward:{BAN_CO}"], **DECISION)
    demo_app.config["WTF_CSRF_ENABLED"] = False
    posts = [("/committee/plans", {"year": "2025", "level": "city", "boundary": "hcmc-2025"}),
             (f"/committee/plans/{plan.id}/select", {"choice": f"ward:{BEN_THANH}", **DECISION}),
             (f"/committee/areas/{a}/assessments", {"year": "2024", "result": "dat"}),
             ("/committee/programmes", {"boundary": "hcmc-2025", "unit_code": BEN_THANH, "programme": "P",
                                        "phase": "1", "status": "met"})]
    viewer = signed_in(demo_app, "viewer")
    for url, data in posts:
        assert viewer.post(url, data=data).status_code == 403, url
    assert areas.get_area(eng, a).assessments == {} and len(plans.list_plans(eng)) == 1
    for page in ("/committee/", f"/committee/plans/{plan.id}", f"/committee/areas/{a}", "/committee/flags",
                 "/committee/programmes"):
        html = viewer.get(page).get_data(as_text=True)
        assert "Phường Bàn Cờ" in html or page in ("/committee/", "/committee/programmes", "/committee/flags"), page
        assert 'method="post" action="/committee' not in html, page
    for role in ("committee", "analyst"):
        res = signed_in(demo_app, role).post(f"/committee/areas/{a}/assessments",
                                             data={"year": "2024", "result": "dat"} if role == "committee" else
                                             {"year": "2024", "result": "khong_dat", "note": "Phúc tra",
                                              "supersedes_id": str(areas.get_area(eng, a).assessment(2024).id)})
        assert res.status_code == 302
    rows = _audit(eng, "committee_assess")
    assert [r.username for r in rows] == ["committee", "analyst"]
    assert [r.result for r in areas.get_area(eng, a).assessments[2024]] == ["khong_dat", "dat"]
    anonymous = demo_app.test_client().get(f"/committee/plans/{plan.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


# --------------------------------------------------------------------------- plain and honest

def _ward_counts_sql(eng, boundary, start, end, categories=SOCIAL):
    """Incidents per unit and category straight from the incidents (not the day aggregates)."""
    stmt = text("SELECT a.code, a.parent_code, i.category, COUNT(*) AS n FROM incident i "
                "JOIN incident_area ia ON ia.incident_id = i.id JOIN area a ON a.id = ia.area_id "
                "JOIN boundary_version v ON v.id = ia.version_id AND v.name = :b "
                "WHERE i.local_date BETWEEN :s AND :e AND i.category IN :c GROUP BY a.code, a.parent_code, i.category"
                ).bindparams(bindparam("c", expanding=True))
    import pandas as pd

    with eng.connect() as conn:
        return pd.DataFrame(conn.execute(stmt, {"b": boundary, "s": start, "e": end, "c": list(categories)}).all(),
                            columns=["code", "parent_code", "category", "n"])


def test_district_plan_reasons_rank_within_the_district_and_name_the_crime_types(eng, demo_app):
    plan = _plan(eng, year=2024, level="district", boundary="hcmc-2019", unit_code="764")
    got = candidates.candidates(eng, plan, top=20).wards
    rows = _ward_counts_sql(eng, "hcmc-2019", dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    gv_codes = set(load_areas(eng, "hcmc-2019").query("parent_code == '764'")["code"])
    gv = rows[rows["code"].isin(gv_codes)]
    per_ward = gv.groupby("code")["n"].sum().reindex(sorted(gv_codes), fill_value=0)
    want_rank = per_ward.rank(ascending=False, method="min").astype(int)
    assert len(got) == 16
    for row in got.itertuples():
        pairs = json.loads(row.reasons)
        kind, f = pairs[0]
        assert kind == "scope_rank" and f["of"] == 16 and f["rank"] == want_rank[row.code]
        assert f["count"] == per_ward[row.code]
        top = gv[gv["code"] == row.code].sort_values(["n", "category"], ascending=[False, True]).head(2)
        cats = dict(pairs[1][1]["top"] and [(c, n) for c, _label, n in pairs[1][1]["top"]])
        assert sorted(cats.values(), reverse=True) == top["n"].tolist()
        assert set(cats) <= set(gv.loc[(gv["code"] == row.code) & gv["n"].isin(top["n"]), "category"])
        sentence = candidates.reason(row._asdict())
        assert sentence.startswith(f"Đứng thứ {want_rank[row.code]}/16 phường của quận về số vụ "
                                   f"({format.number(per_ward[row.code])} vụ")
        assert ", chủ yếu " in sentence and "Gi*" not in sentence and "p =" not in sentence
    # the plan page reads the same sentence
    html = signed_in(demo_app, "viewer").get(f"/committee/plans/{plan.id}").get_data(as_text=True)
    first = got.iloc[0]
    assert candidates.reason(first.to_dict()) in html.replace("&amp;", "&")


def test_no_proposal_without_a_base_and_no_preselected_result(eng, demo_app):
    client = signed_in(demo_app, "committee")
    # a 2023 plan: the store holds nothing of 2022, so nothing is proposed and the page says why
    p23 = _plan(eng, year=2023)
    [a23] = areas.select_areas(eng, p23.id, [f"ward:{BEN_THANH}"], **{**DECISION, "reason": "Chợ Bến Thành"})
    with pytest.raises(InputError, match=r"^Chưa có số liệu năm 2022 để so sánh \(số liệu bắt đầu từ ngày 01/01/2023\)"):
        assessments.propose(eng, a23, 2023)
    html = client.get(f"/committee/areas/{a23}").get_data(as_text=True)
    year = html.split('id="year-2023"')[1].split("</section>")[0]
    assert "Chưa có số liệu năm 2022" in year and "Số liệu gợi ý" not in year and "258" not in year
    # a 2026 ward plan on the statistical cut: its year has begun (15/12/2025) but the data stop on 31/12/2025
    p26 = _plan(eng, year=2026, level="ward", unit_code=BEN_THANH, cut="statistical")
    [a26] = areas.select_areas(eng, p26.id, [f"ward:{BEN_THANH}"], **{**DECISION, "reason": "Chợ Bến Thành"})
    assert assessments.propose(eng, a26, 2026)["complete"] is False
    html = client.get(f"/committee/areas/{a26}").get_data(as_text=True)
    year = html.split('id="year-2026"')[1].split("</section>")[0]
    assert "số liệu mới đến ngày 31/12/2025" in year and "Số liệu gợi ý" not in year
    for page in (html, client.get(f"/committee/areas/{a23}").get_data(as_text=True)):
        radios = re.findall(r'<input type="radio" name="result"[^>]*>', page)
        assert radios and len(radios) % 2 == 0 and not any("checked" in r for r in radios)
    # a complete year: the data suggest a result in words, the p-value only behind the "?"
    p24 = _plan(eng, year=2024)
    [a24] = areas.select_areas(eng, p24.id, [f"ward:{BEN_THANH}"], **DECISION)
    prop = assessments.propose(eng, a24, 2024)
    html = client.get(f"/committee/areas/{a24}").get_data(as_text=True)
    year = html.split('id="year-2024"')[1].split("</section>")[0]
    words = {"up": "tăng rõ rệt", "down": "giảm rõ rệt"}.get(prop["direction"]) if prop["significant"] \
        else "không thay đổi rõ rệt"
    assert f"{prop['change_text']}, {words}" in year and "Số liệu gợi ý" in year
    assert "(p = " not in year.split('<details class="why">')[0]
    assert not any("checked" in r for r in re.findall(r'<input type="radio"[^>]*>', year))


def test_decision_date_defaults_to_a_day_of_the_plans_year(eng, demo_app):
    for year in (2024, 2026):
        plan = _plan(eng, year=year, **({"level": "ward", "unit_code": BEN_THANH} if year > 2025 else {}))
        default = plans.decision_date(plan)
        assert plan.period(year).start <= default <= plan.period(year).end
        html = signed_in(demo_app, "committee").get(f"/committee/plans/{plan.id}").get_data(as_text=True)
        [value] = re.findall(r'name="decided_on" value="([0-9-]+)"', html)
        assert dt.date.fromisoformat(value).year == year
    assert plans.decision_date(plan, dt.date(2026, 3, 2)) == dt.date(2026, 3, 2)
    assert plans.decision_date(plan, dt.date(2027, 3, 2)) == dt.date(2026, 12, 31)
