"""Time and peak memory of the commands against hostile input: the figures behind the README's
"Bounds on hostile input".

    .venv/bin/python bench/hostile_inputs.py [--budget 5]

Each case runs the real command (`python -m infra verify` or `phase2 --metrics`) in a
subprocess against a peer on 127.0.0.1 (tests/hostile_helpers.py) or a file, and prints its exit
status, wall time, peak resident memory (the child's own, from wait4) and its last line. For
comparison, "baseline" is the same command against a well-behaved peer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_helpers import (  # after the path fix: run as a script
    answer,
    deep_json,
    drip_body,
    endless_body,
    endless_continue,
    gzip_bomb,
    peer,
    trickle_headers,
)

HEALTH = "health /api/health 200 json status=healthy"
METRICS = "metrics /api/metrics 200 prometheus"


def measure(argv: list[str]) -> tuple[int, float, float, str]:
    """(exit status, seconds, peak RSS in MB, last output line) of one command."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    lines = output.decode("utf-8", "replace").strip().splitlines() or [""]
    return proc.returncode, seconds, usage.ru_maxrss / 1024, lines[-1][:90]


def metrics_text(megabytes: float, families: bool) -> bytes:
    """Prometheus text of about `megabytes` MB: one family of many samples, or many families."""
    if families:
        lines, size, i = [], 0, 0
        while size < megabytes * 1e6:
            line = f"m{i} 1\n"
            lines.append(line)
            size += len(line)
            i += 1
        return "".join(lines).encode()
    line = 'a{x="1"} 1\n'
    return ("# TYPE a gauge\n" + line * int(megabytes * 1e6 / len(line))).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0, help="verify --budget (5)")
    args = parser.parse_args()
    budget = str(args.budget)
    verify = ["verify", "--no-admin", "--attempts", "4", "--budget", budget]
    bomb = gzip_bomb(1024)
    gz = "Content-Encoding: gzip\r\n"
    cases: list[tuple[str, object, list[str]]] = [
        ("baseline: health JSON", answer(b'{"status": "healthy"}'), [*verify, "--check", HEALTH]),
        ("header bytes every 0.5 s", trickle_headers, [*verify, "--check", HEALTH]),
        ("body dripping under Content-Length", drip_body, [*verify, "--check", HEALTH]),
        ("endless 100 Continue", endless_continue, [*verify, "--check", HEALTH]),
        ("endless chunked body", endless_body, [*verify, "--check", METRICS]),
        (
            f"gzip bomb {len(bomb) / 1e6:.1f} MB -> 1 GB",
            answer(bomb, extra_headers=gz),
            [*verify, "--check", METRICS],
        ),
        ("JSON nested 1,000 deep", answer(deep_json(1000)), [*verify, "--check", HEALTH]),
        ("metrics 8 MB, one family", answer(metrics_text(8, False)), [*verify, "--check", METRICS]),
        (
            "metrics 2 MB (under the limit), 1 family",
            answer(metrics_text(2.0, False)),
            [*verify, "--check", METRICS],
        ),
        (
            "metrics 2 MB (under the limit), 2e5 fam.",
            answer(metrics_text(2.0, True)),
            [*verify, "--check", METRICS],
        ),
    ]
    print(f"{'case':44} {'exit':>4} {'seconds':>8} {'peak MB':>8}  last line")
    for name, behaviour, argv in cases:
        with peer(behaviour) as url:
            code, seconds, rss, last = measure([argv[0], url, *argv[1:]])
        print(f"verify {name:37} {code:4} {seconds:8.2f} {rss:8.0f}  {last}")

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.jsonl"
        export.write_text("")
        phase2 = ["phase2", "--file", str(export), "--metrics"]
        sources = [
            ("/dev/zero", None, "/dev/zero"),
            ("endless URL", endless_body, "{url}/api/metrics"),
            (
                f"gzip bomb {len(bomb) / 1e6:.1f} MB -> 1 GB",
                answer(bomb, extra_headers=gz),
                "{url}/api/metrics",
            ),
            ("header bytes every 0.5 s", trickle_headers, "{url}/api/metrics"),
        ]
        for name, behaviour, source in sources:
            if behaviour is None:
                code, seconds, rss, last = measure([*phase2, source])
            else:
                with peer(behaviour) as url:
                    code, seconds, rss, last = measure([*phase2, source.format(url=url)])
            print(f"phase2 --metrics {name:27} {code:4} {seconds:8.2f} {rss:8.0f}  {last}")


if __name__ == "__main__":
    main()
