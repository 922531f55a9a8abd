"""Throughput and memory of `python -m infra phase2` on large generated exports.

Generates gcloud-style exports (JSON arrays, newest first, ~1 KB per entry) of 100,000 and
1,000,000 entries with tests/data/generate_phase2_logs.py, then runs the report on each in a
fresh process and prints entries/s and the peak resident memory. Goal: >= 100,000 entries/s,
and a peak RSS that does not grow with the file (flat memory).

    .venv/bin/python bench/phase2_throughput.py [--sizes 100000 1000000] [--keep]

Files go to bench/out/ (ignored by git) and are deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

RUN = """
import json, resource, sys, time
from infra.logread import iter_entries, open_export
from infra.phase2 import Phase2Accumulator, Phase2Targets
start = time.perf_counter()
accumulator = Phase2Accumulator("emergence-app")
with open_export(sys.argv[1]) as stream:
    accumulator.add_all(iter_entries(stream))
read = time.perf_counter()
report = accumulator.report(Phase2Targets())
done = time.perf_counter()
print(json.dumps({
    "entries": accumulator.counts.read,
    "recognised": accumulator.counts.recognised,
    "read_seconds": read - start,
    "report_seconds": done - read,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "verdict": report.verdict,
}))
"""


def generate(entries: int, path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "data" / "generate_phase2_logs.py"),
            "--entries",
            str(entries),
            "--out",
            str(path),
        ],
        check=True,
        cwd=ROOT,
    )


def measure(path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        path = OUT / f"phase2-{size}.json"
        if not path.exists():
            started = time.perf_counter()
            generate(size, path)
            print(f"generated {path.name}: {path.stat().st_size / 2**20:.0f} MiB "
                  f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        result = measure(path)
        total = result["read_seconds"] + result["report_seconds"]
        result["entries_per_second"] = result["entries"] / total
        result["mib"] = path.stat().st_size / 2**20
        rows.append(result)
        if not args.keep:
            path.unlink()
    print()
    print(f"{'entries':>10} {'file MiB':>9} {'Phase 2 lines':>14} {'read s':>7} {'report s':>9} "
          f"{'entries/s':>10} {'peak RSS MiB':>13}")  # fmt: skip
    for r in rows:
        print(
            f"{r['entries']:>10,} {r['mib']:>9.0f} {r['recognised']:>14,} "
            f"{r['read_seconds']:>7.2f} {r['report_seconds']:>9.2f} "
            f"{r['entries_per_second']:>10,.0f} {r['peak_rss_mib']:>13.1f}"
        )
    slowest = min(r["entries_per_second"] for r in rows)
    print(f"\ngoal >= 100,000 entries/s: {'met' if slowest >= 100_000 else 'NOT met'} "
          f"(slowest run {slowest:,.0f}/s)")  # fmt: skip
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]
        print(f"peak RSS growth from {rows[0]['entries']:,} to {rows[-1]['entries']:,} entries: "
              f"{growth:+.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
