"""Where the service's files are: templates, static, translations, migrations and data.

The repository keeps them at its top (templates/, static/, …); a built wheel carries the same
tree as ``geo/_files/`` (see setup.py), so nothing generic lands at the top of site-packages.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
#: True in an installed wheel, False in a source checkout (or an editable install of one).
INSTALLED = (_PACKAGE / "_files").is_dir()
ROOT = _PACKAGE / "_files" if INSTALLED else _PACKAGE.parent


def resource(*parts: str) -> Path:
    """The path of a shipped file or folder, e.g. ``resource("data", "boundaries")``."""
    return ROOT.joinpath(*parts)
