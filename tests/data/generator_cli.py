"""The command line both log generators share (generate_phase2_logs.py, generate_realapp_logs.py).

    python tests/data/generate_<x>_logs.py            # rewrite the committed files
    python tests/data/generate_<x>_logs.py --check    # exit 1 if one is out of date
    python tests/data/generate_<x>_logs.py --entries N --out FILE [--layout L]   # bench input

A generator passes its own pieces; `written` names, for one committed file, every file `write`
makes beside it (the export, its truth, ...), so `--check` compares each with a fresh copy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def run(
    argv: list[str] | None,
    *,
    description: str,
    layouts: Sequence[str],
    out_dir: Path,
    committed: Mapping[str, Path],
    scenarios: Mapping[str, Any],
    write: Callable[..., Any],
    bench_scenario: Callable[[int, str], Any],
    written: Callable[[Path], Sequence[Path]],
) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="verify the committed files")
    parser.add_argument("--entries", type=int, help="bench mode: about this many entries")
    parser.add_argument("--layout", choices=tuple(layouts), default=layouts[0])
    parser.add_argument("--out", type=Path, help="bench mode: output file")
    args = parser.parse_args(argv)
    if args.entries:
        if args.out is None:
            parser.error("--entries needs --out")
        write(bench_scenario(args.entries, args.layout), args.out, with_truth=False)
        return 0
    out_dir.mkdir(exist_ok=True)
    stale = []
    for name, path in committed.items():
        target = path.with_name("check-" + path.name) if args.check else path
        write(scenarios[name], target)
        if args.check:
            for old in written(path):
                new = old.with_name("check-" + old.name)
                if not old.exists() or new.read_bytes() != old.read_bytes():
                    stale.append(old.name)
                new.unlink()
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)  # noqa: T201
        return 1
    return 0
