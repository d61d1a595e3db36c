"""Where the service's files are: templates, static, translations, migrations and data."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def resource(*parts: str) -> Path:
    """The path of a shipped file or folder, e.g. ``resource("data", "boundaries")``."""
    return ROOT.joinpath(*parts)
