"""The cùng kỳ report: its figures against an independent count of the raw demo file, its page
(the answer first, totals and subtotals, plain words) and its files (XLSX, both CSVs, PDF, DOCX)."""
from __future__ import annotations

import datetime as dt
import io
import re
import subprocess

import docx
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from babel.messages.extract import extract
from numpy.testing import assert_allclose
from openpyxl import load_workbook
from scipy.stats import binomtest
from sqlalchemy import text

from geo import disclosure, format
from geo import periods as pr
from geo.categories import CATEGORIES, GROUPS, SEVERITY, expand
from geo.committee import report as rp
from geo.errors import InputError
from geo.store.models import make_engine
from geo.store.queries import load_areas
from tests.conftest import SHARED_BOUNDARIES, signed_in

pytestmark = pytest.mark.xdist_group("report")  # one worker: the module's fixtures are built once

GO_VAP = "Quận Gò Vấp"
BEN_THANH = "26743"
PERIODS = ("2025-Q1", "2025-H1:stat")


@pytest.fixture
def eng(demo_app):
    e = make_engine(demo_app.config["DATABASE_URL"])
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def raw(demo_template) -> pd.DataFrame:
    """The raw demo CSV read independently of the importer: local dates in Asia/Ho_Chi_Minh, the
    demo's category and severity labels back to codes, and the hcmc-2019 ward of each point
    (geopandas sjoin with the shipped polygons)."""
    df = pd.read_csv(demo_template.parent / "demo.csv", encoding="utf-8-sig")
    when = pd.to_datetime(df["Thời gian xảy ra"], format="mixed", dayfirst=True).dt.tz_localize("Asia/Ho_Chi_Minh")
    df["day"] = when.dt.date
    df["category"] = df["Loại tội phạm"].map({vi: code for code, (vi, *_rest) in CATEGORIES.items()})
    df["severity"] = df["Mức độ"].map({vi: g for g, (vi, *_rest) in SEVERITY.items()})
    df["cleared"] = df["Đã khám phá"].eq("Có")
    assert df["category"].notna().all()
    wards = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2019.geojson")[["code", "geometry"]].to_crs("EPSG:4326")
    pts = gpd.GeoDataFrame(df[[]], geometry=gpd.points_from_xy(df["Kinh độ"], df["Vĩ độ"]), crs="EPSG:4326")
    # the join rule of the import: inside (or on the border: lowest code), else the nearest ward
    # within JOIN_TOLERANCE_M = 50 m (in UTM 48N, the zone of Hồ Chí Minh City)
    inside = gpd.sjoin(pts, wards, how="inner", predicate="intersects").sort_values("code")
    inside = inside[~inside.index.duplicated()]["code"]
    rest = pts.drop(index=inside.index).to_crs(32648)
    near = gpd.sjoin_nearest(rest, wards.to_crs(32648), how="inner", max_distance=50).sort_values("code")
    near = near[~near.index.duplicated()]["code"]
    df["code"] = pd.concat([inside, near])
    return df[df["code"].notna()]


def _reference(raw: pd.DataFrame, period: pr.Period, codes) -> dict:
    """Per ward, per group and in total: count, cùng kỳ, change, % and clearance, by hand."""
    base = period.same_period_last_year()
    sel = raw[raw["code"].isin(codes)]
    now = sel[(sel["day"] >= period.start) & (sel["day"] <= period.end)]
    then = sel[(sel["day"] >= base.start) & (sel["day"] <= base.end)]

    def row(a, b):
        k, n0 = len(a), len(b)
        return {"count": k, "base_count": n0, "change": k - n0,
                "change_pct": 100 * (k - n0) / n0 if n0 else np.nan,
                "cleared_count": int(a["cleared"].sum()), "clearance_rate": a["cleared"].mean() if k else np.nan}

    wards = {c: row(now[now["code"] == c], then[then["code"] == c]) for c in codes}
    groups = {g: row(now[now["category"].isin(m)], then[then["category"].isin(m)])
              for g, m in [(g, GROUPS[g][2]) for g in ("trat_tu_xa_hoi", "duong_pho", "te_nan")] + [("ma_tuy", ("ma_tuy",))]}
    serious = now[now["severity"] >= 3]
    total = row(now, then) | {"serious_count": len(serious), "serious_cleared_count": int(serious["cleared"].sum())}
    return {"wards": wards, "groups": groups, "total": total, "days": (period.days, base.days)}


def _go_vap(eng) -> list[str]:
    wards = load_areas(eng, "hcmc-2019")
    return sorted(wards.loc[wards["parent_name"] == GO_VAP, "code"])


@pytest.mark.parametrize("spec", PERIODS)
def test_go_vap_report_equals_an_independent_count_of_the_raw_file(eng, raw, spec):
    period = pr.parse_period(spec)
    codes = _go_vap(eng)
    assert len(codes) == 16
    rep = rp.report(eng, boundary="hcmc-2019", period=period, units=codes)
    ref = _reference(raw, period, codes)
    units = rep.units.set_index("code")
    assert sorted(units.index) == codes and units["stt"].tolist() == list(range(1, 17))
    for code, want in ref["wards"].items():
        got = units.loc[code]
        for f in ("count", "base_count", "change", "cleared_count"):
            assert got[f] == want[f], (code, f)
        assert_allclose([got["change_pct"], got["clearance_rate"]], [want["change_pct"], want["clearance_rate"]],
                        rtol=1e-12, equal_nan=True)
        assert got["change_text"] == format.count_change(want["count"], want["base_count"])
    t = rep.total
    for f in ("count", "base_count", "change", "cleared_count", "serious_count", "serious_cleared_count"):
        assert t[f] == ref["total"][f], f
    assert_allclose([t["change_pct"], t["clearance_rate"]], [ref["total"]["change_pct"], ref["total"]["clearance_rate"]])
    d1, d0 = ref["days"]
    k, b = ref["total"]["count"], ref["total"]["base_count"]
    assert_allclose(t["p_value"], binomtest(k, k + b, d1 / (d1 + d0)).pvalue, rtol=1e-9)
    assert (t["change_class"] != "no_significant_change") == (t["p_value"] <= 0.05)
    groups = rep.groups.set_index("group")
    assert groups.index.tolist() == ["trat_tu_xa_hoi", "duong_pho", "te_nan", "ma_tuy"]
    for g, want in ref["groups"].items():
        for f in ("count", "base_count", "change", "cleared_count"):
            assert groups.at[g, f] == want[f], (g, f)
        assert_allclose(groups.at[g, "change_pct"], want["change_pct"], rtol=1e-12)
        k, b = want["count"], want["base_count"]
        assert_allclose(groups.at[g, "p_value"], binomtest(k, k + b, d1 / (d1 + d0)).pvalue, rtol=1e-9)
    # the rows read as a report does: significant increases, then decreases, then the rest
    order = {"significant_increase": 0, "significant_decrease": 1, "no_significant_change": 2}
    keys = [(order[c], -abs(ch)) for c, ch in zip(rep.units["change_class"], rep.units["change"])]
    assert keys == sorted(keys)


def _query(eng, spec: str) -> str:
    year_part, _sep, cut = spec.partition(":")
    q = f"boundary=hcmc-2019&period={year_part}&cut={'stat' if cut else 'calendar'}"
    return q + "".join(f"&unit={c}" for c in _go_vap(eng))



def _hand_counts(eng, boundary, start, end):
    with eng.connect() as conn:
        return dict(conn.execute(text(
            "SELECT a.code, COUNT(*) FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN boundary_version v ON v.id = ia.version_id AND v.name = :b JOIN area a ON a.id = ia.area_id "
            "WHERE i.local_date BETWEEN :s AND :e GROUP BY a.code"), {"b": boundary, "s": start, "e": end}).all())


def test_report_equals_the_compare_api_and_a_hand_count(demo_app, eng):
    period = pr.parse_period("2024-Q1:stat")
    rep = rp.report(eng, boundary="hcmc-2025", period=period)
    api = signed_in(demo_app, "analyst").get("/api/v1/compare?boundary=hcmc-2025&period=2024-Q1:stat").get_json()
    by_code = {f["properties"]["code"]: f["properties"] for f in api["features"]}
    units = rep.units.set_index("code")
    for field in ("count", "base_count", "change"):
        assert units[field].to_dict() == {c: p[field] for c, p in by_code.items()}
    for field in ("p_value", "q_value"):
        assert_allclose(units[field].to_numpy(), [by_code[c][field] for c in units.index], rtol=1e-12)
    assert units["change_class"].to_dict() == {c: p["change_class"] for c, p in by_code.items()}
    now = _hand_counts(eng, "hcmc-2025", "2023-12-15", "2024-03-14")
    then = _hand_counts(eng, "hcmc-2025", "2022-12-15", "2023-03-14")
    assert units.at[BEN_THANH, "count"] == now[BEN_THANH] and units.at[BEN_THANH, "base_count"] == then.get(BEN_THANH, 0)
    assert rep.total["count"] == sum(now.values()) == api["meta"]["total"]["count"]
    with eng.connect() as conn:
        per_cat = dict(conn.execute(text(
            "SELECT i.category, COUNT(*) FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN boundary_version v ON v.id = ia.version_id AND v.name = 'hcmc-2025' "
            "WHERE i.local_date BETWEEN '2023-12-15' AND '2024-03-14' GROUP BY i.category")).all())
    assert rep.by_category.set_index("category")["count"].to_dict() == per_cat
    # the matrix adds up: each category column to the category's count, the groups to their members
    mx = rep.matrix
    for code, n in per_cat.items():
        assert mx[f"{code}|count"].sum() == n, code
    social = [c for c in expand(["trat_tu_xa_hoi"]) if f"{c}|count" in mx]
    assert (mx["trat_tu_xa_hoi|count"] == mx[[f"{c}|count" for c in social]].sum(axis=1)).all()
    assert mx["code"].tolist() == rep.units["code"].tolist()
    assert rep.groups.set_index("group").at["trat_tu_xa_hoi", "count"] == sum(per_cat.get(c, 0) for c in social)
    # the page: the answer first, the row of Bến Thành as reports write it
    html = signed_in(demo_app, "viewer").get("/committee/report?boundary=hcmc-2025&period=2024-Q1&cut=stat") \
        .get_data(as_text=True)
    assert "Quý I/2024 (15/12/2023 – 14/03/2024)" in html and "Quý I/2023 (15/12/2022 – 14/03/2023)" in html
    k1, k0 = now[BEN_THANH], then[BEN_THANH]
    words = ("tăng " if k1 > k0 else "giảm ") + f"{abs(100 * (k1 - k0) / k0):.1f}".replace(".", ",") + "%"
    row = html.split(f'data-code="{BEN_THANH}"')[1].split("</tr>")[0]
    assert words in row and f'data-sort="{float(k1)!r}"' in row


def test_district_report_adds_up_the_wards_of_each_district(eng):
    period = pr.parse_period("2024-H1")
    codes = _go_vap(eng)
    wards = rp.report(eng, boundary="hcmc-2019", period=period, categories=["duong_pho"], units=codes)
    districts = rp.report(eng, boundary="hcmc-2019", period=period, categories=["duong_pho"], level="district")
    limited = rp.report(eng, boundary="hcmc-2019", period=period, categories=["duong_pho"], level="district",
                        units=codes[:3])
    gv = districts.units.set_index("code").loc["764"]
    assert len(wards.units) == 16 and gv["name"] == GO_VAP
    assert gv["count"] == wards.units["count"].sum() == wards.total["count"]
    assert gv["base_count"] == wards.units["base_count"].sum()
    assert_allclose(gv["p_value"], binomtest(int(gv["count"]), int(gv["count"] + gv["base_count"]),
                                             182 / (182 + 181)).pvalue, rtol=1e-9)
    assert limited.units["code"].tolist() == ["764"]
    assert limited.total["count"] == wards.units.set_index("code").loc[codes[:3], "count"].sum()
    assert set(districts.by_category["category"]) <= set(expand(["duong_pho"]))
    # with a category filter the groups are the filter's part of each; empty ones are left out
    g = wards.groups.set_index("group")
    assert "te_nan" not in g.index and "ma_tuy" not in g.index
    assert g.at["duong_pho", "count"] == g.at["trat_tu_xa_hoi", "count"] == wards.total["count"]
    with pytest.raises(InputError, match="không có cấp quận, huyện"):
        rp.report(eng, boundary="hcmc-2025", period=period, level="district")
    with pytest.raises(InputError, match="'nope'"):
        rp.report(eng, boundary="hcmc-2019", period=period, units=["nope"])


def test_administrative_order_numbers_the_units_by_code(eng):
    codes = _go_vap(eng)
    rep = rp.report(eng, boundary="hcmc-2019", period=pr.parse_period("2025-Q1"), units=codes, order="admin")
    assert rep.units["code"].tolist() == codes and rep.units["stt"].tolist() == list(range(1, 17))
    assert rep.matrix["code"].tolist() == codes


def _selection_with_changes(eng, spec="2025-H1:stat") -> list[str]:
    """The Gò Vấp wards and the wards of the version whose change is significant."""
    whole = rp.report(eng, boundary="hcmc-2019", period=pr.parse_period(spec))
    sig = whole.units.loc[whole.units["change_class"] != "no_significant_change", "code"].tolist()
    assert sig, "the demo data hold significant changes"
    return sorted(set(_go_vap(eng)) | set(sig))


def test_page_leads_with_the_answer_totals_and_subtotals(demo_app, eng):
    codes = _go_vap(eng)
    q = "boundary=hcmc-2019&period=2025-H1&cut=stat" + "".join(f"&unit={c}" for c in codes)
    html = signed_in(demo_app, "analyst").get(f"/committee/report?{q}").get_data(as_text=True)
    rep = rp.report(eng, boundary="hcmc-2019", period=pr.parse_period("2025-H1:stat"),
                    units=codes)
    social = rep.groups.set_index("group").loc["trat_tu_xa_hoi"]
    summary = html.split('id="report-total">')[1].split("</p>")[0]
    assert summary.startswith("Trong 6 tháng đầu năm 2025 (từ ngày 15/12/2024 đến ngày 14/06/2025), trên địa bàn "
                              f"{GO_VAP} xảy ra {format.number(social['count'], 0)} vụ tội phạm về trật tự xã hội")
    assert f"tổng số {format.number(rep.total['count'], 0)} vụ việc" in summary
    assert summary.index("trật tự xã hội") < summary.index("tổng số") < summary.index("ma túy")
    assert "Tổng hợp theo" in html
    assert '<table class="data sortable" id="report-units">' in html
    units = html.split('id="report-units">')[1].split("</table>")[0]
    assert units.count('class="total"') == 1 and units.count('class="subtotal"') == 4
    assert "Toàn địa bàn" in units and "Trong đó: Tội phạm về trật tự xã hội" in units
    assert 'id="report-matrix"' in html and html.split('id="report-matrix"')[1].count("<tr data-code") == 17
    for code in codes:  # the shared area control keeps the chosen units ticked
        assert f'name="unit" value="{code}" checked>' in html
    assert "Significant" not in html and "same period" not in html


def test_files_xlsx_and_both_csvs_agree(demo_app, eng):
    codes = _go_vap(eng)
    q = "boundary=hcmc-2019&period=2025-Q1" + "".join(f"&unit={c}" for c in codes)
    c = signed_in(demo_app, "analyst")
    wb = load_workbook(io.BytesIO(c.get(f"/committee/report.xlsx?{q}").data))
    assert wb.sheetnames == ["Theo đơn vị", "Theo loại tội phạm", "Ma trận", "Chi tiết"]
    ws = wb["Theo đơn vị"]
    head = {ws.cell(row=r, column=1).value: ws.cell(row=r, column=2).value for r in range(2, rp.XLSX_HEADER_ROWS + 1)}
    assert head["Kỳ báo cáo"] == "Quý I/2025 (01/01/2025 – 31/03/2025)"
    assert head["Cùng kỳ"] == "Quý I/2024 (01/01/2024 – 31/03/2024)"
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", head["Ngày lập"]) and head["Địa bàn báo cáo"] == GO_VAP
    assert "hcmc" not in head["Phiên bản ranh giới"] and head["Loại tội phạm"] == "Tất cả loại tội phạm"
    cols = [cell.value for cell in ws[rp.XLSX_TABLE_ROW]]
    assert cols[:6] == ["STT", "Mã", "Phường, xã", "Quận, huyện / tỉnh, thành phố", "Vụ việc", "Cùng kỳ"]
    xl = pd.DataFrame(list(ws.iter_rows(min_row=rp.XLSX_TABLE_ROW + 1, values_only=True)), columns=cols)
    assert len(xl) == 16 + 1 + 4 and xl["STT"].tolist()[:16] == list(range(1, 17))
    assert xl["Phường, xã"].tolist()[16:18] == ["Toàn địa bàn", "Trong đó: Tội phạm về trật tự xã hội"]
    rep = rp.report(eng, boundary="hcmc-2019", period=pr.parse_period("2025-Q1"), units=codes)
    assert xl["Vụ việc"].tolist()[16] == rep.total["count"] == sum(xl["Vụ việc"][:16])
    assert ws.cell(row=rp.XLSX_TABLE_ROW + 17, column=5).font.b
    excel = pd.read_csv(io.BytesIO(c.get(f"/committee/report.excel.csv?{q}").data), sep=";", decimal=",",
                        encoding="utf-8-sig", dtype={"Mã": str})
    machine = pd.read_csv(io.BytesIO(c.get(f"/committee/report.csv?{q}").data), encoding="utf-8-sig",
                          dtype={"Mã": str})
    for csv_table in (excel, machine):
        assert len(csv_table) == len(xl) and csv_table["Mã"].tolist() == xl["Mã"].tolist()
        for col in ("Vụ việc", "Cùng kỳ", "Tăng, giảm", "Đã điều tra khám phá"):
            assert csv_table[col].tolist() == xl[col].tolist(), col
        assert_allclose(csv_table["Tăng, giảm (%)"].astype(float), xl["Tăng, giảm (%)"].astype(float), equal_nan=True)
        assert_allclose(csv_table["Tỷ lệ điều tra khám phá (%)"].astype(float),
                        (100 * xl["Tỷ lệ điều tra khám phá"].astype(float)).round(2), equal_nan=True)
    mx = wb["Ma trận"]
    mcols = [cell.value for cell in mx[rp.XLSX_TABLE_ROW]]
    assert mcols[3:6] == ["Tội phạm về trật tự xã hội: Vụ việc", "Tội phạm về trật tự xã hội: Cùng kỳ",
                          "Tội phạm về trật tự xã hội: Tăng, giảm"]
    assert mx.max_row - rp.XLSX_TABLE_ROW == 17


def _msgid_phrases(module_file) -> list[str]:
    """The fixed English words of the report's texts (msgids without their placeholders)."""
    with open(module_file, "rb") as fh:
        ids = [m[1] for m in extract("python", fh, keywords={"_": None, "N_": None, "gettext": None})]
    out = []
    for mid in ids:
        for piece in re.split(r"%\(\w+\)s|[().,;:]", mid):
            if len(piece.split()) >= 2:
                out.append(piece.strip())
    return out


def test_signed_report_pdf_and_docx(demo_app, eng):
    codes = _selection_with_changes(eng)
    q = "boundary=hcmc-2019&period=2025-H1&cut=stat" + "".join(f"&unit={c}" for c in codes)
    c = signed_in(demo_app, "analyst")
    rep = rp.report(eng, boundary="hcmc-2019", period=pr.parse_period("2025-H1:stat"), units=codes)
    res = c.get(f"/committee/report.pdf?{q}")
    assert res.status_code == 200 and res.data.startswith(b"%PDF")
    out = " ".join(subprocess.run(["pdftotext", "-", "-"], input=res.data, capture_output=True,
                                  check=True).stdout.decode().split())
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in out and "Độc lập - Tự do - Hạnh phúc" in out
    assert "BÁO CÁO" in out and "Tình hình tội phạm 6 tháng đầu năm 2025 so với cùng kỳ năm 2024" in out
    assert "Số: /BC-BCĐ" in out and "……, ngày" in out and "BAN CHỈ ĐẠO 138" in out and "Nơi nhận:" in out
    sig = rep.units[rep.units["change_class"] != "no_significant_change"]
    for name in sig["name"]:
        assert name in out, name
    increase = rep.units[rep.units["change_class"] == "significant_increase"]
    if len(increase):
        first = increase.iloc[0]
        assert f"tại: {first['name']} (+{format.number(first['change'], 0)} vụ)" in out, out[out.find("tại"):out.find("tại") + 300]
    t = rep.total
    total_row = (f"Toàn địa bàn {format.number(t['count'], 0)} {format.number(t['base_count'], 0)} "
                 f"{'+' if t['change'] > 0 else ''}{format.number(t['change'], 0)}")
    assert total_row in out
    s = rep.groups.set_index("group").loc["trat_tu_xa_hoi"]
    assert f"Trong đó: Tội phạm về trật tự xã hội {format.number(s['count'], 0)} {format.number(s['base_count'], 0)}" in out
    assert "Phụ lục 1" in out and "Phụ lục 2" in out and "Phụ lục 3" in out
    assert "Tỷ lệ điều tra khám phá đạt" in out and "(chỉ tiêu 70%," in out
    assert "hcmc-2019" not in out and "p =" not in out
    for phrase in _msgid_phrases(rp.__file__):
        assert phrase not in out, phrase

    res = c.get(f"/committee/report.docx?{q}")
    assert res.status_code == 200
    d = docx.Document(io.BytesIO(res.data))
    paras = [p.text for p in d.paragraphs]
    assert "BÁO CÁO" in paras
    appendix = next(tb for tb in d.tables if tb.rows[0].cells[0].text == "STT" and
                    any(r.cells[1].text == "Toàn địa bàn" for r in tb.rows) and len(tb.columns) > 8)
    assert len(appendix.rows) == 1 + len(codes) + 1 + len(rep.groups)
    total = next(r for r in appendix.rows if r.cells[1].text == "Toàn địa bàn")
    assert total.cells[3].text == format.number(t["count"], 0)


def test_viewers_get_groups_and_matrix_suppressed(demo_app, eng):
    with demo_app.test_request_context():
        rep = rp.report(eng, boundary="hcmc-2019", period=pr.parse_period("2025-Q1"), units=_go_vap(eng))
        safe = disclosure.report(rep, 5)
    small = rep.detail[(rep.detail["count"].between(1, 4)) | (rep.detail["base_count"].between(1, 4))]
    assert len(small)
    mx = safe.matrix.set_index("code")
    for u, cat in zip(small["unit_code"], small["category"]):
        assert mx.at[u, f"{cat}|count"] is None, (u, cat)
        for g, members in [(k, m) for k, _l, m in rep.matrix_keys if len(m) > 1]:
            if cat in members:
                assert mx.at[u, f"{g}|count"] is None, (u, g)
    shown = safe.matrix[[c for c in safe.matrix.columns if c.endswith("|count")]].map(
        lambda v: v is not None and 1 <= v < 5)
    assert not shown.to_numpy().any()
    html = signed_in(demo_app, "viewer").get(
        "/committee/report?boundary=hcmc-2019&period=2025-Q1" + "".join(f"&unit={c}" for c in _go_vap(eng))
    ).get_data(as_text=True)
    assert "&lt; 5" in html.split('id="report-matrix"')[1] or "dưới 5" in html.split('id="report-matrix"')[1]


def test_a_period_without_incidents_says_so_and_the_date_line_reads_as_the_decree_writes_it(eng):
    with pytest.raises(InputError, match="không có vụ việc nào"):
        rp.report(eng, boundary="hcmc-2019", period=pr.parse_period("2022-Q1"), units=_go_vap(eng))
    assert rp.place_date("Gò Vấp", dt.date(2025, 6, 15)) == "Gò Vấp, ngày 15 tháng 6 năm 2025"
    assert rp.place_date("", dt.date(2025, 2, 5)) == "……, ngày 05 tháng 02 năm 2025"
