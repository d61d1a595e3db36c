"""The boundary sets the service ships with: the registry, where each prepared file comes from, loading.

A prepared file (``data/boundaries/registry.json``: name, file, sha256) is taken, in this order,
from the cache folder, from ``BOUNDARY_SOURCE_DIR``, or rebuilt from the upstream repository:
the upstream files it needs are downloaded with pooch (each pinned by its sha256 in the manifest
``data/boundaries/upstream/<owner>+<name>@<commit>.json``), the recipe of :mod:`geo.ingest.recipes`
runs, and the result is kept only if its sha256 is the registry's. Nothing is loaded from a file
whose hash differs. For closed networks, :func:`export_bundle` writes the prepared files into a
ZIP and :func:`load_bundle` checks and loads one.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pooch
import requests
from sqlalchemy.engine import Engine

from geo.errors import InputError
from geo.format import N_, number
from geo.format import gettext as _
from geo.ingest import recipes
from geo.ingest.boundaries import FieldMap, read_layer, save_crosswalk, save_version
from geo.ingest.parsing import check_zip, sha256_of
from geo.resources import resource
from geo.store.queries import versions

REGISTRY_DIR = resource("data", "boundaries")
REGISTRY_FILE = REGISTRY_DIR / "registry.json"
UPSTREAM_DIR = REGISTRY_DIR / "upstream"
BUNDLE_MANIFEST = "manifest.json"
DOWNLOAD_THREADS = 8
pooch.get_logger().setLevel("WARNING")  # one progress line per 200 files instead of one per file

OFFLINE_HINT = N_(
    "Without the Internet: set BOUNDARY_SOURCE_DIR to a folder holding the prepared files, or load a "
    "bundle made on another machine with: flask --app server load-boundaries-bundle FILE.zip "
    "(made there with: flask --app server export-boundaries FILE.zip).")


def registry() -> dict:
    return json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))


def set_names(spec: str | list[str] | None) -> list[str]:
    """The sets ``BOUNDARY_SETS`` names (``all``, or a comma list), in the order given; checked."""
    known = [s["name"] for s in registry()["sets"]]
    if spec is None or spec == "all" or spec == ["all"]:
        return known
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(_("BOUNDARY_SETS: unknown boundary set %(names)s; choose among %(known)s, or all.",
                           names=", ".join(unknown) or "''", known=", ".join(known)))
    return names


def manifest_file(repo: str, commit: str) -> Path:
    return UPSTREAM_DIR / f"{repo.replace('/', '+')}@{commit}.json"


def upstream_manifest(repo: str, commit: str, manifest: str | Path | None = None) -> dict[str, str]:
    """Path → sha256 of every file of the upstream commit (the pinned manifest unless ``manifest``)."""
    path = Path(manifest) if manifest else manifest_file(repo, commit)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("repo") != repo or data.get("commit") != commit:
        raise InputError(_("%(file)s is the manifest of %(repo)s@%(commit)s, not of %(want)s.", file=path,
                           repo=data.get("repo"), commit=data.get("commit"), want=f"{repo}@{commit}"))
    return data["files"]


def _entries(names: list[str], ends: list[str] | None = None) -> list[dict]:
    """The registry entries of the sets ``names``, then the crosswalks that touch one of them and whose
    two ends are in ``ends`` (default: ``names``)."""
    reg = registry()
    ends = names if ends is None else ends
    sets = [s for s in reg["sets"] if s["name"] in names]
    return sets + [c for c in reg["crosswalks"] if c["old"] in ends and c["new"] in ends
                   and (c["old"] in names or c["new"] in names)]


def _good(path: Path, entry: dict) -> bool:
    return path.is_file() and sha256_of(path) == entry["sha256"]


def prepare(names: list[str], *, ends: list[str] | None = None, source_dir: str | Path | None, cache_dir: str | Path | None = None,
            mirror_url: str | None = None, manifest: str | Path | None = None,
            progress: Callable[[str], None] = lambda s: None) -> dict[str, Path]:
    """The hash-checked prepared file of every chosen set and crosswalk: file name → path.

    A file already in ``cache_dir`` or ``source_dir`` with the registry's sha256 is used as it is;
    otherwise it is rebuilt from upstream into ``cache_dir`` (see the module docstring).
    Raises :class:`InputError` naming the file and what to do when none of this works.
    """
    cache = Path(cache_dir) if cache_dir else None
    found = {}
    for entry in _entries(names, ends):
        here = [d / entry["file"] for d in (cache, Path(source_dir) if source_dir else None) if d]
        good = next((p for p in here if _good(p, entry)), None)
        if good is None:
            good = _rebuild(entry, here, cache, mirror_url, manifest, progress)
        found[entry["file"]] = good
    return found


def _rebuild(entry: dict, looked: list[Path], cache: Path | None, mirror_url, manifest, progress) -> Path:
    bad = [p for p in looked if p.is_file()]
    if bad:
        why = _("%(file)s: sha256 is %(digest)s, expected %(expected)s; the file is not the registered "
                "version.", file=bad[0], digest=sha256_of(bad[0]), expected=entry["sha256"])
    else:
        why = _("Boundary file %(file)s not found in %(folders)s.", file=entry["file"],
                folders=", ".join(str(p.parent) for p in looked) or "—")
    up = entry.get("upstream")
    if up is None or cache is None:
        raise InputError(why + " " + _("This set cannot be rebuilt from its source; it comes only as a "
                                       "prepared file.") + " " + _(OFFLINE_HINT))
    progress(why + " " + _("Rebuilding %(file)s from %(repo)s@%(commit)s.", file=entry["file"],
                           repo=up["repo"], commit=up["commit"][:7]))
    files = upstream_manifest(up["repo"], up["commit"], manifest)
    need = recipes.needed(sorted(files), up["params"])
    root = _download(up, files, need, cache, mirror_url, progress, manifest or manifest_file(up["repo"], up["commit"]))
    data = recipes.build(root, need, up["recipe"], up["params"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise InputError(_("%(file)s rebuilt from %(repo)s@%(commit)s has sha256 %(digest)s, expected "
                           "%(expected)s; nothing was loaded.", file=entry["file"], repo=up["repo"],
                           commit=up["commit"][:7], digest=digest, expected=entry["sha256"])
                         + " " + _(OFFLINE_HINT))
    dest = cache / entry["file"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)
    progress(_("%(file)s rebuilt, sha256 checked.", file=entry["file"]))
    return dest


def upstream_url(up: dict, path: str, mirror_url: str | None = None) -> str:
    """Where an upstream file is downloaded: the registry's template, or ``BOUNDARY_MIRROR_URL``/repo/commit/path."""
    if mirror_url:
        return f"{mirror_url.rstrip('/')}/{up['repo']}/{up['commit']}/{path}"
    return registry()["upstream_url"].format(repo=up["repo"], commit=up["commit"], path=path)


def _download(up: dict, files: dict[str, str], need: list[str], cache: Path, mirror_url, progress,
              manifest) -> Path:
    """Fetch ``need`` (pinned hashes) into the cache; a file already there with its hash is not fetched again."""
    root = cache / "upstream" / up["repo"].replace("/", "+") / up["commit"]
    fetcher = pooch.create(path=root, base_url="", retry_if_failed=2,
                           registry={p: "sha256:" + files[p] for p in need},
                           urls={p: upstream_url(up, p, mirror_url) for p in need})
    for folder in {(root / p).parent for p in need}:  # pooch's own makedirs races between threads
        folder.mkdir(parents=True, exist_ok=True)
    done = [0]

    def one(p):
        try:
            fetcher.fetch(p)
        except ValueError as exc:  # pooch: the downloaded file's hash differs from the pinned one
            raise InputError(_("%(url)s: the downloaded file's sha256 is not the one pinned in %(manifest)s; "
                               "nothing was loaded.", url=upstream_url(up, p, mirror_url), manifest=manifest)
                             + " " + _(OFFLINE_HINT)) from exc
        except (requests.RequestException, OSError) as exc:
            raise InputError(_("Cannot download %(url)s (%(error)s).", url=upstream_url(up, p, mirror_url),
                               error=type(exc).__name__) + " " + _(OFFLINE_HINT)) from exc
        done[0] += 1
        if done[0] % 200 == 0 or done[0] == len(need):
            progress(_("Upstream files: %(done)s of %(total)s.", done=number(done[0]), total=number(len(need))))

    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        list(pool.map(one, need))
    return root


def load_shipped(engine: Engine, source_dir: str | Path | None, *, names: list[str] | None = None,
                 cache_dir: str | Path | None = None, mirror_url: str | None = None,
                 manifest: str | Path | None = None, progress: Callable[[str], None] = lambda s: None) -> list[str]:
    """Prepare (:func:`prepare`) and store every chosen set not yet in the store; returns the names loaded.

    ``names`` defaults to every set of the registry. A crosswalk is stored when both its ends are.
    """
    names = set_names(names)
    have = {v.name for v in versions(engine)}
    todo = [n for n in names if n not in have]
    files = prepare(todo, ends=names, source_dir=source_dir, cache_dir=cache_dir, mirror_url=mirror_url,
                    manifest=manifest, progress=progress) if todo else {}
    return _store(engine, files, names, have)


def _store(engine: Engine, files: dict[str, Path], names: list[str], have: set[str]) -> list[str]:
    reg = registry()
    loaded = []
    for entry in reg["sets"]:
        if entry["name"] in have or entry["name"] not in names or entry["file"] not in files:
            continue
        areas = read_layer(files[entry["file"]], FieldMap.from_dict(entry["fields"]))
        save_version(engine, areas, entry["name"], title=entry["title"],
                     valid_from=entry["valid_from"], valid_to=entry["valid_to"],
                     source=entry["source"], licence=entry["licence"],
                     attribution=entry["attribution"], sha256=entry["sha256"])
        loaded.append(entry["name"])
    have = have | set(loaded)
    for cw in reg["crosswalks"]:
        if cw["file"] in files and cw["old"] in have and cw["new"] in have and (cw["old"] in loaded or
                                                                                 cw["new"] in loaded):
            save_crosswalk(engine, files[cw["file"]], cw["old"], cw["new"])
    return loaded


# --------------------------------------------------------------------------- bundles for closed networks

def export_bundle(path: str | Path, names: list[str], *, source_dir, cache_dir, mirror_url=None,
                  progress: Callable[[str], None] = lambda s: None) -> list[str]:
    """Write the prepared files of ``names`` (and their crosswalks) and a manifest into the ZIP ``path``."""
    files = prepare(names, source_dir=source_dir, cache_dir=cache_dir, mirror_url=mirror_url, progress=progress)
    entries = _entries(names)
    manifest = {"sets": names, "files": [{"file": e["file"], "sha256": e["sha256"]} for e in entries]}
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(BUNDLE_MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
        for e in entries:
            z.write(files[e["file"]], e["file"])
    tmp.replace(path)
    return [e["file"] for e in entries]


def load_bundle(engine: Engine, path: str | Path, *, cache_dir: str | Path) -> list[str]:
    """Check every file of a bundle against the registry, keep them in ``cache_dir``, store its sets."""
    path = Path(path)
    check_zip(path, path.name)
    by_file = {e["file"]: e for e in registry()["sets"] + registry()["crosswalks"]}
    with zipfile.ZipFile(path) as z:
        try:
            manifest = json.loads(z.read(BUNDLE_MANIFEST))
        except (KeyError, ValueError) as exc:
            raise InputError(_("%(name)s: no readable %(manifest)s; make the bundle with: flask --app server "
                               "export-boundaries FILE.zip", name=path.name, manifest=BUNDLE_MANIFEST)) from exc
        members = [m for m in z.namelist() if m != BUNDLE_MANIFEST]
        unknown = [m for m in members if m not in by_file]
        if unknown:
            raise InputError(_("%(name)s: %(files)s is not a file of data/boundaries/registry.json.",
                               name=path.name, files=", ".join(unknown)))
        with tempfile.TemporaryDirectory() as tmp:
            for m in members:
                out = Path(tmp) / m
                with z.open(m) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                digest = sha256_of(out)
                if digest != by_file[m]["sha256"]:
                    raise InputError(_("%(name)s: %(file)s has sha256 %(digest)s, expected %(expected)s; nothing "
                                       "was loaded.", name=path.name, file=m, digest=digest,
                                       expected=by_file[m]["sha256"]))
            cache = Path(cache_dir)
            cache.mkdir(parents=True, exist_ok=True)
            for m in members:
                shutil.copyfile(Path(tmp) / m, cache / (m + ".part"))
                (cache / (m + ".part")).replace(cache / m)
    names = [s["name"] for s in registry()["sets"] if s["file"] in members]
    have = {v.name for v in versions(engine)}
    return _store(engine, {m: Path(cache_dir) / m for m in members}, names, have)
