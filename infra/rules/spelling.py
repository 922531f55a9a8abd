"""Did-you-mean for names typed by hand (stack keys): the closest known name, or None.

The Pulumi CLI suggests a project attribute within a Levenshtein distance of 2, compared
without case (findClosestKey in sdk/go/common/workspace/project.go). Setting names are longer
(`phase2CacheHitRateExpectedMaxPercent`), so the distance allowed here grows with the name: 2,
or a quarter of its length. Ties go to the first name in alphabetical order, as in the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute: 1 each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `name` (case-insensitive), if near enough to be a typo."""
    limit = max(2, len(name) // 4)
    best: tuple[int, str] | None = None
    for candidate in sorted(known):
        d = distance(name.lower(), candidate.lower())
        if d <= limit and (best is None or d < best[0]):
            best = (d, candidate)
    return best[1] if best else None
