"""Revision retention: after each deploy, keep the newest ready revisions and delete the rest.

`Retention` (a ComponentResource, type `emergence:retention:Retention`) owns one Pulumi dynamic
resource, `RevisionRetention`, whose Python provider does the work at `pulumi up`:

1. lists the service's revisions through the Cloud Run Admin API v2 (following nextPageToken),
2. decides with `infra.rules.retention.plan_retention` (the same code `python -m infra revisions`
   shows), so nothing serving, tagged, latest or pinned for rollback is ever deleted,
3. deletes the others one by one, waiting on each delete's long-running operation, and
4. reports what it kept, deleted (or, in dry run, would delete) and why, as outputs.

When it runs: its inputs include the service's latest ready revision and the image digest, so
the provider's diff reports a change (and `up` runs it) exactly when a new revision was deployed
or a retention setting changed, never on an unchanged preview. Deleting this resource deletes no
revision.

Failures: 429/5xx are retried by the client. A 403 stops at once (nothing more is tried) and the
error names the missing permission (`run.revisions.delete`). Any other failed delete does not stop
the others; at the end the update fails with the full report, so the state keeps the previous
inputs and the next `up` tries again. Refusals that mean "not deletable now" (400
FAILED_PRECONDITION: it started serving) and "already gone" (404) are reported, not failures.

The provider is pickled into the state: it holds no client, session or credentials; each method
creates its own client (`infra.google.client.cloud_run_client`, `CLOUD_RUN_API_ENDPOINT` overrides).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ResourceProvider,
    UpdateResult,
)

from infra.google import client as gcp_api
from infra.google.client import ApiError, GcpApiError, OperationTimeout
from infra.google.cloud_run import (
    CloudRunRevisions,
    RevisionsApiError,
    ServiceRef,
    fetch_plan,
    permission_message,
)
from infra.providers.unknowns import changed_inputs, is_unknown
from infra.rules.retention import RetentionPlan

MIN_KEEP, MAX_KEEP = 1, 3
DEFAULT_OPERATION_TIMEOUT = 300

# Inputs of the dynamic resource; a change in any of them makes `up` run retention again.
INPUT_KEYS = (
    "project",
    "location",
    "service",
    "revisionsToKeep",
    "dryRun",
    "pinnedRevision",
    "latestRevision",
    "imageDigest",
    "operationTimeoutSeconds",
)
REPLACE_KEYS = ("project", "location", "service")  # the resource id is made of these
OUTPUT_KEYS = ("kept", "deleted", "wouldDelete", "failed", "warnings", "summary", "apiCalls")


class RetentionError(Exception):
    """Retention could not do all it decided; the message is the whole report."""


@dataclass
class RetentionReport:
    plan: RetentionPlan
    dry_run: bool
    deleted: list[dict[str, str]] = field(default_factory=list)
    would_delete: list[dict[str, str]] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fatal: str = ""  # a 403: why everything stopped
    api_calls: int = 0

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        count = len(self.would_delete) if self.dry_run else len(self.deleted)
        text = f"kept {len(self.kept)}, {verb} {count}"
        if self.failed:
            text += f", failed {len(self.failed)}"
        return text + f" (revisionsToKeep={self.plan.keep_count})"

    def outputs(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "deleted": self.deleted,
            "wouldDelete": self.would_delete,
            "failed": self.failed,
            "warnings": self.warnings,
            "summary": self.summary(),
            "apiCalls": self.api_calls,
        }

    def text(self) -> str:
        lines = [f"revision retention: {self.summary()}"]
        if self.fatal:
            lines.append(self.fatal)
        lines += [f"  deleted  {d['name']}: {d['reason']}" for d in self.deleted]
        lines += [f"  would delete  {d['name']}: {d['reason']}" for d in self.would_delete]
        lines += [f"  FAILED   {d['name']}: {d['error']}" for d in self.failed]
        lines += [f"  kept     {d['name']}: {d['reason']}" for d in self.kept]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def run_retention(
    api: CloudRunRevisions,
    keep: int,
    *,
    pinned: str = "",
    dry_run: bool = False,
    operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
) -> RetentionReport:
    """List, decide, delete (unless dry run) and report. Raises RetentionError on failures."""
    start_calls = api.client.request_count
    plan, _service = fetch_plan(api, keep, pinned)
    report = RetentionReport(plan, dry_run, warnings=list(plan.warnings))
    report.kept = [{"name": d.name, "reason": d.reason} for d in plan.keep]
    for decision in plan.delete:
        entry = {"name": decision.name, "reason": decision.reason}
        if dry_run:
            report.would_delete.append(entry)
            continue
        if report.fatal:
            report.kept.append({"name": decision.name, "reason": "not attempted after a 403"})
            continue
        try:
            api.delete_revision(decision.name, timeout=operation_timeout)
        except ApiError as err:
            _record_failure(report, decision.name, entry, err)
        except OperationTimeout as err:
            report.failed.append({"name": decision.name, "error": str(err)})
        else:
            report.deleted.append(entry)
    report.api_calls = api.client.request_count - start_calls
    if report.fatal or report.failed:
        raise RetentionError(report.text())
    return report


def _record_failure(
    report: RetentionReport, name: str, entry: dict[str, str], err: ApiError
) -> None:
    if err.status == "PERMISSION_DENIED":
        report.fatal = permission_message(
            err, f"delete revision {name}", "run.revisions.delete"
        ) + (" Nothing was deleted." if not report.deleted else "")
        report.kept.append({"name": name, "reason": "delete refused (403)"})
    elif err.status == "NOT_FOUND":
        report.deleted.append({**entry, "reason": entry["reason"] + " (already gone)"})
    elif err.status == "FAILED_PRECONDITION":
        report.kept.append({"name": name, "reason": f"Cloud Run refused: {err.message}"})
        report.warnings.append(f"{name} was not deleted: {err.message}")
    else:
        report.failed.append({"name": name, "error": str(err)})


# -- the dynamic provider -----------------------------------------------------------------------


def _keep_value(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


class RetentionProvider(ResourceProvider):
    """Pulumi dynamic provider; see the module docstring. Holds no state of its own."""

    serialize_as_secret_always = False  # nothing secret here; keeps the state readable

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        keep = news.get("revisionsToKeep")
        if not is_unknown(keep):
            value = _keep_value(keep)
            if value is None or not MIN_KEEP <= value <= MAX_KEEP:
                failures.append(
                    CheckFailure(
                        "revisionsToKeep",
                        f"emergence-cloudrun:revisionsToKeep must be {MIN_KEEP}..{MAX_KEEP}, "
                        f"got {keep!r}",
                    )
                )
        for key in ("project", "location", "service"):
            if not news.get(key):
                failures.append(CheckFailure(key, f"{key} is required"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_inputs(olds, news, INPUT_KEYS)
        replaces = [k for k in changed if k in REPLACE_KEYS]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._run(props)
        return CreateResult(f"{props['project']}/{props['location']}/{props['service']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._run(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Removing retention from the program deletes no revision."""

    def _run(self, props: dict[str, Any]) -> dict[str, Any]:
        ref = ServiceRef(str(props["project"]), str(props["location"]), str(props["service"]))
        keep = _keep_value(props.get("revisionsToKeep")) or MAX_KEEP
        timeout = float(props.get("operationTimeoutSeconds") or DEFAULT_OPERATION_TIMEOUT)
        try:
            with gcp_api.cloud_run_client() as client:
                report = run_retention(
                    CloudRunRevisions(client, ref),
                    keep,
                    pinned=str(props.get("pinnedRevision") or ""),
                    dry_run=bool(props.get("dryRun")),
                    operation_timeout=timeout,
                )
        except RevisionsApiError as err:
            raise RetentionError(f"revision retention for {ref}: {err}") from None
        except GcpApiError as err:
            raise RetentionError(
                f"revision retention for {ref} could not read the revisions: {err}"
            ) from None
        echo = {k: props.get(k) for k in INPUT_KEYS}
        return {**echo, **report.outputs()}


class RevisionRetention(pulumi.dynamic.Resource, module="retention", name="RevisionRetention"):
    """The dynamic resource; its outputs are the retention report."""

    kept: pulumi.Output[list[dict[str, str]]]
    deleted: pulumi.Output[list[dict[str, str]]]
    wouldDelete: pulumi.Output[list[dict[str, str]]]
    failed: pulumi.Output[list[dict[str, str]]]
    warnings: pulumi.Output[list[str]]
    summary: pulumi.Output[str]
    apiCalls: pulumi.Output[int]

    def __init__(
        self, name: str, props: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RetentionProvider(), name, {**props, **dict.fromkeys(OUTPUT_KEYS)}, opts)


__all__ = [
    "RetentionError",
    "RetentionProvider",
    "RetentionReport",
    "RevisionRetention",
    "fetch_plan",
    "run_retention",
]
