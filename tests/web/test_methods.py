"""The registry of analysis methods: one rule for the API, the page forms and the README; defaults
from the settings; one data-version query per request."""
from __future__ import annotations

import re
from types import SimpleNamespace

import babel.numbers
import pytest
from flask import render_template_string
from flask_login import login_user
from sqlalchemy import event
from werkzeug.exceptions import Forbidden

from geo import analysis, methods
from geo.errors import InputError
from geo.ingest.importer import import_file
from server import create_app
from tests.conftest import (
    DATA,
    NOW,
    ROOT,  # noqa: E402
    signed_in,
)
from web import engine as web_engine
from web.args import method_args
from web.auth import Account

QUERY = "boundary=hcmc-2025&start=2024-01-01&end=2024-12-31"
VERSION_SQL = "(SELECT MAX(id) FROM boundary_version)"


@pytest.fixture
def bare_app(tmp_path):
    """An app whose store is never opened: argument checks and templates only."""
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}", "SECRET_KEY": "t"})


def as_role(role: str):
    login_user(Account(SimpleNamespace(id=1, username=role, role=role, full_name="", session_version=0)))


def test_the_readme_table_is_the_registry_and_the_command_prints_it(bare_app):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- methods: begin -->\n")[1].split("<!-- methods: end -->")[0]
    assert table == methods.markdown()
    out = bare_app.test_cli_runner().invoke(args=["methods"])
    assert out.exit_code == 0 and out.output == table
    # one row per parameter, with the defaults of the settings table
    assert "| `/api/v1/dbscan` | `eps` | float | m | automatic (`DBSCAN_EPS_M`) | > 0, ≤ 5000 | analysts |" in table
    assert table.count("\n") == 2 + sum(len(m.params) for m in methods.METHODS.values())


def test_defaults_are_the_settings_of_the_running_app(tmp_path, monkeypatch):
    assert methods.default("dbscan", "eps") is None  # no app: the declared fallback, automatic
    monkeypatch.setenv("DBSCAN_EPS_M", "175")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}", "SECRET_KEY": "t",
                      "HOTSPOT_PERMUTATIONS": 199, "KDE_KERNEL": "gaussian", "COMPLEX_SPOT_MIN_SAMPLES": 12})
    with app.test_request_context(f"/api/v1/dbscan?{QUERY}"):
        assert method_args("dbscan") == {"eps": 175.0, "min_samples": None, "method": "dbscan", "max_span": 1500.0}
        assert method_args("gistar") == {"permutations": 199}
        assert method_args("kde") == {"bandwidth": None, "cell": None, "kernel": "gaussian"}
        assert methods.METHODS["complex-spots"].keywords(method_args("complex-spots")) == \
            {"eps_m": 150.0, "min_samples": 12}


def _inputs(html: str) -> dict[str, dict[str, str]]:
    return {m["name"]: dict(re.findall(r'(\w+)="([^"]*)"', m["attrs"]))
            for m in re.finditer(r'<input type="number" name="(?P<name>\w+)"(?P<attrs>[^>]*)>', html)}


def _accepted(app, p, text: str) -> bool:
    with app.test_request_context(f"/?{p.name}={text}&lang=en"):
        as_role("analyst")
        try:
            method_args(next(m.name for m in methods.METHODS.values() if p in m.params))
        except InputError:
            return False
    return True


def test_the_form_offers_what_the_server_accepts(bare_app):
    """Every number parameter: the form's min and max are accepted by the server's check, one step
    beyond them is refused (an exclusive bound such as the radius' "above 0" included)."""
    numeric = [p for m in methods.METHODS.values() for p in m.params if p.kind in ("int", "float")]
    assert {p.name for p in numeric} == {"permutations", "eps", "min_samples", "bandwidth", "cell", "top", "min_count",
                                         "points_max", "max_span", "distance", "distance_bands", "days", "day_bands",
                                         "max_incidents", "k", "radius", "spacing", "gateway"}
    with bare_app.test_request_context("/"):
        html = render_template_string('{% from "_params.html" import param_inputs %}{{ param_inputs(ps) }}',
                                      ps=[(p, p.default) for p in numeric])
    for p in numeric:
        attrs = _inputs(html)[p.name]  # the last input of that name: the same rule for a repeated one
        step = float(attrs["step"])
        lo = float(attrs["min"])
        assert _accepted(bare_app, p, attrs["min"]) and not _accepted(bare_app, p, f"{lo - step:g}"), p
        if p.maximum is not None:
            hi = float(attrs["max"])
            assert _accepted(bare_app, p, attrs["max"]) and not _accepted(bare_app, p, f"{hi + step:g}"), p
        else:
            assert "max" not in attrs
    radius = _inputs(html)["eps"]
    assert (radius["min"], radius["max"], radius["value"]) == ("0.1", "5000", "150")  # complex spots' eps last


def test_messages_say_what_where_and_what_is_expected_in_the_users_language(bare_app):
    def error(query, role="analyst"):
        with bare_app.test_request_context("/api/v1/dbscan?" + query):
            as_role(role)
            with pytest.raises((InputError, Forbidden)) as exc:
                method_args("dbscan")
        return exc.value.description if isinstance(exc.value, Forbidden) else str(exc.value)

    five_thousand = babel.numbers.format_decimal(5000, locale="vi")
    assert five_thousand == "5.000"
    assert error("eps=-5") == "`eps` là '-5' nhưng phải lớn hơn 0."
    assert error("eps=6000") == f"`eps` là '6000' nhưng không được lớn hơn {five_thousand}."
    assert error("eps=6000&lang=en") == "`eps` was '6000' but must be at most 5,000."
    assert error("min_samples=2.5") == "`min_samples` là '2.5' nhưng phải là số nguyên."
    assert error("method=optics&lang=en") == "`method` was 'optics' but is expected to be one of dbscan, hdbscan."
    assert error("eps=100", role="committee") == "Chỉ cán bộ phân tích mới được đặt `eps`."


@pytest.fixture
def loaded_app(app, engine):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    return app


@pytest.mark.parametrize("url", [f"/api/v1/gistar?{QUERY}", f"/api/v1/dbscan?{QUERY}&min_samples=3",
                                 "/map/hotspots?boundary=hcmc-2025&period=2024"])
def test_one_request_reads_the_data_version_once(loaded_app, url):
    with loaded_app.app_context():
        eng = web_engine()
    statements = []
    event.listen(eng, "before_cursor_execute", lambda conn, cur, sql, *a: statements.append(sql))
    res = signed_in(loaded_app, "analyst").get(url)
    assert res.status_code == 200, res.get_data(as_text=True)[:500]
    assert sum(VERSION_SQL in s for s in statements) == 1
    assert len(statements) > 3  # the request did read the store: the listener sees every statement
    if url.startswith("/map/"):  # the analyst's form: the registry's bounds
        eps = _inputs(res.get_data(as_text=True))["eps"]   # empty: automatic (the value used as placeholder)
        assert {k: eps[k] for k in ("min", "max", "step", "value")} == {"min": "0.1", "max": "5000", "step": "0.1",
                                                                      "value": ""}
    # outside a request every call asks the store again (the listener counts each)
    statements.clear()
    with loaded_app.app_context():
        analysis.data_version(eng), analysis.data_version(eng)
    assert sum(VERSION_SQL in s for s in statements) == 2
