"""`python -m infra phase2`: the Phase 2 goals, measured from the service's logs.

Reads log entries from exports (`gcloud logging read ... --format json`, or JSON lines) or
straight from the Cloud Logging API, streaming, and prints each goal against its target:

    python -m infra phase2 --file export.json --baseline-file before.json
    python -m infra phase2 --since 24h --baseline-since 2025-10-01 --baseline-until 2025-10-02
    python -m infra phase2 --since 24h --metrics https://<service url>/api/metrics --markdown
    gcloud logging read "$(python -m infra phase2 --print-filter --since 24h)" --format json

The API cost is the app's cost lines in the window, per unit of work (analyses requested, or
paid calls), against the same measured over a baseline; `--cost-from metrics` judges an app's
cost counter instead. `--metrics` also shows the app's own analysis histogram and cache
counters beside the figures from the logs. The targets, the service and the cost counter come
from the stack's settings (phase2* keys).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import stat
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from infra.cli import CommandError
from infra.rules.phase2 import (
    COST_PER,
    PASS,
    CostLines,
    CostReading,
    Phase2Accumulator,
    Phase2Targets,
    instant,
    logging_filter,
)
from infra.rules.phase2_metrics import (
    AppMetrics,
    MetricsError,
    app_metrics,
    counter_total,
    parse_metrics,
)
from infra.rules.redaction import shown_url
from infra.rules.terminal import printable

HELP = "Measure the Phase 2 goals (cache, analysis latency, debates, cost) from the logs."

_RELATIVE = re.compile(r"^(\d{1,12}(?:\.\d{1,9})?)([smhdw])$")
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
        "--baseline-file",
        action="append",
        metavar="PATH",
        help="an export from before Phase 2, read like --file (repeatable): its cost lines, per "
        "unit of work, are the baseline",
    )
    cost.add_argument(
        "--baseline-since",
        help="baseline window start (same forms as --since); without --baseline-file the "
        "baseline is read from the Cloud Logging API",
    )
    cost.add_argument("--baseline-until", help="baseline window end (exclusive)")
    cost.add_argument(
        "--cost-per",
        choices=sorted(COST_PER),
        default="analysis",
        help="divide the cost by the analyses requested (default) or by the paid calls, so "
        "that a quieter week does not pass as a saving",
    )
    cost.add_argument(
        "--cost-from",
        choices=("logs", "metrics"),
        default="logs",
        help="judge the cost lines of the logs (default) or the app's cost counter "
        "(phase2CostMetric, read from --metrics, against phase2CostBaseline)",
    )
    cost.add_argument(
        "--cost-baseline",
        type=float,
        help="with --cost-from metrics: override phase2CostBaseline for this run",
    )
    metrics = parser.add_argument_group("the app's own metrics")
    metrics.add_argument(
        "--metrics",
        metavar="URL_OR_FILE",
        help="Prometheus text at the end of the window (the service's metrics URL or a file): "
        "its analysis histogram and cache counters are shown beside the log figures",
    )
    metrics.add_argument(
        "--metrics-start",
        metavar="URL_OR_FILE",
        help="the same at the start of the window (the figures are the difference)",
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
        when = now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        try:
            parsed = datetime.fromisoformat(text.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            when = parsed.astimezone(UTC).timestamp()
        except (ValueError, OverflowError):
            raise CommandError(
                f"{flag} {text!r} is neither a time (2025-10-09T08:00:00Z) nor a duration "
                "(24h, 7d) within years 1-9999"
            ) from None
    if instant(when) is None or instant(when).year < 1970:  # type: ignore[union-attr]
        raise CommandError(
            f"{flag} {text!r} is before 1970 or after 9999: give a time of the service's logs "
            "(2025-10-09T08:00:00Z) or a duration back from now (24h, 7d)"
        )
    return when


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


def _read_samples(flag: str, source: str):
    from infra.probes.metrics import MetricsSourceError, read_metrics_text  # noqa: PLC0415

    try:
        return parse_metrics(read_metrics_text(source))
    except (MetricsSourceError, MetricsError) as exc:
        raise CommandError(f"{flag}: {exc}") from None


def _metrics(args: argparse.Namespace, metric: str) -> tuple[CostReading | None, AppMetrics | None]:
    """The cost counter (with --cost-from metrics) and the app's own figures, from --metrics."""
    if not args.metrics:
        if args.metrics_start:
            raise CommandError("--metrics-start needs --metrics (the end of the window)")
        if args.cost_from == "metrics":
            raise CommandError(
                "--cost-from metrics needs --metrics (the service's metrics URL or a file)"
            )
        return None, None
    end = _read_samples("--metrics", args.metrics)
    start = _read_samples("--metrics-start", args.metrics_start) if args.metrics_start else None
    app = app_metrics(end, shown_url(args.metrics))
    if start is not None:
        app = app.minus(app_metrics(start, shown_url(args.metrics_start)))
    if args.cost_from != "metrics":
        return None, app
    value = counter_total(end, metric)
    before = counter_total(start, metric) if start is not None else None
    if (
        value is not None
        and before is not None
        and math.isfinite(value)
        and math.isfinite(before)
        and before > value
    ):
        raise CommandError(
            f"{metric} went down between --metrics-start ({before:g}) and --metrics "
            f"({value:g}): an instance restarted between the two readings; read both from "
            "the same instance"
        )
    cost = CostReading(
        metric=metric, value=value, source=shown_url(args.metrics), start_value=before
    )
    return cost, app


def _file_entries(paths: list[str], flag: str = "--file") -> Iterator[object]:
    """Entries of exports: files, `-` (stdin), FIFOs, /dev/null, `<(cmd)`: whatever reads."""
    from infra.cli.logfile import iter_entries, open_export  # noqa: PLC0415

    for path in paths:
        if path != "-":
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                raise CommandError(f"{flag} {path}: no such file") from None
            except OSError as exc:
                raise CommandError(f"{flag} {path}: {exc.strerror or exc}") from None
            if stat.S_ISDIR(mode):
                raise CommandError(f"{flag} {path}: a directory, not a log export: name a file")
        try:
            with open_export(path) as stream:
                yield from iter_entries(stream)
        except OSError as exc:
            raise CommandError(f"{flag} {path}: {exc.strerror or exc}") from None


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


def _baseline_window(
    args: argparse.Namespace, now: float, window: tuple[float | None, float | None]
) -> tuple[float | None, float | None] | None:
    """The baseline's window (None: no baseline asked for)."""
    if not (args.baseline_file or args.baseline_since or args.baseline_until):
        return None
    if args.cost_from == "metrics":
        raise CommandError(
            "--baseline-file/--baseline-since are the cost lines' baseline: drop them with "
            "--cost-from metrics (whose baseline is phase2CostBaseline or --cost-baseline)"
        )
    since = until = None
    if args.baseline_since:
        since = parse_when(args.baseline_since, now, "--baseline-since")
    if args.baseline_until:
        until = parse_when(args.baseline_until, now, "--baseline-until")
    if not args.baseline_file and (since is None or until is None):
        raise CommandError(
            "a baseline from Cloud Logging needs --baseline-since and --baseline-until (or give "
            "--baseline-file PATH)"
        )
    if since is not None and until is not None and since >= until:
        raise CommandError("--baseline-since must be before --baseline-until")
    start, end = window
    if (
        None not in (since, until, start)
        and since < (end if end is not None else now)  # type: ignore[operator]
        and start < until  # type: ignore[operator]
    ):
        raise CommandError(
            "the baseline window overlaps the window: a baseline is a time before Phase 2"
        )
    return since, until


def _baseline(
    args: argparse.Namespace,
    project: str,
    service: str,
    window: tuple[float | None, float | None],
) -> tuple[CostLines, str]:
    since, until = window
    accumulator = Phase2Accumulator(service, since=since, until=until)
    if args.baseline_file:
        accumulator.add_all(_file_entries(args.baseline_file, "--baseline-file"))
        source = ", ".join(args.baseline_file)
    else:
        filter_ = logging_filter(service, since, until)
        accumulator.add_all(_api_entries(project, filter_, args.page_size))
        source = "Cloud Logging"
    shown = [instant(t) for t in (since, until)]
    if any(shown):
        source += " from {} to {}".format(
            *(t.strftime("%Y-%m-%d %H:%M UTC") if t else "the end" for t in shown)
        )
    counts = accumulator.counts
    source += f" ({counts.read} entries read, {counts.malformed} malformed)"
    return accumulator.cost_lines(), source


def _check_cost_baseline(args: argparse.Namespace) -> None:
    if args.cost_baseline is None:
        return
    if args.cost_from != "metrics":
        raise CommandError(
            "--cost-baseline is a cost counter's value: it goes with --cost-from metrics "
            "(the cost lines take --baseline-file or --baseline-since/--baseline-until)"
        )
    if not 0 < args.cost_baseline < math.inf:
        raise CommandError(
            f"--cost-baseline must be a positive finite amount, got {args.cost_baseline!r}"
        )


def run(args: argparse.Namespace) -> int:
    from infra.config import SettingsError, load_report_settings  # noqa: PLC0415
    from infra.rules.phase2_render import to_json, to_markdown, to_text  # noqa: PLC0415

    try:
        project, service, settings = load_report_settings(args.stack)
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    project = args.project or project
    service = args.service or service
    now = time.time()
    since, until = _window(args, now)
    filter_ = logging_filter(service, since, until)
    if args.print_filter:
        print(filter_)
        return 0
    if not 1 <= args.page_size <= 1000:
        raise CommandError("--page-size must be within 1..1000")
    _check_cost_baseline(args)
    baseline_window = _baseline_window(args, now, (since, until))
    cost, app = _metrics(args, settings.cost_metric)

    accumulator = Phase2Accumulator(service, since=since, until=until)
    entries = (
        _file_entries(args.file) if args.file else _api_entries(project, filter_, args.page_size)
    )
    accumulator.add_all(entries)
    baseline, baseline_source = (
        _baseline(args, project, service, baseline_window)
        if baseline_window is not None
        else (None, None)
    )
    report = accumulator.report(
        _targets(settings, args.cost_baseline),
        cost,
        baseline=baseline,
        baseline_source=baseline_source,
        per=args.cost_per,
        app=app,
    )

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
