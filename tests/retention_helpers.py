"""Hypothesis strategies for revision sets, shared by the decision and provider tests.

A `Scenario` is what Cloud Run would answer: revisions (JSON, as the v2 API shapes them), the
service's traffic and statuses, its latest created/ready revisions, a pinned rollback target and
revisionsToKeep. `expected_protected()` computes the protected names straight from that raw data,
independently of `infra.rules.retention`, so the tests do not check the code with itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

PARENT = "projects/emergence-469005/locations/europe-west1/services/emergence-app"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
EPOCH = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
READY_STATES = {
    "ready": "CONDITION_SUCCEEDED",
    "failed": "CONDITION_FAILED",
    "in-progress": "CONDITION_RECONCILING",
    "pending": "CONDITION_PENDING",
    "no-condition": None,
}


@dataclass
class Scenario:
    revisions: list[dict[str, Any]]  # API JSON, in the order the API would list them
    traffic: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    latest_created: str
    latest_ready: str
    pinned: str
    keep: int
    kinds: dict[str, str] = field(default_factory=dict)  # name -> state kind drawn
    minutes: dict[str, int | None] = field(default_factory=dict)  # name -> createTime offset
    deleting: set[str] = field(default_factory=set)  # names with a deleteTime

    def service_json(self) -> dict[str, Any]:
        return {
            "name": PARENT,
            "traffic": self.traffic,
            "trafficStatuses": self.statuses,
            "latestCreatedRevision": f"{PARENT}/revisions/{self.latest_created}"
            if self.latest_created
            else "",
            "latestReadyRevision": f"{PARENT}/revisions/{self.latest_ready}"
            if self.latest_ready
            else "",
        }

    def names(self) -> list[str]:
        return [r["name"].rsplit("/", 1)[-1] for r in self.revisions]

    def expected_protected(self) -> set[str]:
        out = {self.latest_created, self.latest_ready, self.pinned} - {""}
        for target in [*self.traffic, *self.statuses]:
            name = target.get("revision") or (
                self.latest_ready if target.get("type") == LATEST else ""
            )
            if name and (target.get("percent", 0) > 0 or target.get("tag")):
                out.add(name)
        return out

    def ready_newest_first(self) -> list[str]:
        """Ready revisions with a readable time, newest first, ties in list order."""
        indexed = [
            (self.minutes[n], i, n)
            for i, n in enumerate(self.names())
            if self.kinds[n] == "ready" and self.minutes[n] is not None and n not in self.deleting
        ]
        return [n for _, _, n in sorted(indexed, key=lambda t: (-t[0], t[1]))]


def revision_json(
    name: str, kind: str, minute: int | None, deleting: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"{PARENT}/revisions/{name}",
        "uid": f"uid-{name}",
        "service": PARENT,
        "containers": [{"image": f"europe-west1-docker.pkg.dev/p/app/emergence-app@sha256:{name}"}],
        "reconciling": kind in ("in-progress", "pending", "no-condition"),
    }
    if minute is not None:
        when = EPOCH + dt.timedelta(minutes=minute, microseconds=123)
        data["createTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z"  # nanoseconds
    else:
        data["createTime"] = "not-a-time"
    state = READY_STATES[kind]
    if state:
        data["conditions"] = [{"type": "Ready", "state": state}]
    if deleting:
        data["deleteTime"] = "2025-04-01T00:00:00Z"
    return data


@st.composite
def scenarios(draw: st.DrawFn, max_revisions: int = 24, allow_odd: bool = True) -> Scenario:
    count = draw(st.integers(0, max_revisions))
    names = [f"emergence-app-{i:05d}-x{i % 7}" for i in range(1, count + 1)]
    kinds_pool = list(READY_STATES) if allow_odd else ["ready", "failed", "in-progress"]
    weights = st.sampled_from(["ready"] * 5 + ["failed"] * 2 + kinds_pool)
    kinds = {n: draw(weights) for n in names}
    # Mostly increasing creation times with occasional ties, and (when allowed) unreadable ones.
    minutes: dict[str, int | None] = {}
    clock = 0
    for n in names:
        clock += draw(st.integers(0 if allow_odd else 1, 3))
        unreadable = allow_odd and draw(st.integers(0, 30)) == 0
        minutes[n] = None if unreadable else clock
    deleting = {n for n in names if allow_odd and draw(st.integers(0, 25)) == 0}
    revisions = [revision_json(n, kinds[n], minutes[n], n in deleting) for n in names]
    revisions.reverse()  # the API lists newest first
    if allow_odd and draw(st.booleans()):
        revisions = draw(st.permutations(revisions))  # any order: the decision must sort

    def some_name() -> str:
        return draw(st.sampled_from(names)) if names else ""

    traffic = draw(_traffic(names))
    statuses = draw(_traffic(names)) if allow_odd and draw(st.booleans()) else traffic
    latest_created = some_name() if names and draw(st.integers(0, 5)) else ""
    ready_names = [n for n in names if kinds[n] == "ready"]
    latest_ready = draw(st.sampled_from(ready_names)) if ready_names else ""
    pinned = draw(st.sampled_from(["", "", "emergence-app-99999-gone", *names]))
    return Scenario(
        revisions=revisions,
        traffic=traffic,
        statuses=statuses,
        latest_created=latest_created,
        latest_ready=latest_ready,
        pinned=pinned,
        keep=draw(st.integers(1, 3)),
        kinds=kinds,
        minutes=minutes,
        deleting=deleting,
    )


@st.composite
def _traffic(draw: st.DrawFn, names: list[str]) -> list[dict[str, Any]]:
    if not names:
        return [{"type": LATEST, "percent": 100}]
    targets = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    with_latest = not targets or draw(st.booleans())
    slots = len(targets) + (1 if with_latest else 0)
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=slots - 1, max_size=slots - 1)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    out: list[dict[str, Any]] = []
    if with_latest:
        out.append({"type": LATEST, "percent": shares.pop()})
    for name in targets:
        target: dict[str, Any] = {"type": REVISION, "revision": name, "percent": shares.pop()}
        if draw(st.integers(0, 3)) == 0:
            target["tag"] = f"t{len(out)}"
        out.append(target)
    for target in out:
        if not target["percent"]:
            del target["percent"]  # JSON omits zero
    return out
