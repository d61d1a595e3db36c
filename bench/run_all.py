"""Run every benchmark of the project and print one table with the machine's description.

    python bench/run_all.py [--quick] [--only import,analysis,...]

Each benchmark runs as its own process (so that its memory is its own); this
script collects their last lines into one table. Sections: import (1M rows),
analysis (KDE, DBSCAN, Gi*), pages (overview page size and draw time),
forecast (PAI), sites (camera placement), load (50 clients), scale (dask batch path).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from goals import PREFIX, parse, table  # noqa: E402  (bench/ is not a package)

SECTIONS = {
    "import": (["import_1m.py"], ["import_1m.py", "--rows", "100000"]),
    "analysis": (["analysis.py"], ["analysis.py", "--quick"]),
    "pages": (["pages.py"], ["pages.py", "--rows", "100000"]),
    "forecast": (["forecast.py"], ["forecast.py", "--quick"]),
    "sites": (["sites.py"], ["sites.py", "--quick"]),
    "load": (["load.py"], ["load.py", "--rows", "100000", "--seconds", "15", "--clients", "20"]),
    "scale": (["scale.py"], ["scale.py", "--rows", "1000000"]),
}


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes in all")
    ap.add_argument("--only", default="", help="comma-separated sections")
    args = ap.parse_args()
    chosen = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    print(f"# Performance — {time.strftime('%Y-%m-%d')}\n\nMachine: {machine()}\n")
    failed, goals = [], []
    for name in chosen:
        cmd = SECTIONS[name][1 if args.quick else 0]
        script = HERE / cmd[0]
        if not script.exists():
            print(f"## {name}\n\n(not present)\n")
            continue
        t = time.perf_counter()
        done = subprocess.run([sys.executable, str(script), *cmd[1:]], capture_output=True, text=True)
        took = time.perf_counter() - t
        print(f"## {name} ({took:.0f} s{', exit ' + str(done.returncode) if done.returncode else ''})\n")
        lines = done.stdout.strip().splitlines()
        goals += parse(lines)
        print("```")
        print("\n".join([line for line in lines if not line.startswith(PREFIX)][-25:]))
        if done.returncode:
            print(done.stderr.strip().splitlines()[-5:] if done.stderr else "")
            failed.append(name)
        print("```\n")
    print("## Figures against their goals\n")
    print(table(goals))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
