"""The unit panel (GET /api/v1/ward/<code>, templates/_unit_panel.html, static/js/panel.js): the months
of the period and of cùng kỳ, the categories and groups, the change in words, against a count of the
incidents table by pandas; suppression for viewers, p and q values for analysts only; and the panel
in Chromium."""
from __future__ import annotations

import pandas as pd
import pytest
from shapely.geometry import shape
from sqlalchemy import create_engine

from geo.categories import GROUPS
from tests.browser import screenshot, sign_in
from tests.conftest import signed_in

pytestmark = pytest.mark.reads_demo  # see tests/conftest.py demo_app

Q = "boundary=hcmc-2025&period=2025-H1"
WARD = "26833"  # Phường Long Bình


def incidents(app, boundary="hcmc-2025") -> pd.DataFrame:
    """Every incident with its unit in ``boundary`` and its local month, straight from the tables."""
    eng = create_engine(app.config["DATABASE_URL"])
    sql = ("SELECT i.local_date, i.category, a.code FROM incident i "
           "JOIN incident_area ia ON ia.incident_id = i.id JOIN area a ON a.id = ia.area_id "
           "JOIN boundary_version v ON v.id = ia.version_id WHERE v.name = %(b)s")
    with eng.connect() as conn:
        df = pd.read_sql(sql.replace("%(b)s", "'" + boundary + "'"), conn)
    eng.dispose()
    df["month"] = pd.to_datetime(df["local_date"]).dt.strftime("%Y-%m")
    return df


def as_text(n) -> str:
    """A count as a viewer reads it: "1.234", or "dưới 5" when it is not published."""
    return "dưới 5" if n is None else f"{n:,}".replace(",", ".")


def by_month(df, code, months):
    return df[df["code"] == code].groupby("month").size().reindex(months, fill_value=0).tolist()


def test_months_against_cung_ky_categories_and_words_equal_a_pandas_count(demo_app, demo_client):
    inc = incidents(demo_app)
    d = demo_client.get(f"/api/v1/ward/{WARD}?{Q}").get_json()
    now = [f"2025-{m:02d}" for m in range(1, 7)]
    then = [f"2024-{m:02d}" for m in range(1, 7)]
    assert [m["month"] for m in d["months"]] == now and [m["month"] for m in d["base_months"]] == then
    assert [m["count"] for m in d["months"]] == by_month(inc, WARD, now)
    assert [m["count"] for m in d["base_months"]] == by_month(inc, WARD, then)
    assert d["base_months"][0]["label"] == "Tháng 1/2024"
    assert (d["period_label"], d["base_label"]) == ("6 tháng đầu năm 2025", "Cùng kỳ 2024")

    mine = inc[(inc["code"] == WARD) & inc["month"].isin(now)]
    counts = mine["category"].value_counts()
    rows = d["category_rows"]
    assert [r["count"] for r in rows] == sorted(counts.tolist(), reverse=True)   # largest first
    assert {r["code"]: r["count"] for r in rows} == counts.to_dict()
    assert next(r for r in rows if r["code"] == "trom_cap_tai_san")["label"] == "Trộm cắp tài sản"
    groups = {g["code"]: g["count"] for g in d["groups"]}
    assert list(groups) == [g for g in ("trat_tu_xa_hoi", "duong_pho", "te_nan", "ma_tuy") if g in groups]
    assert groups["duong_pho"] == int(counts.reindex(list(GROUPS["duong_pho"][2])).fillna(0).sum())
    assert groups["ma_tuy"] == int(counts.get("ma_tuy", 0))

    k, b = len(mine), int(inc[(inc["code"] == WARD) & inc["month"].isin(then)].shape[0])
    verdict = {"significant_increase": "Tăng rõ rệt", "significant_decrease": "Giảm rõ rệt",
               "no_significant_change": "Không thay đổi rõ rệt"}[d["compare"]["change_class"]]
    change = f"{'tăng' if k > b else 'giảm'} {abs(k - b) / b * 100:.1f}%".replace(".", ",")
    assert d["compare"]["change_words"] == f"{verdict}: {b} → {k} vụ ({change}) so với cùng kỳ"
    assert 0 <= d["compare"]["p_value"] <= 1 and 0 <= d["compare"]["q_value"] <= 1   # analysts see them

    en = demo_client.get(f"/api/v1/ward/{WARD}?{Q}&lang=en").get_json()
    assert (en["period_label"], en["base_label"]) == ("First half of 2025", "Same period 2024")
    assert en["compare"]["change_words"].endswith(f"{b} → {k} incidents ({'up' if k > b else 'down'} "
                                                  f"{abs(k - b) / b * 100:.1f}%) against the same period last year")


def test_the_statistical_cut_of_the_page_is_the_panels(demo_app, demo_client):
    """period=2025-H1&cut=stat, as a map page sends it: 15/12/2024 – 14/06/2025 against
    15/12/2023 – 14/06/2024, month by month across the turn of the year."""
    inc = incidents(demo_app)
    days = pd.to_datetime(inc["local_date"])
    d = demo_client.get(f"/api/v1/ward/{WARD}?{Q}&cut=stat").get_json()
    now = ["2024-12"] + [f"2025-{m:02d}" for m in range(1, 7)]
    then = ["2023-12"] + [f"2024-{m:02d}" for m in range(1, 7)]
    assert [m["month"] for m in d["months"]] == now and [m["month"] for m in d["base_months"]] == then
    for key, months, first, last in (("months", now, "2024-12-15", "2025-06-14"),
                                     ("base_months", then, "2023-12-15", "2024-06-14")):
        part = inc[days.between(first, last)]
        assert [m["count"] for m in d[key]] == by_month(part, WARD, months)
    assert d["count"] == sum(m["count"] for m in d["months"])
    assert d["compare"]["base_count"] == sum(m["count"] for m in d["base_months"])
    assert d["base_label"] == "Cùng kỳ 2024"


def small_months(inc, now, then):
    """(category, ward) of the first category (by code) with a ward whose half-year totals are
    published (at least 10) and which has months of 1 to 4 incidents in both periods."""
    for cat in sorted(inc["category"].unique()):
        one = inc[inc["category"] == cat]
        for code in sorted(one["code"].unique()):
            a, b = by_month(one, code, now), by_month(one, code, then)
            if sum(a) >= 10 and sum(b) >= 10 and any(1 <= x < 5 for x in a) and any(1 <= x < 5 for x in b):
                return cat, code, one
    raise AssertionError("the demo store has no ward with small months")


def test_a_viewer_sees_small_months_suppressed_and_no_p_values(demo_app):
    now, then = [f"2025-{m:02d}" for m in range(1, 7)], [f"2024-{m:02d}" for m in range(1, 7)]
    cat, code, inc = small_months(incidents(demo_app), now, then)
    viewer = signed_in(demo_app, "viewer")
    d = viewer.get(f"/api/v1/ward/{code}?{Q}&category={cat}").get_json()
    assert "p_value" not in d["compare"] and "q_value" not in d["compare"]
    for key, months in (("months", now), ("base_months", then)):
        raw = by_month(inc, code, months)
        got = [m["count"] for m in d[key]]
        assert any(1 <= r < 5 for r in raw)
        for r, g in zip(raw, got):
            assert g is None if 1 <= r < 5 else g in (r, None)   # a small count is never shown raw
        assert got.count(None) != 1                              # one hidden month would follow from the total
    assert d["suppressed"] is True and d["suppressed_text"] == "dưới 5"
    analyst = signed_in(demo_app, "analyst").get(f"/api/v1/ward/{code}?{Q}&category={cat}").get_json()
    assert [m["count"] for m in analyst["base_months"]] == by_month(inc, code, then)
    # the page tells panel.js whether to write the "Chi tiết thống kê" line
    pages = {role: signed_in(demo_app, role).get(f"/map/overview?{Q}").get_data(as_text=True)
             for role in ("viewer", "analyst")}
    assert 'data-analyst=""' in pages["viewer"] and 'data-analyst="yes"' in pages["analyst"]
    assert all("/static/vendor/uplot/uPlot.iife.min.js" in html for html in pages.values())


@pytest.mark.browser
def test_the_panel_draws_the_months_against_cung_ky(page, demo_server, demo_app):
    viewer = signed_in(demo_app, "viewer")
    d = viewer.get(f"/api/v1/ward/{WARD}?{Q}").get_json()
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/overview?{Q}")
    page.wait_for_function("!!(window.wardPanel && window.uPlot && window.HS && HS.units)")
    # a real click on the ward: a point inside its polygon (shapely), zoomed to, on the screen
    inside = shape(next(f for f in viewer.get(f"/api/v1/areas?{Q}").get_json()["features"]
                        if f["properties"]["code"] == WARD)["geometry"]).representative_point()
    x, y = page.evaluate("""([code, lat, lon]) => {
        const layer = HS.units.getLayers().find(l => l.feature.properties.code === code);
        HS.map.getContainer().scrollIntoView({block: "center"});
        HS.map.fitBounds(layer.getBounds(), {animate: false});
        const p = HS.map.latLngToContainerPoint([lat, lon]), box = HS.map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""", [WARD, inside.y, inside.x])
    page.mouse.click(x, y)
    page.wait_for_selector(f"#ward-panel[data-code='{WARD}'] .panel-chart canvas")
    ticks = page.evaluate("wardPanel.chart.axes[0]._values")
    assert ticks == ["T1", "T2", "T3", "T4", "T5", "T6"]
    y = page.evaluate("wardPanel.chart.axes[1]._values")
    assert y and all(v.replace(".", "").isdigit() for v in y)
    legend = page.locator("#ward-panel .u-legend .u-series .u-label").all_inner_texts()
    assert legend == ["Tháng", "6 tháng đầu năm 2025", "Cùng kỳ 2024"]
    # the cursor on March: the legend reads that month's counts of both periods, as the viewer may see them
    page.evaluate("u => { const c = wardPanel.chart; c.setCursor({left: c.valToPos(2, 'x'), top: 10}); }", None)
    values = page.locator("#ward-panel .u-legend .u-series .u-value").all_inner_texts()
    assert values == ["Tháng 3/2025", as_text(d["months"][2]["count"]), as_text(d["base_months"][2]["count"])]
    cats = page.locator("#ward-panel ul.categories:not(.groups) li").all_inner_texts()
    assert cats == [f"{r['label']}: {as_text(r['count'])}" for r in d["category_rows"]]
    words = page.locator("#ward-panel .change-words").inner_text()
    assert words.endswith("so với cùng kỳ") and "p =" not in page.locator("#ward-panel").inner_text()
    report = page.get_by_role("link", name="Báo cáo của đơn vị này").get_attribute("href")
    assert report.startswith("/committee/report?") and f"unit={WARD}" in report and "period=2025-H1" in report
    screenshot(page, "unit_panel")
    assert page.console_errors == [] and page.foreign_requests == []
