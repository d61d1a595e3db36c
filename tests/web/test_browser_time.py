"""In Chromium, an analyst steps and plays the month slider of the overview (the units take the month's
colours and the label names the month) and limits the map to the night hours."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import STATE_TIMEOUT_MS, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only, pytest.mark.reads_demo]

FILLS = "() => { const out = {}; HS.units.eachLayer(l => { out[l.feature.properties.code] = l.options.fillColor; }); return out; }"


def test_play_the_month_slider_and_filter_by_hour(page, demo_server):
    expect.set_options(timeout=STATE_TIMEOUT_MS)  # wait for the page's state, however busy the machine
    sign_in(page, demo_server, "analyst")
    page.goto(demo_server + "/map/overview?boundary=hcmc-2025&period=2025")
    slider = page.locator("#month-slider")
    expect(slider).to_be_visible()
    label = page.locator("#month-label")
    expect(label).to_have_text("Cả kỳ")
    own = page.evaluate(FILLS)
    months = page.evaluate("() => fetch(document.getElementById('month-slider').dataset.url).then(r => r.json())")

    # by keyboard: the first month, then the next one
    page.focus("#month-range")
    page.keyboard.press("Home")
    expect(label).to_have_text("Tháng 01/2025")
    first = page.evaluate(FILLS)
    assert first != own
    # the colours are the month's own counts in the one classification over all months
    totals = [sum(m[j] for m in months["counts"]) for j in range(len(months["codes"]))]
    i = totals.index(max(totals))  # the busiest unit
    code = months["codes"][i]

    def colour(v):
        if v is None:
            return months["no_data"]
        if v == 0:
            return months["zero"]
        return next((c for b, c in zip(months["bins"], months["colours"]) if v <= b), months["colours"][-1])
    assert first[code] == colour(months["counts"][0][i])
    page.keyboard.press("ArrowRight")
    expect(label).to_have_text("Tháng 02/2025")
    assert page.evaluate(FILLS)[code] == colour(months["counts"][1][i])

    # play: the slider moves on by itself to the next month; pause stops it
    page.click("#month-play")
    expect(page.locator("#month-play")).to_have_attribute("aria-pressed", "true")
    expect(label).to_have_text("Tháng 03/2025")
    page.click("#month-play")
    expect(page.locator("#month-play")).to_have_attribute("aria-pressed", "false")
    page.click("#month-all")
    expect(label).to_have_text("Cả kỳ")
    assert page.evaluate(FILLS) == own
    screenshot(page, "month_slider")

    # the night hours: the heading names them, the note counts what has no time, the table shows no
    # incident in the afternoon
    page.select_option("#hour-from", "22")
    page.select_option("#hour-to", "4")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#period-label")).to_contain_text("22h–5h")
    expect(page.locator("#untimed-note")).to_contain_text("không rõ giờ xảy ra")
    page.wait_for_selector("#hours-table table.hours")
    afternoon = page.evaluate("""() => [...document.querySelectorAll('#hours-table tbody tr')].map(
        tr => [...tr.querySelectorAll('td')].slice(15, 22).map(td => td.dataset.value))""")
    assert len(afternoon) == 7 and all(v == "0" for row in afternoon for v in row)
    assert page.console_errors == [] and page.foreign_requests == []
