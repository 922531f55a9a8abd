"""Text, Markdown and JSON renderings of a `Phase2Report` (pure: report in, string out)."""

from __future__ import annotations

import json

from infra.rules.phase2 import (
    COST_LINES_COVER,
    COST_PER,
    FAIL,
    PASS,
    CostLines,
    DebateRow,
    Phase2Report,
    instant,
)
from infra.rules.phase2_metrics import AppMetrics, Histogram

VERDICT_WORD = {PASS: "PASS", FAIL: "FAIL"}


def _verdict_word(verdict: str) -> str:
    return VERDICT_WORD.get(verdict, verdict.upper())


def _instant(epoch: float | None) -> str:
    moment = instant(epoch)
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _window(report: Phase2Report) -> str:
    since = _instant(report.since) if report.since is not None else "start of data"
    until = _instant(report.until) if report.until is not None else "end of data"
    return f"{since} -> {until}"


def _overlap(row: DebateRow) -> str:
    if row.overlap is None:
        return "-"
    return "yes" if row.overlap else "NO"


def _entries_line(report: Phase2Report) -> str:
    c = report.counts
    parts = [
        f"{c.read} read",
        f"{c.recognised} Phase 2 lines",
        f"{c.other_message + c.without_message} other {report.service} entries",
        f"{c.other_service} other services",
        f"{c.other_resource} other resources",
        f"{c.malformed} malformed",
    ]
    if c.outside_window:
        parts.append(f"{c.outside_window} outside the window")
    if c.undated:
        parts.append(f"{c.undated} Phase 2 lines without a timestamp")
    if c.bad_debate_event:
        parts.append(f"{c.bad_debate_event} unreadable debate events")
    if c.bad_cost_line:
        parts.append(f"{c.bad_cost_line} cost lines with a negative amount (not summed)")
    return ", ".join(parts)


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.6f}" if value < 100 else f"${value:,.2f}"


def _cost_rows(report: Phase2Report) -> list[tuple[str, str, str]]:
    """(row, window, baseline) of the cost lines comparison."""
    lines = report.cost_lines
    per = COST_PER[lines.per]
    window, baseline = lines.window, lines.baseline

    def both(value) -> tuple[str, str]:
        return value(window), "-" if baseline is None else value(baseline)

    rows = [
        ("total", *both(lambda c: _money(float(c.total)))),
        ("paid calls", *both(lambda c: str(c.calls))),
        ("analyses requested", *both(lambda c: str(c.analyses_requested))),
        (f"per {per}", *both(lambda c: _money(c.rate(lines.per)))),
    ]
    return rows


def _cost_lines_shown(report: Phase2Report) -> bool:
    lines = report.cost_lines
    return report.cost is None or bool(lines.window.calls) or lines.baseline is not None


def _cost_text(report: Phase2Report, max_rows: int) -> list[str]:
    out: list[str] = []
    cost = report.cost
    if cost is not None:
        spent = cost.spent
        out.append(
            f"Cost counter: {cost.metric} from {cost.source}: "
            + ("not found" if spent is None else f"{spent:.6g}")
            + (
                f", baseline {report.targets.cost_baseline:.6g}"
                if report.targets.cost_baseline is not None
                else ", no baseline set"
            )
        )
    if not _cost_lines_shown(report):
        return out
    lines = report.cost_lines
    out.append(f"API cost from {COST_LINES_COVER}:")
    out.append(f"  {'':<24} {'window':>14} {'baseline':>14}")
    for row, now, before in _cost_rows(report):
        out.append(f"  {row:<24} {now:>14} {before:>14}")
    if lines.ratio is not None:
        out.append(
            f"  ratio: {lines.ratio:.0%} of the baseline per {COST_PER[lines.per]} "
            f"(target <= {report.targets.cost_ratio_max:.0%})"
        )
    if lines.baseline_source:
        out.append(f"  baseline: {lines.baseline_source}")
    for title, summary in (("window", lines.window), ("baseline", lines.baseline)):
        out += _by_agent_model(title, summary, max_rows)
    return out


def _by_agent_model(title: str, summary: CostLines | None, max_rows: int) -> list[str]:
    if summary is None or not summary.by_agent_model:
        return []
    rows = sorted(summary.by_agent_model, key=lambda r: (-r[3], r[0], r[1]))
    out = [f"  by agent and model ({title}):"]
    for agent, model, calls, usd in rows[:max_rows]:
        out.append(f"    {agent:<14} {model:<30} {calls:>6} calls {_money(float(usd)):>14}")
    if len(rows) > max_rows:
        out.append(f"    ... {len(rows) - max_rows} more (see --json)")
    return out


def _quantiles(histogram: Histogram) -> str:
    p50, p95 = histogram.quantile(0.5), histogram.quantile(0.95)
    if p50 is None or p95 is None:
        return "no observation"
    return f"p50 ~{p50:.2f} s, p95 ~{p95:.2f} s, n={histogram.count:g}"


def _app_text(app: AppMetrics) -> list[str]:
    window = ", the difference of two readings" if app.window else ""
    out = [f"App metrics from {app.source}{window} (percentiles are bucket estimates):"]
    duration = app.duration
    if duration is None:
        out.append(
            "  analysis duration: memory_analysis_duration_seconds not there (no analysis "
            "succeeded since the instance started, or the app's metrics are off)"
        )
    else:
        providers = ", ".join(f"{k} {v.count:g}" for k, v in app.durations.items())
        out.append(
            f"  analysis duration (the LLM call of each success): {_quantiles(duration)} "
            f"({providers})"
        )
    if app.cache_hits is None or app.cache_misses is None:
        out.append("  cache: memory_analysis_cache_hits_total/_misses_total not there")
    else:
        rate = app.cache_hit_rate
        out.append(
            f"  cache: {app.cache_hits:g} hits, {app.cache_misses:g} misses"
            + ("" if rate is None else f": hit rate {rate:.1%} (HIT / (HIT + MISS))")
        )
    out += [f"  unreadable: {problem}" for problem in app.problems]
    return out


def to_json(report: Phase2Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_text(report: Phase2Report, max_rows: int = 10) -> str:
    lines = [
        f"Phase 2 report for {report.service}",
        f"Window:   {_window(report)}",
        f"Observed: {_instant(report.first_seen)} -> {_instant(report.last_seen)}",
        f"Entries:  {_entries_line(report)}",
        "",
    ]
    width = max(len(f.label) for f in report.figures)
    shown = max(len(f.shown) for f in report.figures)
    target = max(len(f.target) for f in report.figures)
    for f in report.figures:
        row = (
            f"  {_verdict_word(f.verdict):<7} {f.label:<{width}}  {f.shown:<{shown}}  "
            f"target {f.target:<{target}}"
        )
        row = row.rstrip()
        if f.detail and len(row) + len(f.detail) > 130:
            lines += [row, f"{'':<10}{f.detail}"]  # a long reason goes under its row
            continue
        if f.detail:
            row += f"  ({f.detail})"
        lines.append(row)
    lines.append(f"Overall: {_verdict_word(report.verdict)}")
    if report.app is not None:
        lines += ["", *_app_text(report.app)]

    a = report.analyses
    lines += [
        "",
        f"Analyses: {a.succeeded} succeeded, {a.failed} failed, {a.served_from_cache} served "
        f"from cache, {a.ended_without_result} ended early, {a.abandoned} starts without an "
        f"end, {a.unmatched_success} successes without a start",
    ]
    if a.providers:
        lines.append(
            "Providers: " + ", ".join(f"{name} {count}" for name, count in a.providers.items())
        )
    if a.sessions:
        lines.append(f"Slowest sessions (p95, of {len(a.sessions)}):")
        lines.append(f"  {'session':<40} {'n':>4} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
        for s in a.sessions[:max_rows]:
            lines.append(
                f"  {s.session:<40} {s.count:>4} {_secs(s.p50):>7} {_secs(s.p95):>7} "
                f"{_secs(s.max):>7}"
            )
    if report.debates:
        lines.append(f"Debates ({len(report.debates)}):")
        shown = report.debates[:max_rows]
        width = min(40, max(20, *(len(d.debate_id) for d in shown)))
        lines.append(
            f"  {'debate':<{width}} {'started':<24} {'round 1 s':>9} {'overlap':>7} "
            f"{'total s':>8} status"
        )
        for d in shown:
            lines.append(
                f"  {d.debate_id:<{width}} {_instant(d.started):<24} "
                f"{_secs(d.round1_seconds):>9} {_overlap(d):>7} {_secs(d.total_seconds):>8} "
                f"{d.status or '-'}"
            )
        if len(report.debates) > max_rows:
            lines.append(f"  ... {len(report.debates) - max_rows} more (see --json)")
    cost = _cost_text(report, max_rows)
    if cost:
        lines += ["", *cost]
    return "\n".join(lines) + "\n"


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Phase2Report, max_rows: int = 20, title_date: str | None = None) -> str:
    """A page for docs/deployments/<date>-phase2-results.md."""
    date = title_date or _instant(report.last_seen)[:10]
    out = [
        f"# Phase 2 results: {report.service} ({date})",
        "",
        f"Overall verdict: **{_verdict_word(report.verdict)}**",
        "",
        f"- Window: {_window(report)}",
        f"- Observed log lines: {_instant(report.first_seen)} to {_instant(report.last_seen)}",
        f"- Entries: {_entries_line(report)}",
        "",
        "| Goal | Measured | Target | Verdict |",
        "|---|---|---|---|",
    ]
    for f in report.figures:
        measured = f.shown + (f" ({f.detail})" if f.detail else "")
        out.append(
            f"| {_md_cell(f.label)} | {_md_cell(measured)} | {_md_cell(f.target)} | "
            f"**{_verdict_word(f.verdict)}** |"
        )

    a = report.analyses
    out += [
        "",
        "## Memory analyses",
        "",
        f"{a.succeeded} succeeded, {a.failed} failed, {a.served_from_cache} served from cache, "
        f"{a.ended_without_result} ended early, {a.abandoned} starts without an end, "
        f"{a.unmatched_success} successes without a start. Latency (start line to success "
        f"line): p50 {_secs(a.p50)} s, p95 {_secs(a.p95)} s, max {_secs(a.max)} s over "
        f"{a.count} analyses.",
    ]
    if a.providers:
        out += [
            "",
            "Providers: " + ", ".join(f"`{name}` {count}" for name, count in a.providers.items()),
        ]
    if a.sessions:
        out += [
            "",
            f"Slowest sessions by p95 ({min(max_rows, len(a.sessions))} of {len(a.sessions)}):",
            "",
            "| Session | Analyses | p50 (s) | p95 (s) | max (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in a.sessions[:max_rows]:
            out.append(
                f"| `{_md_cell(s.session)}` | {s.count} | {_secs(s.p50)} | {_secs(s.p95)} | "
                f"{_secs(s.max)} |"
            )

    out += ["", "## Debates", ""]
    if not report.debates:
        out.append("No debate events in the window.")
    else:
        out += [
            "| Debate | Started | Round 1 (s) | Attacker/challenger overlap | Total (s) | Status |",
            "|---|---|---:|---|---:|---|",
        ]
        for d in report.debates[:max_rows]:
            out.append(
                f"| `{_md_cell(d.debate_id)}` | {_instant(d.started)} | "
                f"{_secs(d.round1_seconds)} | {_overlap(d)} | {_secs(d.total_seconds)} | "
                f"{_md_cell(d.status or '-')} |"
            )
        if len(report.debates) > max_rows:
            out.append(f"\n{len(report.debates) - max_rows} more debates in the JSON report.")

    if report.app is not None:
        first, *rest = _app_text(report.app)
        out += ["", "## The app's own metrics", "", _md_cell(first), ""]
        out += [f"- {_md_cell(line.strip())}" for line in rest]

    out += ["", "## API cost", "", *_cost_markdown(report)]
    out.append("")
    return "\n".join(out)


def _cost_markdown(report: Phase2Report) -> list[str]:
    out: list[str] = []
    cost = report.cost
    if cost is not None:
        spent = cost.spent
        out.append(
            f"`{cost.metric}` from {cost.source}: "
            + ("not found" if spent is None else f"{spent:.6g}")
            + (
                f", baseline {report.targets.cost_baseline:.6g}"
                if report.targets.cost_baseline is not None
                else ", no baseline set"
            )
            + "."
        )
    if not _cost_lines_shown(report):
        return out
    lines = report.cost_lines
    if out:
        out.append("")
    out += [
        f"From {COST_LINES_COVER}.",
        "",
        "| | Window | Baseline |",
        "|---|---:|---:|",
        *(f"| {row} | {now} | {before} |" for row, now, before in _cost_rows(report)),
    ]
    if lines.ratio is not None:
        out += [
            "",
            f"Ratio: {lines.ratio:.0%} of the baseline per {COST_PER[lines.per]} "
            f"(target <= {report.targets.cost_ratio_max:.0%}).",
        ]
    if lines.baseline_source:
        out += ["", f"Baseline: {_md_cell(lines.baseline_source)}."]
    return out
