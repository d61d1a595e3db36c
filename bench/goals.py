"""One line per figure and its goal, for ``bench/run_all.py`` to gather into one table.

A benchmark calls :func:`goal` for each figure it measures against a goal; the line it prints starts
with ``GOAL`` and holds JSON, so the summary does not depend on the benchmark's own layout.
"""
from __future__ import annotations

import json

PREFIX = "GOAL "


def goal(figure: str, value: str, target: str, met: bool | None) -> None:
    """Print ``figure`` (what was measured), ``value`` (as measured, with its baseline in the same run),
    ``target`` (the goal in words) and whether it was ``met`` (None: no goal, a figure to read)."""
    print(PREFIX + json.dumps({"figure": figure, "value": value, "goal": target, "met": met}, ensure_ascii=False),
          flush=True)


def parse(lines) -> list[dict]:
    return [json.loads(line[len(PREFIX):]) for line in lines if line.startswith(PREFIX)]


def table(rows: list[dict]) -> str:
    """A Markdown table of the figures."""
    out = ["| figure | measured | goal | met |", "|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        cells = (str(c).replace("|", "\\|") for c in (r["figure"], r["value"], r["goal"]))
        out.append("| " + " | ".join(cells) + f" | {met} |")
    return "\n".join(out)
