"""Time one full evaluation of the program under Pulumi's mocks (goal: under 2 s).

Prints the cold figure (fresh interpreter: imports + first evaluation, what `python -m infra
plan` and the first test pay) and the warm one (later evaluations in the same process).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD = """
import time
t = time.perf_counter()
from infra.mockrun import evaluate
ev = evaluate("prod", secrets={"smtpPassword": "bench"})
print(time.perf_counter() - t, len(ev.custom()))
"""


def main() -> None:
    colds = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", COLD], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        colds.append(float(out[0]))
        resources = int(out[1])
    from infra.mockrun import evaluate

    evaluate("prod", secrets={"smtpPassword": "bench"})
    warms = []
    for _ in range(10):
        t = time.perf_counter()
        evaluate("prod", secrets={"smtpPassword": "bench"})
        warms.append(time.perf_counter() - t)
    print(f"resources declared:                 {resources}")
    print(f"cold evaluation (imports + program): median {statistics.median(colds):.3f} s")
    print(f"warm evaluation (program only):      median {statistics.median(warms):.3f} s")
    verdict = "met" if statistics.median(colds) < 2 else "NOT met"
    print(f"goal: one full evaluation under 2 s: {verdict}")


if __name__ == "__main__":
    main()
