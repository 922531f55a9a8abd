"""`python -m infra revisions [--stack prod] [--json]`: the service's revisions and what
retention will do with each.

Like `gcloud run revisions list` (name, ready, traffic %, tags, created, image digest), plus the
action retention takes (`keep` or `delete`) and why. It runs the very decision the retention
resource runs at `pulumi up` (infra/rules/retention.py) with the stack's `revisionsToKeep` and
`rollbackRevision`, through the shared Google API client (`CLOUD_RUN_API_ENDPOINT` overrides the
base URL; a loopback address needs no credentials). It only reads; it deletes nothing.
`--json` prints a list of objects with `name`, `action`, `reason` and the columns.
"""

from __future__ import annotations

import argparse
import json
import sys

from infra.cli import CommandError
from infra.config import SettingsError, load_stack_settings
from infra.google.client import GcpApiError, cloud_run_client, describe
from infra.google.cloud_run import CloudRunRevisions, ServiceRef, fetch_plan
from infra.rules.retention import DELETE, FAILED, READY, Decision, RetentionPlan
from infra.rules.terminal import printable

HELP = "List the service's revisions and what retention keeps or deletes, and why"

_READY_MARK = {READY: "yes", FAILED: "FAILED"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="prod", help="stack whose settings to use (prod)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of revisions")
    parser.add_argument(
        "--keep",
        type=int,
        choices=(1, 2, 3),
        help="revisions to keep, instead of the stack's revisionsToKeep (a what-if)",
    )


def _created(d: Decision) -> str:
    t = d.revision.create_time
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "?"


def _digest(d: Decision) -> str:
    digest = d.revision.digest
    return digest[: len("sha256:") + 12] if digest.startswith("sha256:") else (digest or "-")


def format_table(plan: RetentionPlan) -> str:
    rows = [("", "REVISION", "READY", "TRAFFIC", "TAGS", "CREATED", "IMAGE DIGEST", "ACTION")]
    reasons = []
    for d in plan.decisions:
        rows.append(
            (
                "+" if d.percent > 0 else "",
                d.name,
                _READY_MARK.get(d.revision.state, d.revision.state),
                f"{d.percent}%" if d.percent else "",
                ",".join(d.tags) or "",
                _created(d),
                _digest(d),
                d.action.upper() if d.action == DELETE else d.action,
            )
        )
        reasons.append(d.reason)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        lines.append(line)
        if index:
            lines.append(" " * (widths[0] + 2) + "  why: " + reasons[index - 1])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_stack_settings(args.stack, supplied_secrets=["smtpPassword"])
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    keep = args.keep or settings.retention.revisions_to_keep
    pinned = settings.rollback_revision or ""
    ref = ServiceRef(settings.project, settings.region, settings.service.name)
    try:
        with cloud_run_client() as client:
            plan, _service = fetch_plan(CloudRunRevisions(client, ref), keep, pinned)
    except GcpApiError as exc:
        raise CommandError(describe(exc)) from None

    if args.json:
        print(json.dumps([d.as_dict() for d in plan.decisions], indent=2))
        for warning in plan.warnings:
            print(f"warning: {printable(warning)}", file=sys.stderr)
        return 0
    mode = " (retentionDryRun: up deletes nothing)" if settings.retention.dry_run else ""
    print(
        f"Revisions of {ref.service} in {ref.project}/{ref.location} (stack {settings.stack}): "
        f"revisionsToKeep={keep}, "
        f"rollbackRevision={pinned or '(none: the latest ready revision serves)'}{mode}"
    )
    # Revision names, tags and images come from the API: shown, never obeyed by the terminal.
    if plan.decisions:
        print(printable(format_table(plan), newlines=True))
    print(printable(plan.summary()))
    for warning in plan.warnings:
        print(f"warning: {printable(warning)}")
    return 0
