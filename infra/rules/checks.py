"""Post-deploy verification: what a check expects and whether an answer meets it (no I/O).

The checks are data. Each is one line of text,
`<name> <path> <status> [<content>] [<field>=<value>]`, so a team adds a path with one line in
the `emergence-cloudrun:verifyChecks` setting:

    health  /api/health         200 json status=healthy
    metrics /api/metrics        200 prometheus
    auth    /api/chat/sessions  401
    docs    /docs               200 html
    openapi /openapi.json       200 json

`content` is one of `any` (status only), `json` (the body parses as JSON; with `field=value` a
field, dotted for nested objects, must equal `value`), `html` (a text/html page) and `prometheus`
(Prometheus text exposition format with at least one sample, parsed by prometheus_client).

The verdicts over Cloud Run Admin API data (traffic, leftover services, revision count) live
here too; infra/probes/verify.py does the HTTP and calls these.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from prometheus_client.parser import text_string_to_metric_families

from infra.rules.retention import service_from_api, short_name
from infra.rules.terminal import printable

CHECKS_KEY = "emergence-cloudrun:verifyChecks"
CONTENT_KINDS = ("any", "json", "html", "prometheus")

DEFAULT_CHECK_LINES: tuple[str, ...] = (
    "health /api/health 200 json status=healthy",
    "metrics /api/metrics 200 prometheus",
    "auth /api/chat/sessions 401",
    "docs /docs 200 html",
    "openapi /openapi.json 200 json",
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_REASON_MAX = 160
_JSON_DEPTH = 900  # what Python's json reader manages under the default recursion limit


class CheckSpecError(ValueError):
    """A check line that cannot be understood; the message names the setting and the fix."""


@dataclass(frozen=True)
class CheckSpec:
    """One HTTP check: GET `path` must answer `status` with a body of kind `content`."""

    name: str
    path: str
    status: int = 200
    content: str = "any"
    field: str | None = None
    value: str | None = None

    def line(self) -> str:
        """The setting's text form (parse_check(spec.line()) == spec)."""
        parts = [self.name, self.path, str(self.status), self.content]
        if self.field is not None:
            parts.append(f"{self.field}={self.value}")
        return " ".join(parts)

    def expectation(self) -> str:
        want = f"{self.status}"
        if self.content != "any":
            want += f" {self.content}"
        if self.field is not None:
            want += f" {self.field}={self.value}"
        return want


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, HTTP or Admin API (`status` and `latency_ms` None when n/a)."""

    name: str
    target: str
    passed: bool
    status: int | None
    latency_ms: float | None
    reason: str
    attempts: int = 1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CheckResult:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


# --------------------------------------------------------------------------- check specs


def parse_check(line: str) -> CheckSpec:
    """One check line -> CheckSpec; ValueError saying what is wrong with it."""
    if not isinstance(line, str):
        raise CheckSpecError(f"expected a string like {DEFAULT_CHECK_LINES[0]!r}, got {line!r}")
    words = line.split()
    if len(words) < 3 or len(words) > 5:
        raise CheckSpecError(
            f"{line!r} is not '<name> <path> <status> [<content>] [<field>=<value>]'"
        )
    name, path, status_text, *rest = words
    if not _NAME.match(name):
        raise CheckSpecError(
            f"check name {name!r} must be lower-case letters, digits, '-' or '_' (1-40 chars)"
        )
    if not path.startswith("/") or path.startswith("//") or "#" in path:
        raise CheckSpecError(f"path {path!r} must start with a single '/' and hold no '#'")
    if not status_text.isdigit() or not 100 <= int(status_text) <= 599:
        raise CheckSpecError(f"status {status_text!r} must be an HTTP status code (100-599)")
    content = "any"
    field = value = None
    if rest and "=" not in rest[0]:
        content = rest.pop(0)
        if content not in CONTENT_KINDS:
            raise CheckSpecError(f"content {content!r} must be one of {', '.join(CONTENT_KINDS)}")
    if rest:
        field, sep, value = rest.pop(0).partition("=")
        if not sep or not field or not value:
            raise CheckSpecError(f"expected '<field>=<value>' in {line!r}")
        if content != "json":
            raise CheckSpecError(f"'{field}={value}' needs content 'json' in {line!r}")
    if rest:
        raise CheckSpecError(f"unexpected {' '.join(rest)!r} in {line!r}")
    return CheckSpec(name, path, int(status_text), content, field, value)


def parse_checks(lines: Sequence[str] | None, key: str = CHECKS_KEY) -> tuple[CheckSpec, ...]:
    """The setting's list of lines -> specs; errors name the setting, the entry and the fix."""
    if lines is None:
        lines = DEFAULT_CHECK_LINES
    if isinstance(lines, str) or not isinstance(lines, Sequence):
        raise CheckSpecError(
            f"{key}: must be a list of check lines such as {list(DEFAULT_CHECK_LINES[:2])}"
        )
    if not lines:
        raise CheckSpecError(
            f"{key}: is empty. Fix: list at least one check (the defaults are the service "
            "contract), or switch verification off with "
            "`pulumi config set emergence-cloudrun:verifyDeployment false`"
        )
    specs: list[CheckSpec] = []
    for index, line in enumerate(lines):
        try:
            spec = parse_check(line)
        except CheckSpecError as exc:
            raise CheckSpecError(
                f"{key}: entry {index}: {exc}. Fix: correct that line (pulumi config set "
                f"--path '{key}[{index}]' '<line>'), written like "
                f"{DEFAULT_CHECK_LINES[0]!r}"
            ) from None
        if any(s.name == spec.name for s in specs):
            raise CheckSpecError(
                f"{key}: entry {index}: the check name {spec.name!r} is used twice. "
                "Fix: give each check its own name"
            )
        specs.append(spec)
    return tuple(specs)


DEFAULT_CHECKS: tuple[CheckSpec, ...] = parse_checks(DEFAULT_CHECK_LINES)


# --------------------------------------------------------------------------- HTTP verdicts


def one_line(text: object, limit: int = _REASON_MAX) -> str:
    """`text` on one line, safe for a terminal (infra.rules.terminal), cut to `limit`."""
    flat = printable(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _status_reason(want: int, got: int) -> str:
    reason = f"got {got}, want {want}"
    if want == 401:
        if 200 <= got < 300:
            return reason + ": it answers without credentials, so authentication is off"
        if got == 403:
            return (
                reason + ": 403 means the request was refused as forbidden, not as unauthenticated"
            )
    if got in (401, 403) and want != got:
        return reason + ": the service refuses anonymous requests (check publicAccess / IAM)"
    if got >= 500:
        return reason + ": the service failed"
    if 300 <= got < 400:
        return reason + ": a redirect (checks do not follow redirects)"
    return reason


def _lookup(document: object, dotted: str) -> tuple[bool, object]:
    node = document
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _json_text(value: object) -> str:
    try:
        return json.dumps(value)
    except RecursionError:  # a value nested too deeply: it cannot equal a one-word setting
        return "(a value nested too deeply)"


def _judge_json(spec: CheckSpec, body: bytes) -> tuple[bool, str]:
    try:
        document = json.loads(body.decode("utf-8"))
    except RecursionError:
        return False, f"JSON nested too deeply to read (over about {_JSON_DEPTH} levels)"
    except (UnicodeDecodeError, ValueError) as exc:
        return False, f"body is not JSON ({one_line(str(exc), 60)}): {body[:40]!r}"
    if spec.field is None:
        return True, f"valid JSON ({type(document).__name__})"
    found, actual = _lookup(document, spec.field)
    if not found:
        return False, f"JSON has no field {spec.field!r}"
    shown = actual if isinstance(actual, str) else _json_text(actual)
    if shown != spec.value:
        return False, f"{spec.field} is {shown!r}, want {spec.value!r}"
    return True, f"{spec.field} is {shown!r}"


def _judge_html(content_type: str, body: bytes) -> tuple[bool, str]:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media != "text/html":
        return False, f"content type is {media or 'missing'!r}, want 'text/html'"
    if b"<html" not in body[:4096].lower():
        return False, "text/html answer without an <html> element"
    return True, f"HTML page ({len(body)} bytes)"


def _judge_prometheus(body: bytes) -> tuple[bool, str]:
    # Counted family by family, never all kept: memory is that of the largest family.
    families = samples = 0
    try:
        for family in text_string_to_metric_families(body.decode("utf-8")):
            families += 1
            samples += len(family.samples)
    except (UnicodeDecodeError, ValueError, TypeError, IndexError) as exc:
        return False, f"not Prometheus text format: {one_line(str(exc), 80)}"
    if samples == 0:
        return False, f"Prometheus text with no samples ({families} metric families)"
    return True, f"{samples} samples in {families} metric families"


def judge_response(
    spec: CheckSpec, status: int, content_type: str, body: bytes
) -> tuple[bool, str]:
    """Did this answer meet the spec? Returns (passed, one-line reason)."""
    if status != spec.status:
        return False, _status_reason(spec.status, status)
    if spec.content == "json":
        return _judge_json(spec, body)
    if spec.content == "html":
        return _judge_html(content_type, body)
    if spec.content == "prometheus":
        return _judge_prometheus(body)
    return True, f"answered {status} as expected"


# --------------------------------------------------------------------------- Admin API verdicts

READY = "Ready"
SUCCEEDED = "CONDITION_SUCCEEDED"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def is_ready(revision: Mapping[str, object]) -> bool:
    conditions = revision.get("conditions") or []
    return any(
        isinstance(c, Mapping) and c.get("type") == READY and c.get("state") == SUCCEEDED
        for c in conditions
    )


def traffic_allocation(service: Mapping[str, object]) -> dict[str, int]:
    """revision short name -> percent, from the service's `trafficStatuses` (what is served).

    A LATEST entry without a revision name resolves to `latestReadyRevision`; entries with a
    tag only (0%) are kept so a split is shown in full.
    """
    latest = short_name(service.get("latestReadyRevision"))
    allocation: dict[str, int] = {}
    for status in service.get("trafficStatuses") or []:
        revision = short_name(status.get("revision")) or (
            latest if status.get("type") == LATEST else ""
        )
        percent = int(status.get("percent") or 0)
        key = revision or "(unresolved)"
        allocation[key] = allocation.get(key, 0) + percent
    return allocation


def judge_traffic(service: Mapping[str, object], expected_revision: str | None) -> CheckResult:
    """100% of the served traffic must go to `expected_revision` (default: latest ready)."""
    expected = short_name(expected_revision) or short_name(service.get("latestReadyRevision"))
    allocation = traffic_allocation(service)
    split = ", ".join(f"{rev} {pct}%" for rev, pct in sorted(allocation.items())) or "none"
    target = f"traffic of {short_name(service.get('name'))}"
    if not expected:
        return CheckResult("traffic", target, False, None, None, "no ready revision to expect")
    if allocation.get(expected, 0) == 100:
        passed, reason = True, f"100% on {expected}"
    else:
        passed, reason = False, f"traffic is {split}; want 100% on {expected}"
    if service.get("reconciling"):
        reason += " (the service is still reconciling)"
    return CheckResult("traffic", target, passed, None, None, reason)


def judge_leftover_services(
    services: Iterable[Mapping[str, object]],
    service_name: str,
    allowed: Iterable[str] = (),
    region: str = "",
) -> CheckResult:
    """The region must hold no Cloud Run service but `service_name` and the allowed ones."""
    names = sorted(short_name(s.get("name")) for s in services)
    allowed_set = set(allowed)
    leftovers = [n for n in names if n != service_name and n not in allowed_set]
    where = f"services in {region}" if region else "services"
    if leftovers:
        reason = (
            f"leftover {'service' if len(leftovers) == 1 else 'services'} "
            f"{', '.join(leftovers)}: delete {'it' if len(leftovers) == 1 else 'them'} or list "
            "in emergence-cloudrun:verifyAllowedServices"
        )
        return CheckResult("services", where, False, None, None, reason)
    if service_name not in names:
        return CheckResult("services", where, False, None, None, f"{service_name} is missing")
    others = [n for n in names if n != service_name]
    reason = f"only {service_name}" + (f" (allowed: {', '.join(others)})" if others else "")
    return CheckResult("services", where, True, None, None, reason)


def protected_revisions(service: Mapping[str, object], pinned: str | None = None) -> set[str]:
    """Revisions retention keeps whatever the count: serving (desired or actual traffic),
    tagged, latest created, latest ready, pinned. The same view retention decides with."""
    view = service_from_api(service)
    names = {name for name, percent in view.percents.items() if percent > 0}
    names |= {name for name, tags in view.tags.items() if tags}
    names |= {view.latest_created, view.latest_ready, short_name(pinned or "")}
    return names - {""}


def _newest_first(revisions: Iterable[Mapping[str, object]]) -> list[Mapping[str, object]]:
    return sorted(revisions, key=lambda r: str(r.get("createTime") or ""), reverse=True)


def judge_revision_count(
    revisions: Iterable[Mapping[str, object]],
    keep: int,
    protected: Iterable[str] = (),
    slack: int = 0,
) -> CheckResult:
    """At most `keep` revisions, plus protected ones older than the `keep` newest ready, plus
    `slack` (the gate runs before retention prunes the revision this deploy created)."""
    ordered = _newest_first(revisions)
    names = [short_name(r.get("name")) for r in ordered]
    ready = [short_name(r.get("name")) for r in ordered if is_ready(r)]
    kept_by_count = ready[:keep]
    protected_set = set(protected)
    extra = [n for n in names if n in protected_set and n not in kept_by_count]
    limit = keep + len(extra) + slack
    what = f"{len(names)} revisions"
    if len(names) <= limit:
        detail = f"{what}, at most {limit} kept"
        if extra:
            detail += f" ({keep} + protected {', '.join(extra)})"
        return CheckResult("revisions", "revisions kept", True, None, None, detail)
    surplus = [n for n in names if n not in kept_by_count and n not in extra]
    reason = (
        f"{what}, want at most {limit} (emergence-cloudrun:revisionsToKeep={keep}): "
        f"surplus {', '.join(surplus)}"
    )
    return CheckResult("revisions", "revisions kept", False, None, None, reason)


def previous_ready_revision(
    revisions: Iterable[Mapping[str, object]],
    current: str | None,
    last_verified: str | None = None,
) -> str | None:
    """The revision to roll back to: the last one this gate verified if it is still there and
    ready, else the newest ready revision created before `current`."""
    current = short_name(current)
    ordered = _newest_first(revisions)
    ready = [short_name(r.get("name")) for r in ordered if is_ready(r)]
    verified = short_name(last_verified)
    if verified and verified != current and verified in ready:
        return verified
    names = [short_name(r.get("name")) for r in ordered]
    older = names[names.index(current) + 1 :] if current in names else names
    return next((n for n in older if n in ready and n != current), None)


# --------------------------------------------------------------------------- reports


def summary(results: Sequence[CheckResult]) -> str:
    failed = [r.name for r in results if not r.passed]
    head = f"{len(results) - len(failed)} of {len(results)} checks passed"
    return head if not failed else f"{head}; failed: {', '.join(failed)}"


def _latency(result: CheckResult) -> str:
    latency = "-" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"
    if result.attempts > 1:
        latency += f" ({result.attempts} tries)"
    return latency


class Table:
    """The checks' fixed-width table, row by row, so each check is shown as it finishes.

    `expected` holds the (name, target) of every row to come, which sets the column widths;
    every cell goes through `printable` (a reason or target may quote a server).
    """

    HEADER = ("CHECK", "TARGET", "RESULT", "STATUS", "LATENCY", "REASON")

    def __init__(self, expected: Iterable[tuple[str, str]], latency_width: int = 7) -> None:
        rows = [self.HEADER[:2], *((printable(n), printable(t)) for n, t in expected)]
        self._widths = [
            max(len(row[0]) for row in rows),
            max(len(row[1]) for row in rows),
            len("RESULT"),
            len("STATUS"),
            max(latency_width, len("LATENCY")),
        ]

    def _line(self, cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:5], self._widths, strict=True)]
        return "  ".join([*padded, cells[5]]).rstrip()

    def header(self) -> str:
        return self._line(self.HEADER)

    def row(self, r: CheckResult) -> str:
        status = "-" if r.status is None else str(r.status)
        cells = (r.name, r.target, "pass" if r.passed else "FAIL", status, _latency(r), r.reason)
        return self._line([printable(cell) for cell in cells])


def format_table(results: Sequence[CheckResult]) -> str:
    """A fixed-width table, one row per check, for people."""
    table = Table(
        [(r.name, r.target) for r in results],
        latency_width=max((len(_latency(r)) for r in results), default=0),
    )
    return "\n".join([table.header(), *(table.row(r) for r in results)])


def rollback_advice(previous: str | None, stack: str | None, keep: int | None = None) -> str:
    """The exact commands to roll back, or why there is nothing to roll back to."""
    flag = f" --stack {stack}" if stack else ""
    if not previous:
        why = "no earlier ready revision is kept"
        if keep == 1:
            why += " (emergence-cloudrun:revisionsToKeep is 1)"
        return f"{why}: fix forward, or redeploy a known-good commit."
    return (
        f"previous ready revision: {previous}. To roll back to it:\n"
        f"  pulumi config set{flag} emergence-cloudrun:rollbackRevision {previous}\n"
        f"  pulumi up{flag}"
    )
