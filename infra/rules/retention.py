"""Which Cloud Run revisions to keep and which to delete, and why. Pure: data in, verdict out.

Shared by the retention resource (`infra/providers/retention.py`), `python -m infra revisions` and
the rollback pre-check, so the three can never disagree.

The rules, for a service's revisions and N = revisionsToKeep (1..3):
1. Protected revisions are never deleted, even when that keeps more than N ready revisions:
   a revision that serves traffic (percent > 0 in `traffic` or `trafficStatuses`), has a tag,
   is the service's latest created or latest ready revision, or is the pinned rollback target.
2. The N newest Ready revisions (Ready condition CONDITION_SUCCEEDED) are kept.
3. Older Ready revisions that are not protected are deleted.
4. Failed revisions (Ready CONDITION_FAILED) older than the newest Ready revision are deleted;
   newer ones are kept (they tell why the latest deploy failed).
5. A revision still being created (Ready neither succeeded nor failed, or missing), one already
   being deleted, or one whose creation time cannot be read is left alone.
Revisions are ordered by `createTime` (newest first), whatever order they arrive in; a name seen
twice (a list that changed between pages) is decided once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KEEP = "keep"
DELETE = "delete"

READY = "ready"
FAILED = "failed"
IN_PROGRESS = "in-progress"
DELETING = "deleting"

LATEST_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def short_name(name: str | None) -> str:
    """`projects/.../revisions/emergence-app-00003-abc` -> `emergence-app-00003-abc` (a short
    name is kept as is, None is "")."""
    return (name or "").rstrip("/").rsplit("/", 1)[-1]


def parse_time(value: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp (nanoseconds allowed) as an aware datetime, None if unreadable."""
    match = _TIME.match(value or "")
    if not match:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    try:
        return dt.datetime.fromisoformat(f"{base}.{micro}{zone}")
    except ValueError:
        return None


@dataclass(frozen=True)
class Revision:
    """What the decision needs to know about one revision."""

    name: str  # short id, e.g. emergence-app-00003-abc
    create_time: dt.datetime | None
    state: str  # READY | FAILED | IN_PROGRESS | DELETING
    ready_state: str = ""  # the Ready condition's state as the API gives it
    image: str = ""
    digest: str = ""
    message: str = ""  # why it failed, when it did
    service: str = ""  # short id of the parent service


@dataclass(frozen=True)
class ServiceView:
    """The service's traffic and latest revisions, by short revision id."""

    name: str = ""
    percents: Mapping[str, int] = field(default_factory=dict)  # max of desired and actual
    serving: Mapping[str, int] = field(default_factory=dict)  # actual (trafficStatuses)
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    latest_created: str = ""
    latest_ready: str = ""


def revision_from_api(data: Mapping[str, Any]) -> Revision:
    """A Revision from a GoogleCloudRunV2Revision JSON object."""
    ready = next(
        (c for c in data.get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    ready_state = str((ready or {}).get("state") or "")
    if data.get("deleteTime"):
        state = DELETING
    elif ready_state == "CONDITION_SUCCEEDED":
        state = READY
    elif ready_state == "CONDITION_FAILED":
        state = FAILED
    else:
        state = IN_PROGRESS
    containers = data.get("containers") or [{}]
    image = str(containers[0].get("image") or "")
    statuses = data.get("containerStatuses") or [{}]
    digest = str(statuses[0].get("imageDigest") or "")
    if not digest and "@sha256:" in image:
        digest = image.split("@", 1)[1]
    return Revision(
        name=short_name(str(data.get("name") or "")),
        create_time=parse_time(data.get("createTime")),
        state=state,
        ready_state=ready_state,
        image=image,
        digest=digest,
        message=str((ready or {}).get("message") or "") if state == FAILED else "",
        service=short_name(str(data.get("service") or "")),
    )


def service_from_api(data: Mapping[str, Any]) -> ServiceView:
    """A ServiceView from a GoogleCloudRunV2Service JSON object.

    A LATEST target (or status without a revision) means the latest ready revision.
    """
    latest_ready = short_name(str(data.get("latestReadyRevision") or ""))

    def target_revision(target: Mapping[str, Any]) -> str:
        revision = short_name(str(target.get("revision") or ""))
        if revision:
            return revision
        # LATEST (or an unspecified type without a revision) resolves to the latest ready one.
        return latest_ready if target.get("type") in (None, "", LATEST_TYPE) else ""

    desired: dict[str, int] = {}
    serving: dict[str, int] = {}
    tags: dict[str, list[str]] = {}
    for source, totals in ((data.get("traffic"), desired), (data.get("trafficStatuses"), serving)):
        for target in source or []:
            revision = target_revision(target)
            if not revision:
                continue
            totals[revision] = totals.get(revision, 0) + int(target.get("percent") or 0)
            tag = target.get("tag")
            if tag and tag not in tags.setdefault(revision, []):
                tags[revision].append(str(tag))
    percents = {
        name: max(desired.get(name, 0), serving.get(name, 0)) for name in desired.keys() | serving
    }
    return ServiceView(
        name=short_name(str(data.get("name") or "")),
        percents=percents,
        serving=serving,
        tags={k: tuple(v) for k, v in tags.items()},
        latest_created=short_name(str(data.get("latestCreatedRevision") or "")),
        latest_ready=latest_ready,
    )


@dataclass(frozen=True)
class Decision:
    name: str
    action: str  # KEEP | DELETE
    reason: str
    protections: tuple[str, ...]
    revision: Revision
    percent: int = 0  # actual traffic share (trafficStatuses), for display
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        r = self.revision
        return {
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "protected": bool(self.protections),
            "state": r.state,
            "ready": r.state == READY,
            "readyState": r.ready_state,
            "trafficPercent": self.percent,
            "tags": list(self.tags),
            "createTime": r.create_time.isoformat().replace("+00:00", "Z")
            if r.create_time
            else None,
            "image": r.image,
            "imageDigest": r.digest,
        }


@dataclass(frozen=True)
class RetentionPlan:
    decisions: tuple[Decision, ...]  # newest first
    keep_count: int
    pinned: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def keep(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == KEEP]

    @property
    def delete(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == DELETE]

    def summary(self) -> str:
        ready_kept = sum(1 for d in self.keep if d.revision.state == READY)
        return (
            f"{len(self.decisions)} revisions: keep {len(self.keep)} "
            f"({ready_kept} ready, revisionsToKeep={self.keep_count}), delete {len(self.delete)}"
        )


def _protections(rev: Revision, view: ServiceView, pinned: str) -> list[str]:
    out = []
    if view.percents.get(rev.name, 0) > 0:
        out.append(f"serves {view.percents[rev.name]}% of traffic")
    if view.tags.get(rev.name):
        out.append("tagged " + ", ".join(repr(t) for t in view.tags[rev.name]))
    if rev.name == view.latest_created:
        out.append("latest created revision")
    if rev.name == view.latest_ready:
        out.append("latest ready revision")
    if pinned and rev.name == pinned:
        out.append("pinned rollback target (rollbackRevision)")
    return out


def _verdict(  # noqa: PLR0911 (a decision table reads best as early returns)
    rev: Revision,
    ready_rank: int,
    keep: int,
    protected: bool,
    newest_ready_time: dt.datetime | None,
) -> tuple[str, str]:
    """(action, reason) for one revision; `ready_rank` counts ready revisions so far."""
    if rev.create_time is None:
        return KEEP, "creation time unknown: left alone"
    if rev.state == READY:
        if ready_rank <= keep:
            return KEEP, f"one of the {keep} newest ready revisions (#{ready_rank})"
        if protected:
            return KEEP, f"older than the {keep} newest ready revisions but protected"
        return DELETE, f"ready, older than the {keep} newest ready revisions"
    if rev.state == FAILED:
        if newest_ready_time is None or rev.create_time >= newest_ready_time:
            return KEEP, "failed, newer than the newest ready revision: kept to show why"
        if protected:
            return KEEP, "failed, older than the newest ready revision, but protected"
        return DELETE, "failed, older than the newest ready revision"
    if rev.state == DELETING:
        return KEEP, "already being deleted"
    return KEEP, f"still being created (Ready: {rev.ready_state or 'no condition yet'}): left alone"


def plan_retention(
    revisions: Iterable[Revision],
    view: ServiceView,
    keep: int,
    pinned: str = "",
) -> RetentionPlan:
    """Decide, for each revision, keep or delete and why. See the module docstring."""
    if keep < 1:
        raise ValueError(f"revisionsToKeep must be at least 1, got {keep}")
    pinned = short_name(pinned)
    unique: dict[str, tuple[int, Revision]] = {}
    for index, rev in enumerate(revisions):
        if rev.name and rev.name not in unique:
            unique[rev.name] = (index, rev)
    # Newest first by createTime; unreadable times last (they are kept anyway); ties by list order.
    ordered = [
        rev
        for _, rev in sorted(
            unique.values(),
            key=lambda item: (
                item[1].create_time is None,
                -(item[1].create_time.timestamp()) if item[1].create_time else 0.0,
                item[0],
            ),
        )
    ]
    newest_ready_time = next(
        (r.create_time for r in ordered if r.state == READY and r.create_time), None
    )
    decisions: list[Decision] = []
    ready_rank = 0
    extra_protected: list[str] = []
    for rev in ordered:
        protections = _protections(rev, view, pinned)
        if rev.state == READY and rev.create_time is not None:
            ready_rank += 1
            if ready_rank > keep and protections:
                extra_protected.append(rev.name)
        action, reason = _verdict(rev, ready_rank, keep, bool(protections), newest_ready_time)
        if protections:
            reason = f"{reason}; {'; '.join(protections)}"
        decisions.append(
            Decision(
                name=rev.name,
                action=action,
                reason=reason,
                protections=tuple(protections),
                revision=rev,
                percent=view.serving.get(rev.name, view.percents.get(rev.name, 0)),
                tags=view.tags.get(rev.name, ()),
            )
        )
    warnings = []
    if extra_protected:
        warnings.append(
            f"keeping {keep + len(extra_protected)} ready revisions although revisionsToKeep="
            f"{keep}: {', '.join(extra_protected)} "
            f"{'is' if len(extra_protected) == 1 else 'are'} protected (traffic, tag, latest "
            "or rollback target)"
        )
    if pinned and pinned not in unique:
        warnings.append(f"the rollback target {pinned} is not among the service's revisions")
    return RetentionPlan(tuple(decisions), keep, pinned, tuple(warnings))
