"""`python -m infra phase2`: the Phase 2 goals, measured from the service's logs.

Reads log entries from exports (`gcloud logging read ... --format json`, or JSON lines) or
straight from the Cloud Logging API, streaming, and prints each goal against its target:

    python -m infra phase2 --file export.json
    python -m infra phase2 --since 24h --metrics https://<service url>/api/metrics --markdown
    gcloud logging read "$(python -m infra phase2 --print-filter --since 24h)" --format json

The targets, the service and the cost counter come from the stack's settings (phase2* keys).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from infra.cli import CommandError
from infra.rules.phase2 import (
    PASS,
    CostReading,
    MetricsError,
    Phase2Accumulator,
    Phase2Targets,
    logging_filter,
    parse_prometheus_counter,
)
from infra.rules.terminal import printable

HELP = "Measure the Phase 2 goals (cache, analysis latency, debates, cost) from the logs."

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("where the log entries come from")
    source.add_argument(
        "--file",
        action="append",
        metavar="PATH",
        help="a `gcloud logging read --format json` export or JSON lines ('-': stdin); "
        "repeat for several files. Without --file: the Cloud Logging API",
    )
    source.add_argument("--stack", default="prod", help="stack whose settings apply (prod)")
    source.add_argument("--project", help="Google Cloud project (default: the stack's)")
    source.add_argument("--service", help="Cloud Run service (default: the stack's serviceName)")
    source.add_argument(
        "--since",
        help="window start: ISO 8601 time or a duration back from now (24h, 7d). "
        "Default with the API: 24h",
    )
    source.add_argument("--until", help="window end (exclusive), same forms as --since")
    source.add_argument("--page-size", type=int, default=1000, help="entries per API page (1-1000)")
    source.add_argument(
        "--print-filter",
        action="store_true",
        help="print the Cloud Logging filter (for gcloud logging read) and exit",
    )
    cost = parser.add_argument_group("API cost")
    cost.add_argument(
        "--metrics",
        metavar="URL_OR_FILE",
        help="Prometheus text at the end of the window: the service's /api/metrics or a file",
    )
    cost.add_argument(
        "--metrics-start",
        metavar="URL_OR_FILE",
        help="the same counter at the start of the window (the cost is the difference)",
    )
    cost.add_argument(
        "--cost-baseline", type=float, help="override phase2CostBaseline for this run"
    )
    out = parser.add_argument_group("output")
    fmt = out.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON")
    fmt.add_argument(
        "--markdown",
        action="store_true",
        help="print Markdown for docs/deployments/<date>-phase2-results.md",
    )
    out.add_argument("--output", "-o", type=Path, help="write the report to this file")
    out.add_argument("--rows", type=int, default=None, help="sessions/debates listed (10/20)")
    out.add_argument(
        "--strict", action="store_true", help="exit 1 unless every goal is measured and passes"
    )


def parse_when(text: str, now: float, flag: str = "--since") -> float:
    """`24h`, `7d`, `90m` back from now, or an ISO 8601 time (UTC when no offset is given)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"{flag} {text!r} is neither a time (2025-10-09T08:00:00Z) nor a duration (24h, 7d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _targets(settings, baseline: float | None) -> Phase2Targets:
    return Phase2Targets(
        cache_hit_rate_min=settings.cache_hit_rate_min_percent / 100,
        cache_hit_rate_expected_max=settings.cache_hit_rate_expected_max_percent / 100,
        analysis_p95_max_seconds=settings.analysis_p95_target_ms / 1000,
        debate_round1_p50_max_seconds=settings.debate_round1_target_ms / 1000,
        debate_total_p50_max_seconds=settings.debate_total_target_ms / 1000,
        cost_ratio_max=settings.cost_target_percent / 100,
        cost_baseline=baseline if baseline is not None else settings.cost_baseline,
    )


def _cost(args: argparse.Namespace, metric: str) -> CostReading | None:
    if not args.metrics:
        if args.metrics_start:
            raise CommandError("--metrics-start needs --metrics (the end of the window)")
        return None
    from infra.probes.metrics import MetricsSourceError, read_metrics_text  # noqa: PLC0415

    def value(flag: str, source: str) -> float | None:
        try:
            return parse_prometheus_counter(read_metrics_text(source), metric)
        except (MetricsSourceError, MetricsError) as exc:
            raise CommandError(f"{flag}: {exc}") from None

    end = value("--metrics", args.metrics)
    start = value("--metrics-start", args.metrics_start) if args.metrics_start else None
    if end is not None and start is not None and start > end:
        raise CommandError(
            f"{metric} went down between --metrics-start ({start:g}) and --metrics ({end:g}): "
            "an instance restarted between the two readings; read both from the same instance"
        )
    return CostReading(metric=metric, value=end, source=args.metrics, start_value=start)


def _file_entries(paths: list[str]) -> Iterator[object]:
    from infra.cli.logfile import iter_entries, open_export  # noqa: PLC0415

    for path in paths:
        if path != "-" and Path(path).is_dir():
            raise CommandError(f"--file {path}: a directory, not a log export: name a file")
        if path != "-" and not Path(path).is_file():
            raise CommandError(f"--file {path}: no such file")
        try:
            with open_export(path) as stream:
                yield from iter_entries(stream)
        except OSError as exc:
            raise CommandError(f"--file {path}: {exc.strerror or exc}") from None


def _api_entries(project: str, filter_: str, page_size: int) -> Iterator[object]:
    from infra.google import client as gcp_api  # noqa: PLC0415
    from infra.google.cloud_logging import iter_api_entries  # noqa: PLC0415

    try:
        with gcp_api.logging_client() as client:
            yield from iter_api_entries(client, project, filter_, page_size)
    except gcp_api.GcpApiError as exc:
        raise CommandError(f"Cloud Logging: {gcp_api.describe(exc)}") from None


def _window(args: argparse.Namespace, now: float) -> tuple[float | None, float | None]:
    since = parse_when(args.since, now, "--since") if args.since else None
    until = parse_when(args.until, now, "--until") if args.until else None
    if not args.file and since is None:
        since = now - 86400  # like gcloud logging read --freshness=1d
    if since is not None and until is not None and since >= until:
        raise CommandError("--since must be before --until")
    return since, until


def run(args: argparse.Namespace) -> int:
    from infra.config import SettingsError, load_report_settings  # noqa: PLC0415
    from infra.rules.phase2_render import to_json, to_markdown, to_text  # noqa: PLC0415

    try:
        project, service, settings = load_report_settings(args.stack)
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    project = args.project or project
    service = args.service or service
    since, until = _window(args, time.time())
    filter_ = logging_filter(service, since, until)
    if args.print_filter:
        print(filter_)
        return 0
    if not 1 <= args.page_size <= 1000:
        raise CommandError("--page-size must be within 1..1000")
    if args.cost_baseline is not None and not args.cost_baseline > 0:
        raise CommandError("--cost-baseline must be a positive number")
    cost = _cost(args, settings.cost_metric)

    accumulator = Phase2Accumulator(service, since=since, until=until)
    entries = (
        _file_entries(args.file) if args.file else _api_entries(project, filter_, args.page_size)
    )
    accumulator.add_all(entries)
    report = accumulator.report(_targets(settings, args.cost_baseline), cost)

    if args.json:
        text = to_json(report)
    elif args.markdown:
        text = to_markdown(report, max_rows=args.rows or 20)
    else:
        text = to_text(report, max_rows=args.rows or 10)
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"--output {args.output}: cannot write it ({exc.strerror or exc}). "
                "Fix: give a path in an existing folder you can write to"
            ) from None
        print(f"wrote {args.output} (overall: {report.verdict})")
    else:  # on a terminal: what a log line says is shown, never obeyed
        sys.stdout.write(printable(text, newlines=True, json=args.json))
    if args.strict and report.verdict != PASS:
        return 1
    return 0
