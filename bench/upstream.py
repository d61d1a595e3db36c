"""The upstream boundary sources: write the pinned manifest, and check that the recipes reproduce the files.

    python bench/upstream.py manifest MIRROR [--commit C]   # data/boundaries/upstream/<owner>+<name>@<commit>.json
    python bench/upstream.py check MIRROR [--set NAME ...]  # rebuild each set from MIRROR, compare sha256

MIRROR is a git clone (bare or not) of the upstream repository, e.g.
/work/.mirror/thanglequoc+vietnamese-provinces-database/repo. The files are read with git (cat-file,
archive), so nothing is downloaded; ``check`` runs exactly the code of load-shipped-boundaries
(geo.ingest.recipes.build on the manifest's files).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.ingest import recipes  # noqa: E402
from geo.ingest.shipped import manifest_file, registry, upstream_manifest  # noqa: E402

REPO = "thanglequoc/vietnamese-provinces-database"
COMMIT = "cd58063299585146ded3981f2272946ef19ced54"


def git(mirror: str, *args: str, **kw) -> bytes:
    return subprocess.run(["git", "-C", mirror, *args], check=True, capture_output=True, **kw).stdout


def source_paths(mirror: str, commit: str) -> list[str]:
    """The files a recipe may read: the unit list and every per-ward GeoJSON."""
    listed = git(mirror, "ls-tree", "-r", "--name-only", commit, "json/").decode().splitlines()
    return [p for p in listed if p == recipes.UNIT_LIST] + recipes.ward_paths(listed, None)


def write_manifest(mirror: str, commit: str, repo: str = REPO) -> Path:
    paths = source_paths(mirror, commit)
    batch = subprocess.run(["git", "-C", mirror, "cat-file", "--batch"], check=True, capture_output=True,
                           input="".join(f"{commit}:{p}\n" for p in paths).encode()).stdout
    files, pos = {}, 0
    for p in paths:  # each answer: "<sha1> blob <size>\n<content>\n"
        nl = batch.index(b"\n", pos)
        size = int(batch[pos:nl].split()[2])
        files[p] = hashlib.sha256(batch[nl + 1:nl + 1 + size]).hexdigest()
        pos = nl + 1 + size + 1
    out = manifest_file(repo, commit)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repo": repo, "commit": commit, "files": files}, indent=0, sort_keys=True) + "\n",
                   encoding="utf-8")
    return out


def check(mirror: str, names: list[str] | None) -> bool:
    ok = True
    for entry in registry()["sets"]:
        if names and entry["name"] not in names:
            continue
        up = entry.get("upstream")
        if up is None:
            print(f"{entry['name']:24} bundle only (no upstream recipe)")
            continue
        files = upstream_manifest(up["repo"], up["commit"])
        need = recipes.needed(sorted(files), up["params"])
        with tempfile.TemporaryDirectory() as tmp:
            archive = git(mirror, "archive", up["commit"], *need)
            with tarfile.open(fileobj=io.BytesIO(archive)) as t:
                t.extractall(tmp, filter="data")
            bad = [p for p in need if hashlib.sha256((Path(tmp) / p).read_bytes()).hexdigest() != files[p]]
            if bad:
                print(f"{entry['name']:24} the mirror differs from the pinned manifest: {bad[:3]}")
                ok = False
                continue
            t0 = time.perf_counter()
            data = recipes.build(tmp, need, up["recipe"], up["params"])
        digest = hashlib.sha256(data).hexdigest()
        same = digest == entry["sha256"]
        ok &= same
        print(f"{entry['name']:24} {len(need):5} upstream files  {len(data):>11,} B  {time.perf_counter() - t0:6.1f} s  "
              f"{'identical' if same else 'DIFFERS ' + digest}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["manifest", "check"])
    ap.add_argument("mirror")
    ap.add_argument("--commit", default=COMMIT)
    ap.add_argument("--set", dest="names", action="append")
    a = ap.parse_args()
    if a.command == "manifest":
        print(write_manifest(a.mirror, a.commit))
    else:
        sys.exit(0 if check(a.mirror, a.names) else 1)


if __name__ == "__main__":
    main()
