"""The wheel installs a working service: built from a clean copy of the tree, installed in a
fresh venv outside the repository, its command line loads wards and incidents and its pages
come from the installed templates, static files and compiled catalogue."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("packaging")]  # one worker: the module's fixtures are built once

# Two wards around Bến Thành market; tests/data/incidents_good.csv has four points in them (V001 and V007 in the first, V002 and V003 in the second).
WARDS = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"code": "26734", "name": "Phường Bến Thành"},
     "geometry": {"type": "Polygon", "coordinates": [[[106.690, 10.765], [106.705, 10.765], [106.705, 10.776],
                                                      [106.690, 10.776], [106.690, 10.765]]]}},
    {"type": "Feature", "properties": {"code": "26740", "name": "Phường Sài Gòn"},
     "geometry": {"type": "Polygon", "coordinates": [[[106.690, 10.776], [106.705, 10.776], [106.705, 10.785],
                                                      [106.690, 10.785], [106.690, 10.776]]]}},
]}

PAGE = """
import sys
from server import create_app
app = create_app()
client = app.test_client()
auth = {"Authorization": "Bearer " + sys.argv[1]}
page = client.get("/map/overview", headers=auth)
css = client.get("/static/css/app.css", headers=auth)
print(page.status_code, css.status_code)
print(page.get_data(as_text=True))
"""


def run(cmd, cwd, env=None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the tracked (and new, not ignored) files."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy the source tree from")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    # Built as `pip install .` builds it: in an isolated environment with the build-system
    # requirements of pyproject.toml (setuptools >= 77 and babel), so the test checks them too.
    log = run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-v", "-w", str(tmp / "dist")], src)
    assert "SetuptoolsDeprecationWarning" not in log, log[-3000:]
    assert "License" not in "\n".join(line for line in log.splitlines() if "deprecat" in line.lower())
    (built,) = (tmp / "dist").glob("hotspot138-*.whl")
    return built


def test_wheel_holds_the_packages_and_files_under_geo(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("server.py", "web/cli.py", "geo/store/models.py", "geo/ingest/join.py", "geo/format.py",
                 "geo/committee/__init__.py", "clustering/projection.py",
                 "geo/_files/templates/base.html", "geo/_files/templates/committee/area.html",
                 "geo/_files/static/css/app.css", "geo/_files/migrations/env.py",
                 "geo/_files/translations/vi/LC_MESSAGES/messages.mo",
                 "geo/_files/data/boundaries/registry.json", "geo/_files/data/common_passwords.txt",
                 "geo/_files/data/boundaries/upstream/thanglequoc+vietnamese-provinces-database"
                 "@cd58063299585146ded3981f2272946ef19ced54.json",
                 "geo/_files/data/common_passwords.LICENSE", "hotspot138-0.1.0.dist-info/licenses/LICENSE"):
        assert name in names, name
    tops = {n.split("/")[0] for n in names}
    assert tops == {"server.py", "web", "geo", "clustering", "hotspot138-0.1.0.dist-info"}
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    meta = zipfile.ZipFile(wheel).read("hotspot138-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta


def test_installed_service_imports_loads_and_serves_a_map(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        tmp_path)
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path).strip())
    # the dependencies, from the environment running the tests; its .pth files (among them the
    # editable install of the repository) are not processed, and the venv's own site-packages,
    # with the installed wheel, comes first
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "dependencies.pth").write_text("\n".join(deps) + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    where = json.loads(run([str(python), "-c", "import json, server, geo, web, clustering, geo.resources as r; "
                            "print(json.dumps([server.__file__, geo.__file__, web.__file__, "
                            "clustering.__file__, str(r.resource('templates')), r.INSTALLED]))"], work, env))
    for path in where[:5]:
        assert Path(path).is_relative_to(site), path
    assert where[5] is True

    flask = [str(python), "-m", "flask", "--app", "server"]   # flask itself comes with the dependencies
    out = run([*flask, "init-db"], work, env)
    instance = venv / "var" / "server-instance"           # Flask's instance folder of an installed app
    assert f"sqlite:///{instance / 'hotspot.db'}" in out
    (work / "wards.geojson").write_text(json.dumps(WARDS), encoding="utf-8")
    run([*flask, "load-boundaries", "wards.geojson", "--name", "hcmc-2025"], work, env)
    out = run([*flask, "import-incidents", str(REPO / "tests" / "data" / "incidents_good.csv"), "--source", "pkg"],
              work, env)
    # the four points in the two wards; V004 and V005 name wards this layer lacks, V006 is in Hà Nội
    assert "Đã nhận 4, cập nhật 0, từ chối 3" in out, out  # the command line speaks Vietnamese by default
    run([*flask, "create-user", "lan", "--role", "analyst"], work, env)
    token = run([*flask, "create-token", "lan"], work, env).strip().splitlines()[-1]

    status, html = run([str(python), "-c", PAGE, token], work, env).split("\n", 1)
    assert status == "200 200", html[:2000]
    assert "Phường Bến Thành" in html and "Phường Sài Gòn" in html
    assert "Đăng xuất" in html                       # the compiled Vietnamese catalogue is used
    assert (instance / "hotspot.db").is_file() and not (work / "instance").exists()
