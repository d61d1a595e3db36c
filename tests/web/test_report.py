"""The cùng kỳ report: its figures against an independent count of the raw demo file, its page
(the answer first, totals and subtotals, plain words) and its files (XLSX, both CSVs, PDF, DOCX)."""
from __future__ import annotations

import datetime as dt
import io
import re
import subprocess

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import binomtest
from sqlalchemy import text

from geo import format
from geo import periods as pr
from geo.categories import CATEGORIES, GROUPS, SEVERITY, expand
from geo.committee import report as rp
from geo.errors import InputError
from geo.store.queries import load_areas
from tests.conftest import SHARED_BOUNDARIES, signed_in

GO_VAP = "Quận Gò Vấp"
BEN_THANH = "26743"
PERIODS = ("2025-Q1", "2025-H1:stat")


@pytest.fixture
def eng(demo_app):
    from geo.store.models import make_engine

    e = make_engine(demo_app.config["DATABASE_URL"])
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def raw(demo_template) -> pd.DataFrame:
    """The raw demo CSV read independently of the importer: local dates in Asia/Ho_Chi_Minh, the
    demo's category and severity labels back to codes, and the hcmc-2019 ward of each point
    (geopandas sjoin with the shipped polygons)."""
    df = pd.read_csv(demo_template.parent / "demo.csv", encoding="utf-8-sig")
    when = pd.to_datetime(df["Thời gian xảy ra"], format="%d/%m/%Y %H:%M").dt.tz_localize("Asia/Ho_Chi_Minh")
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


def test_smoke_page(demo_app, eng):
    c = signed_in(demo_app, "analyst")
    res = c.get(f"/committee/report?{_query(eng, '2025-H1:stat')}")
    html = res.get_data(as_text=True)
    assert res.status_code == 200, html[-3000:]
    open("/tmp/rep/page.html", "w").write(html)
    for fmt in ("xlsx", "csv", "excel.csv", "pdf", "docx"):
        res = c.get(f"/committee/report.{fmt}?{_query(eng, '2025-H1:stat')}")
        assert res.status_code == 200, res.get_data(as_text=True)[-3000:]
        open(f"/tmp/rep/report.{fmt}", "wb").write(res.data)
