"""The Phase 2 figures, computed from Cloud Run log entries: pure, streaming decisions.

Data in, verdict out; no I/O here (readers live in `infra/cli/logfile.py`, the command in
`infra/cli/phase2.py`). Feed entries one at a time to `Phase2Accumulator.add`, then call
`report(targets, cost)`. Memory grows with the number of *recognised* Phase 2 lines (a few
bytes each, kept in compact arrays), never with the number of entries read.

Only `resource.type = cloud_run_revision` entries whose `resource.labels.service_name` is the
configured service count. The message is `jsonPayload.message` (or `textPayload` when the app
logs plain text). Recognised lines (see docs/phase2.md for the full list and examples):

  cache     `[MemoryAnalyzer] Cache HIT pour session S (hash=H)` / `... Cache SAVED pour session S`
  start     `Lancement de l'analyse sémantique (persist=True | offline=False) pour S`
            `[MemoryAnalyzer] Analyse démarrée pour session S`
  success   `[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session S [(durée=1.42s)]`
            `[MemoryAnalyzer] Fallback Nexus réussi pour session S` (also Anima)
  ends      `[MemoryAnalyzer] Tous fallbacks échoués pour session S: ...` (failed),
            `Session S déjà analysée — skip.`, `Historique vide pour S. Analyse annulée.`,
            `Analyse sémantique terminée (persist=..., provider=offline) pour S.`
  debates   JSON events, in the message (as the app already logs `debate_start`) or as
            `jsonPayload` fields: `debate_start`, `debate_agent_start`, `debate_agent_end`,
            `debate_end`, with `debate_id`, `round`, `role`, `agent`, `duration_ms`, `status`.

Analysis latency is the time from a start line to the success line of the same session (the
oldest pending start is paired, FIFO, so concurrent analyses of a session pair correctly; a
start left pending longer than `MAX_PAIRING_SECONDS` is abandoned). A cache HIT, a failure or an
early end closes a start without a latency sample. A success line that carries `durée=` and has
no start gives its own duration.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from infra.rules.phase2_metrics import (
    AppMetrics,
    MetricsError,
    not_an_amount,
    parse_prometheus_counter,
)

__all__ = ["MetricsError", "parse_prometheus_counter"]  # kept importable from here

RESOURCE_TYPE = "cloud_run_revision"
MAX_PAIRING_SECONDS = 180.0
"""A start older than this when a later end arrives is abandoned (the app's three providers
time out at 30 s each; anything beyond means a lost line, not a slow analysis)."""

# --- recognised lines -------------------------------------------------------------------------

_SID = r"(?P<session>[^\s()]+)"
HIT_RE = re.compile(r"\[MemoryAnalyzer\] Cache HIT pour session " + _SID)
SAVED_RE = re.compile(r"\[MemoryAnalyzer\] Cache SAVED pour session " + _SID)
SUCCESS_RE = re.compile(
    r"\[MemoryAnalyzer\] (?:Analyse r[ée]ussie avec (?P<provider>[\w.-]+)"
    r"|Fallback (?P<fallback>\w+) r[ée]ussi) pour session " + _SID + r"(?P<rest>.*)"
)
DURATION_RE = re.compile(r"dur[ée]e\s*=\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)\b")
FAILED_RE = re.compile(
    r"\[MemoryAnalyzer\] Tous (?:les )?fallbacks [ée]chou[ée]s pour session (?P<session>[^\s:()]+)"
)
START_RE = re.compile(
    r"Lancement de l['’]analyse s[ée]mantique \(persist=(?P<persist>\w+)"
    r"(?: \| offline=(?P<offline>\w+))?\) pour (?P<session>\S+)"
)
"""The analyzer's start line; before October 2025 it had no `| offline=...` part."""
START_TAGGED_RE = re.compile(r"\[MemoryAnalyzer\] Analyse d[ée]marr[ée]e pour session " + _SID)
SKIPPED_RE = re.compile(r"Session (?P<session>\S+) d[ée]j[àa] analys[ée]e")
EMPTY_RE = re.compile(r"Historique vide pour (?P<session>\S+?)\.? Analyse annul[ée]e")
FINISHED_RE = re.compile(
    r"Analyse s[ée]mantique termin[ée]e \(persist=\w+, provider=(?P<provider>[\w.-]+)\) "
    r"pour (?P<session>\S+?)\.?$"
)

COST_RE = re.compile(
    r"Co[uû]t de (?P<amount>-?[0-9]{1,15}(?:\.[0-9]{1,12})?) pour "
    r"'(?P<agent>[^'\n]{0,200})' \('(?P<model>[^'\n]{0,200})'\) enregistr[ée]"
)
"""The cost tracker's line (logger `backend.core.cost_tracker`), one per paid LLM call:
`Coût de 0.000210 pour 'anima' ('gpt-4o-mini') enregistré.` (USD, six decimals)."""

# Event kinds in a session's timeline. START sorts before the others at equal timestamps.
START, SUCCESS, HIT, FAILED, ENDED = 0, 1, 2, 3, 4

DEBATE_EVENTS = frozenset({"debate_start", "debate_agent_start", "debate_agent_end", "debate_end"})
ROUND1_ROLES = ("attacker", "challenger")


@dataclass(frozen=True)
class MalformedEntry:
    """What a reader yields in place of an entry it could not parse."""

    reason: str
    offset: int | None = None


def parse_json_int(text: str) -> int | float:
    """JSON integers (`json.loads(..., parse_int=...)`): one of thousands of digits, beyond
    Python's conversion limit, becomes a float, so that one odd number does not lose its entry."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_timestamp(value: object) -> float | None:
    """RFC 3339 (`2025-10-08T19:42:13.123456789Z`) to epoch seconds, or None.

    None too for an instant whose UTC time falls outside years 1-9999 (`0001-01-01T00:00:00+14:00`
    is valid RFC 3339, but no date can show it).
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).timestamp()
    except (ValueError, OverflowError):
        return None


def instant(epoch: float | None) -> datetime | None:
    """The UTC time of an epoch, or None when there is none to show (outside years 1-9999)."""
    if epoch is None or not math.isfinite(epoch):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _format_instant(epoch: float | None) -> str | None:
    moment = instant(epoch)
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, Python's "inclusive")."""
    n = len(sorted_values)
    if n == 0:
        return None
    if n == 1:
        return sorted_values[0]
    h = (n - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


# --- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase2Targets:
    """The Phase 2 goals. Latency targets stated "under" are judged on p95, "about" on p50."""

    cache_hit_rate_min: float = 0.40
    cache_hit_rate_expected_max: float = 0.50
    analysis_p95_max_seconds: float = 2.0
    debate_round1_p50_max_seconds: float = 3.0
    debate_total_p50_max_seconds: float = 11.0
    cost_ratio_max: float = 0.80
    cost_baseline: float | None = None

    def __post_init__(self) -> None:
        for name in ("cache_hit_rate_min", "cache_hit_rate_expected_max", "cost_ratio_max"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be a ratio in (0, 1], got {value!r}")
        if self.cache_hit_rate_expected_max < self.cache_hit_rate_min:
            raise ValueError("cache_hit_rate_expected_max must be >= cache_hit_rate_min")
        for name in (
            "analysis_p95_max_seconds",
            "debate_round1_p50_max_seconds",
            "debate_total_p50_max_seconds",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.cost_baseline is not None and not 0 < self.cost_baseline < math.inf:
            raise ValueError(
                f"cost_baseline must be a positive finite number when set, got "
                f"{self.cost_baseline!r}"
            )


# --- cost -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostReading:
    """A cost counter read at the end (and optionally the start) of the window."""

    metric: str
    value: float | None
    source: str
    start_value: float | None = None

    @property
    def spent(self) -> float | None:
        if self.value is None:
            return None
        if self.start_value is None:
            return self.value
        return self.value - self.start_value

    @property
    def problem(self) -> str | None:
        """Why the reading is no cost (a negative or non-finite counter), or None."""
        for what, value in (("--metrics", self.value), ("--metrics-start", self.start_value)):
            why = not_an_amount(value)
            if why:
                return f"not a cost: {self.metric} in {what} is {why}"
        return None


COST_PER = {"analysis": "analysis requested", "call": "paid call"}
"""What the cost is divided by, so that a quieter week does not pass as a saving."""


@dataclass(frozen=True)
class CostLines:
    """The cost lines of one window, summed by agent and model (exact decimal USD)."""

    by_agent_model: tuple[tuple[str, str, int, Decimal], ...] = ()
    analyses_requested: int = 0
    unreadable: int = 0  # cost lines with a negative amount: never summed

    @property
    def calls(self) -> int:
        return sum(calls for _a, _m, calls, _usd in self.by_agent_model)

    @property
    def total(self) -> Decimal:
        return sum((usd for _a, _m, _c, usd in self.by_agent_model), Decimal(0))

    def work(self, per: str) -> int:
        return self.analyses_requested if per == "analysis" else self.calls

    def rate(self, per: str) -> float | None:
        """USD per unit of work, or None when no work was done."""
        work = self.work(per)
        return float(self.total) / work if work else None

    def to_dict(self, per: str) -> dict[str, Any]:
        return {
            "total_usd": float(self.total),
            "paid_calls": self.calls,
            "analyses_requested": self.analyses_requested,
            "usd_per_unit": _round(self.rate(per), 9),
            "negative_cost_lines": self.unreadable,
            "by_agent_model": [
                {"agent": a, "model": m, "calls": c, "usd": float(u)}
                for a, m, c, u in self.by_agent_model
            ],
        }


@dataclass(frozen=True)
class CostComparison:
    """The window's cost lines against a baseline's, per unit of work."""

    window: CostLines
    baseline: CostLines | None
    per: str = "analysis"
    baseline_source: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        now, before = self.window.rate(self.per), self.baseline.rate(self.per)
        if now is None or before is None or before <= 0:
            return None
        return now / before


# --- accumulation -----------------------------------------------------------------------------


@dataclass
class EntryCounts:
    read: int = 0
    malformed: int = 0
    other_resource: int = 0
    other_service: int = 0
    outside_window: int = 0
    without_message: int = 0
    other_message: int = 0
    recognised: int = 0
    undated: int = 0
    bad_debate_event: int = 0
    bad_cost_line: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "malformed": self.malformed,
            "malformed_reasons": dict(sorted(self.malformed_reasons.items())),
            "other_resource": self.other_resource,
            "other_service": self.other_service,
            "outside_window": self.outside_window,
            "without_message": self.without_message,
            "other_message": self.other_message,
            "recognised": self.recognised,
            "undated": self.undated,
            "bad_debate_event": self.bad_debate_event,
            "bad_cost_line": self.bad_cost_line,
        }


class _Events:
    """Every session's analysis events in four flat arrays (about 21 bytes an event)."""

    __slots__ = ("durations", "kinds", "sessions", "times")

    def __init__(self) -> None:
        self.sessions = array("I")  # index into the session names
        self.times = array("d")
        self.kinds = bytearray()
        self.durations = array("d")  # the duration a success line carries, or NaN

    def add(self, session: int, when: float, kind: int, duration: float) -> None:
        self.sessions.append(session)
        self.times.append(when)
        self.kinds.append(kind)
        self.durations.append(duration)

    def by_session(self, count: int) -> Iterator[tuple[int, array]]:
        """(session, its event indices in arrival order), grouped by a counting sort."""
        starts = array("I", bytes(4 * (count + 1)))
        for session in self.sessions:
            starts[session + 1] += 1
        for i in range(count):
            starts[i + 1] += starts[i]
        order = array("I", bytes(4 * len(self.sessions)))
        fill = array("I", starts)
        for index, session in enumerate(self.sessions):
            order[fill[session]] = index
            fill[session] += 1
        for session in range(count):
            yield session, order[starts[session] : starts[session + 1]]


class _Debate:
    __slots__ = ("agent_order", "end", "r1", "session", "start", "status")

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None
        self.status: str | None = None
        self.session: str | None = None
        self.agent_order: tuple[str, ...] = ()
        # role -> [start, end, duration_seconds]
        self.r1: dict[str, list[float | None]] = {}


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _max(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)


class Phase2Accumulator:
    """Consumes log entries one by one; `report()` gives the figures and verdicts."""

    def __init__(
        self,
        service_name: str,
        since: float | None = None,
        until: float | None = None,
    ) -> None:
        if not service_name:
            raise ValueError("service_name must not be empty")
        self.service_name = service_name
        self.since = since
        self.until = until
        self.counts = EntryCounts()
        self.cache_hits = 0
        self.cache_saved = 0
        self.first_seen: float | None = None
        self.last_seen: float | None = None
        self._session_ids: dict[str, int] = {}
        self._events = _Events()
        self._debates: dict[str, _Debate] = {}
        self._debate_events: dict[str, int] = {}  # event kind -> lines read (for NO DATA reasons)
        self._providers: dict[str, int] = {}
        self.analyses_requested = 0
        self._costs: dict[tuple[str, str], list] = {}  # (agent, model) -> [calls, Decimal USD]

    # -- intake --

    def add_all(self, entries: Iterable[object]) -> Phase2Accumulator:
        for entry in entries:
            self.add(entry)
        return self

    def add(self, entry: object) -> None:  # noqa: PLR0911, PLR0912, PLR0915 (hot path: flat)
        counts = self.counts
        counts.read += 1
        try:
            resource = entry["resource"]  # type: ignore[index]
            kind = resource["type"]
            service = resource["labels"]["service_name"] if kind == RESOURCE_TYPE else None
        except (KeyError, TypeError, IndexError):
            self._odd(entry)
            return
        if kind != RESOURCE_TYPE:
            counts.other_resource += 1
            return
        if service != self.service_name:
            counts.other_service += 1
            return
        assert isinstance(entry, dict)
        when: float | None = None
        windowed = self.since is not None or self.until is not None
        if windowed:
            when = self._when(entry)
            if when is not None and (
                (self.since is not None and when < self.since)
                or (self.until is not None and when >= self.until)
            ):
                counts.outside_window += 1
                return

        payload = entry.get("jsonPayload")
        message = None
        if payload.__class__ is dict:
            message = payload.get("message")
            event = payload.get("event")
            if event.__class__ is str and event in DEBATE_EVENTS:
                if not windowed:
                    when = self._when(entry)
                self._count_debate(self._debate_event(payload, when))
                return
        elif payload is None:
            message = entry.get("textPayload")
        if message.__class__ is not str:
            counts.without_message += 1
            return
        if "debate_" in message and '"event"' in message:
            structured = _json_event(message)
            if structured is None:
                counts.bad_debate_event += 1
                return
            if not windowed:
                when = self._when(entry)
            self._count_debate(self._debate_event(structured, when))
            return
        if "enregistr" in message and "pour '" in message:
            match = COST_RE.search(message)
            if match is not None:
                if not windowed:
                    when = self._when(entry)
                self._cost_line(match, when)
                return
        if "nalys" not in message and "MemoryAnalyzer" not in message:
            counts.other_message += 1
            return
        if not windowed:
            when = self._when(entry)
        if self._analyzer_line(message, when):
            counts.recognised += 1
        else:
            counts.other_message += 1

    def _odd(self, entry: object) -> None:
        """The slow path: an entry without the usual resource fields, or no entry at all."""
        if isinstance(entry, MalformedEntry):
            self._malformed(entry.reason)
        elif not isinstance(entry, dict):
            self._malformed("not a JSON object")
        else:
            resource = entry.get("resource")
            if isinstance(resource, dict) and resource.get("type") == RESOURCE_TYPE:
                self.counts.other_service += 1  # a revision without a service label
            else:
                self.counts.other_resource += 1

    def _cost_line(self, match: re.Match[str], when: float | None) -> None:
        amount = Decimal(match["amount"])
        if amount < 0:
            self.counts.bad_cost_line += 1  # a cost below zero is no cost: never summed
            return
        self.counts.recognised += 1
        self._seen(when)
        slot = self._costs.get((match["agent"], match["model"]))
        if slot is None:
            slot = self._costs[(match["agent"], match["model"])] = [0, Decimal(0)]
        slot[0] += 1
        slot[1] += amount

    def cost_lines(self) -> CostLines:
        """The window's cost lines, by agent and model, and the work requested."""
        rows = tuple(
            (agent, model, calls, usd)
            for (agent, model), (calls, usd) in sorted(self._costs.items())
        )
        return CostLines(rows, self.analyses_requested, self.counts.bad_cost_line)

    def _count_debate(self, recognised: bool) -> None:
        if recognised:
            self.counts.recognised += 1
        else:
            self.counts.bad_debate_event += 1

    def _malformed(self, reason: str) -> None:
        self.counts.malformed += 1
        reasons = self.counts.malformed_reasons
        reasons[reason] = reasons.get(reason, 0) + 1

    def _when(self, entry: dict) -> float | None:
        when = parse_timestamp(entry.get("timestamp"))
        if when is None:
            when = parse_timestamp(entry.get("receiveTimestamp"))
        return when

    def _seen(self, when: float | None) -> None:
        if when is None:
            self.counts.undated += 1
            return
        self.first_seen = _min(self.first_seen, when)
        self.last_seen = _max(self.last_seen, when)

    def _timeline_event(self, session: str, when: float | None, kind: int, extra: float) -> None:
        if when is None:
            return
        ids = self._session_ids
        number = ids.get(session)
        if number is None:
            number = ids[session] = len(ids)
        self._events.add(number, when, kind, extra)

    def _analyzer_line(self, message: str, when: float | None) -> bool:  # noqa: PLR0911
        if "[MemoryAnalyzer]" in message:
            # A cheap substring test picks the one pattern worth trying.
            match = HIT_RE.search(message) if "Cache HIT" in message else None
            if match:
                self._seen(when)
                self.cache_hits += 1
                self._timeline_event(match["session"], when, HIT, math.nan)
                return True
            match = SAVED_RE.search(message) if "Cache SAVED" in message else None
            if match:
                self._seen(when)
                self.cache_saved += 1
                return True
            match = SUCCESS_RE.search(message) if "ussi" in message else None
            if match:
                self._seen(when)
                provider = match["provider"] or (match["fallback"] or "").lower()
                self._providers[provider] = self._providers.get(provider, 0) + 1
                duration = math.nan
                carried = DURATION_RE.search(match["rest"])
                if carried:
                    duration = float(carried["value"])
                    if carried["unit"] == "ms":
                        duration /= 1000.0
                self._timeline_event(match["session"], when, SUCCESS, duration)
                return True
            match = FAILED_RE.search(message) if "fallbacks" in message else None
            if match:
                self._seen(when)
                self._timeline_event(match["session"], when, FAILED, math.nan)
                return True
            match = START_TAGGED_RE.search(message)
            if match:
                self._seen(when)
                self.analyses_requested += 1
                self._timeline_event(match["session"], when, START, math.nan)
                return True
            return False
        match = START_RE.search(message) if "Lancement" in message else None
        if match:
            self._seen(when)
            self.analyses_requested += 1
            self._timeline_event(match["session"], when, START, math.nan)
            return True
        match = SKIPPED_RE.search(message) or EMPTY_RE.search(message)
        if match:
            self._seen(when)
            self._timeline_event(match["session"], when, ENDED, math.nan)
            return True
        match = FINISHED_RE.search(message)
        if match:
            self._seen(when)
            # Only an offline analysis ends without a success line; the others already closed.
            if match["provider"] == "offline":
                self._timeline_event(match["session"], when, ENDED, math.nan)
            return True
        return False

    def _debate_event(self, event: Mapping[str, Any], when: float | None) -> bool:
        kind = event.get("event")
        key = event.get("debate_id") or event.get("session_id")
        if kind not in DEBATE_EVENTS or not isinstance(key, str) or not key:
            return False
        self._debate_events[kind] = self._debate_events.get(kind, 0) + 1
        self._seen(when)
        debate = self._debates.get(key)
        if debate is None:
            debate = self._debates[key] = _Debate()
        if kind == "debate_start":
            _debate_started(debate, event, when)
            return True
        if kind == "debate_end":
            status = event.get("status", "completed")  # no status: the debate ran to its end
            if not isinstance(status, str) or not status:
                return False  # a status that is no word (1, null, a list) completes nothing
            if when is not None:
                debate.end = _max(debate.end, when)
            debate.status = status
            return True
        return _agent_event(debate, kind, event, when)

    # -- report --

    def report(
        self,
        targets: Phase2Targets,
        cost: CostReading | None = None,
        *,
        baseline: CostLines | None = None,
        baseline_source: str | None = None,
        per: str = "analysis",
        app: AppMetrics | None = None,
    ) -> Phase2Report:
        """The figures and verdicts. The API cost is judged from `cost` (an app's counter) when
        given, else from the cost lines against `baseline` (the same lines before Phase 2),
        each divided by the work done (`per`: "analysis" requested or paid "call")."""
        if per not in COST_PER:
            raise ValueError(f"per must be one of {', '.join(COST_PER)}, got {per!r}")
        analyses = self._analyses()
        debates = self._debate_rows()
        comparison = CostComparison(self.cost_lines(), baseline, per, baseline_source)
        figures = _judge(self, analyses, debates, targets, cost=cost, comparison=comparison)
        return Phase2Report(
            service=self.service_name,
            since=self.since,
            until=self.until,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            counts=self.counts,
            cache_hits=self.cache_hits,
            cache_saved=self.cache_saved,
            analyses=analyses,
            debates=debates,
            cost=cost,
            targets=targets,
            figures=figures,
            cost_lines=comparison,
            app=app,
        )

    def _analyses(self) -> AnalysisSummary:
        samples = array("d")
        sessions: list[SessionLatency] = []
        summary = AnalysisSummary()
        names = list(self._session_ids)
        for number, indices in self._events.by_session(len(names)):
            own = _pair(self._events, indices, summary)
            if own:
                own.sort()
                samples.extend(own)
                sessions.append(
                    SessionLatency(
                        session=names[number],
                        count=len(own),
                        p50=percentile(own, 50),
                        p95=percentile(own, 95),
                        max=own[-1],
                    )
                )
        ordered = sorted(samples)
        del samples
        summary.count = len(ordered)
        summary.p50 = percentile(ordered, 50)
        summary.p95 = percentile(ordered, 95)
        summary.max = ordered[-1] if ordered else None
        summary.mean = math.fsum(ordered) / len(ordered) if ordered else None
        summary.providers = dict(sorted(self._providers.items()))
        sessions.sort(key=lambda s: (-(s.p95 or 0.0), s.session))
        summary.sessions = sessions
        return summary

    def _debate_rows(self) -> list[DebateRow]:
        rows = []
        for key, debate in self._debates.items():
            spans: dict[str, tuple[float, float]] = {}
            for slot_name, (started, end, duration) in debate.r1.items():
                role = slot_name
                if role.startswith("agent:"):
                    role = _role_from_order(debate.agent_order, role[6:]) or role
                start = started
                if end is not None and start is None and duration is not None:
                    start = end - duration  # the start line was lost; the end carries it
                if start is not None and end is not None and end >= start:
                    spans[role] = (start, end)
            attacker = spans.get("attacker")
            challenger = spans.get("challenger")
            round1 = overlap = None
            if attacker and challenger:
                round1 = max(attacker[1], challenger[1]) - min(attacker[0], challenger[0])
                overlap = max(attacker[0], challenger[0]) < min(attacker[1], challenger[1])
            total = None
            if (
                debate.status == "completed"
                and debate.start is not None
                and debate.end is not None
                and debate.end >= debate.start
            ):
                total = debate.end - debate.start
            rows.append(
                DebateRow(
                    debate_id=key,
                    session=debate.session,
                    started=debate.start,
                    status=debate.status,
                    attacker=attacker,
                    challenger=challenger,
                    round1_seconds=round1,
                    overlap=overlap,
                    total_seconds=total,
                )
            )
        rows.sort(key=lambda r: (r.started is None, r.started or 0.0, r.debate_id))
        return rows


def _role_from_order(order: tuple[str, ...], agent: object) -> str | None:
    if isinstance(agent, str):
        for index, role in enumerate(ROUND1_ROLES):
            if index < len(order) and order[index] == agent:
                return role
    return None


def _debate_started(debate: _Debate, event: Mapping[str, Any], when: float | None) -> None:
    if when is not None:
        debate.start = _min(debate.start, when)
    order = event.get("agent_order")
    if isinstance(order, list) and all(isinstance(a, str) for a in order):
        debate.agent_order = tuple(order)
    session = event.get("session_id")
    if isinstance(session, str):
        debate.session = session


def _agent_event(debate: _Debate, kind: str, event: Mapping[str, Any], when: float | None) -> bool:
    """An agent's turn started or ended; only round 1 is kept. False: not a usable event."""
    round_number = event.get("round")
    if round_number is None and (
        event.get("phase") == "synthesis" or event.get("role") == "mediator"
    ):
        return True  # the mediator's synthesis: no round, not part of round 1
    if isinstance(round_number, str) and round_number.isdigit():
        round_number = int(round_number)
    if not isinstance(round_number, int) or isinstance(round_number, bool):
        return False
    if round_number != 1:
        return True
    role = event.get("role")
    if role not in ROUND1_ROLES:
        role = _role_from_order(debate.agent_order, event.get("agent"))
    if role is None:
        # The role may become known when debate_start (with agent_order) is read later.
        agent = event.get("agent")
        if not isinstance(agent, str):
            return False
        role = "agent:" + agent
    slot = debate.r1.setdefault(role, [None, None, None])
    if kind == "debate_agent_start":
        if when is not None:
            slot[0] = _min(slot[0], when)
        return True
    if when is not None:
        slot[1] = _max(slot[1], when)
    duration = _duration_ms(event.get("duration_ms"))
    if duration is not None:
        slot[2] = duration / 1000.0
    return True


MAX_DURATION_MS = 86_400_000
"""A turn longer than a day is no turn: a duration beyond it (or negative, or not finite) is
ignored."""


def _duration_ms(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not -MAX_DURATION_MS <= value <= MAX_DURATION_MS:
        return None  # float() of an integer of thousands of digits would overflow
    duration = float(value)
    return duration if 0.0 <= duration <= MAX_DURATION_MS else None


def _json_event(message: str) -> dict | None:
    start = message.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(message[start:], parse_int=parse_json_int)
    except (ValueError, RecursionError):  # also: nested too deeply, integers too long
        return None
    if isinstance(value, dict) and value.get("event") in DEBATE_EVENTS:
        return value
    return None


def _pair(events: _Events, indices: array, summary: AnalysisSummary) -> list[float]:
    """Latency samples of one session: each end closes the oldest pending start (FIFO)."""
    times, kinds, durations = events.times, events.kinds, events.durations
    order = sorted(indices, key=lambda i: (times[i], kinds[i] != START, i))
    pending: deque[float] = deque()
    samples: list[float] = []
    for i in order:
        when, kind = times[i], kinds[i]
        if kind == START:
            pending.append(when)
            continue
        while pending and when - pending[0] > MAX_PAIRING_SECONDS:
            pending.popleft()
            summary.abandoned += 1
        start = pending.popleft() if pending else None
        if kind == SUCCESS:
            summary.succeeded += 1
            if start is not None:
                samples.append(when - start)
            elif not math.isnan(durations[i]):
                samples.append(durations[i])
                summary.from_carried_duration += 1
            else:
                summary.unmatched_success += 1
        elif kind == HIT:
            summary.served_from_cache += start is not None
        elif kind == FAILED:
            summary.failed += 1
        else:
            summary.ended_without_result += start is not None
    summary.abandoned += len(pending)
    return samples


# --- the report -------------------------------------------------------------------------------


@dataclass(slots=True)
class SessionLatency:
    session: str
    count: int
    p50: float | None
    p95: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "count": self.count,
            "p50_seconds": _round(self.p50),
            "p95_seconds": _round(self.p95),
            "max_seconds": _round(self.max),
        }


@dataclass
class AnalysisSummary:
    count: int = 0
    p50: float | None = None
    p95: float | None = None
    max: float | None = None
    mean: float | None = None
    succeeded: int = 0
    failed: int = 0
    served_from_cache: int = 0
    ended_without_result: int = 0
    abandoned: int = 0
    unmatched_success: int = 0
    from_carried_duration: int = 0
    providers: dict[str, int] = field(default_factory=dict)
    sessions: list[SessionLatency] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50_seconds": _round(self.p50),
            "p95_seconds": _round(self.p95),
            "max_seconds": _round(self.max),
            "mean_seconds": _round(self.mean),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "served_from_cache": self.served_from_cache,
            "ended_without_result": self.ended_without_result,
            "abandoned_starts": self.abandoned,
            "success_without_start": self.unmatched_success,
            "from_carried_duration": self.from_carried_duration,
            "providers": self.providers,
            "sessions": [s.to_dict() for s in self.sessions],
        }


@dataclass
class DebateRow:
    debate_id: str
    session: str | None
    started: float | None
    status: str | None
    attacker: tuple[float, float] | None
    challenger: tuple[float, float] | None
    round1_seconds: float | None
    overlap: bool | None
    total_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        def span(value: tuple[float, float] | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {
                "start": _format_instant(value[0]),
                "end": _format_instant(value[1]),
                "seconds": _round(value[1] - value[0]),
            }

        return {
            "debate_id": self.debate_id,
            "session": self.session,
            "started": _format_instant(self.started),
            "status": self.status,
            "round1_attacker": span(self.attacker),
            "round1_challenger": span(self.challenger),
            "round1_seconds": _round(self.round1_seconds),
            "overlap": self.overlap,
            "total_seconds": _round(self.total_seconds),
        }


PASS, FAIL, NO_DATA = "pass", "fail", "no data"


@dataclass(frozen=True)
class Figure:
    """One Phase 2 goal: the measured value against its target, and the verdict."""

    key: str
    label: str
    value: float | None
    shown: str
    target: str
    verdict: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": _round(self.value),
            "shown": self.shown,
            "target": self.target,
            "verdict": self.verdict,
            "detail": self.detail,
        }


@dataclass
class Phase2Report:
    service: str
    since: float | None
    until: float | None
    first_seen: float | None
    last_seen: float | None
    counts: EntryCounts
    cache_hits: int
    cache_saved: int
    analyses: AnalysisSummary
    debates: list[DebateRow]
    cost: CostReading | None
    targets: Phase2Targets
    figures: list[Figure]
    cost_lines: CostComparison = field(default_factory=lambda: CostComparison(CostLines(), None))
    app: AppMetrics | None = None

    @property
    def cache_hit_rate(self) -> float | None:
        total = self.cache_hits + self.cache_saved
        return self.cache_hits / total if total else None

    @property
    def verdict(self) -> str:
        verdicts = {f.verdict for f in self.figures}
        if FAIL in verdicts:
            return FAIL
        if verdicts == {PASS}:
            return PASS
        return NO_DATA if PASS not in verdicts else "incomplete"

    def to_dict(self) -> dict[str, Any]:
        lines = self.cost_lines
        cost: dict[str, Any] = {
            "judged_from": "metrics" if self.cost is not None else "cost lines",
            "per": COST_PER[lines.per],
            "covers": COST_LINES_COVER,
            "window": lines.window.to_dict(lines.per),
            "baseline": None if lines.baseline is None else lines.baseline.to_dict(lines.per),
            "baseline_source": lines.baseline_source,
            "ratio": _round(lines.ratio, 6),
        }
        if self.cost is not None:
            cost.update(
                metric=self.cost.metric,
                source=self.cost.source,
                value=_round(self.cost.value, 6),
                start_value=_round(self.cost.start_value, 6),
                spent=_round(self.cost.spent, 6),
                baseline=self.targets.cost_baseline,
            )
        return {
            "service": self.service,
            "window": {"since": _format_instant(self.since), "until": _format_instant(self.until)},
            "observed": {
                "first": _format_instant(self.first_seen),
                "last": _format_instant(self.last_seen),
            },
            "verdict": self.verdict,
            "figures": [f.to_dict() for f in self.figures],
            "cache": {
                "hits": self.cache_hits,
                "saved": self.cache_saved,
                "hit_rate": _round(self.cache_hit_rate, 6),
            },
            "analysis_latency": self.analyses.to_dict(),
            "debates": [d.to_dict() for d in self.debates],
            "cost": cost,
            "app_metrics": None if self.app is None else self.app.to_dict(),
            "entries": self.counts.to_dict(),
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    """For JSON: None for nothing, and for what is not a finite number."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _judge(
    acc: Phase2Accumulator,
    analyses: AnalysisSummary,
    debates: list[DebateRow],
    targets: Phase2Targets,
    *,
    cost: CostReading | None,
    comparison: CostComparison,
) -> list[Figure]:
    figures: list[Figure] = []

    hits, saved = acc.cache_hits, acc.cache_saved
    rate = hits / (hits + saved) if hits + saved else None
    band = f"{targets.cache_hit_rate_min:.0%}-{targets.cache_hit_rate_expected_max:.0%}"
    figures.append(
        Figure(
            key="cache_hit_rate",
            label="Cache hit rate",
            value=rate,
            shown="n/a" if rate is None else f"{rate:.1%} ({hits} HIT / {saved} SAVED)",
            target=f">= {targets.cache_hit_rate_min:.0%} (expected {band})",
            verdict=NO_DATA if rate is None else _verdict(rate >= targets.cache_hit_rate_min),
            detail="no '[MemoryAnalyzer] Cache HIT' or 'Cache SAVED' line in the window"
            if rate is None
            else ""
            if rate <= targets.cache_hit_rate_expected_max
            else "above the expected band",
        )
    )

    figures.append(
        Figure(
            key="analysis_latency_p95",
            label="Analysis latency p95",
            value=analyses.p95,
            shown=(
                "n/a"
                if analyses.p95 is None
                else f"{_seconds(analyses.p95)} (p50 {_seconds(analyses.p50)}, "
                f"max {_seconds(analyses.max)}, n={analyses.count})"
            ),
            target=f"<= {targets.analysis_p95_max_seconds:g} s",
            verdict=NO_DATA
            if analyses.p95 is None
            else _verdict(analyses.p95 <= targets.analysis_p95_max_seconds),
            detail=_latency_reason(acc, analyses) if analyses.p95 is None else "",
        )
    )

    round1_missing = _round1_reason(acc._debate_events)
    figures.append(
        _median_figure(
            "debate_round1_p50",
            "Debate round 1 p50",
            [d.round1_seconds for d in debates],
            targets.debate_round1_p50_max_seconds,
            round1_missing,
        )
    )

    measured = [d for d in debates if d.overlap is not None]
    overlapped = sum(1 for d in measured if d.overlap)
    late = [d.debate_id for d in measured if not d.overlap]
    figures.append(
        Figure(
            key="debate_round1_overlap",
            label="Attacker/challenger overlap",
            value=overlapped / len(measured) if measured else None,
            shown="n/a" if not measured else f"{overlapped}/{len(measured)} debates",
            target="every debate",
            verdict=NO_DATA if not measured else _verdict(overlapped == len(measured)),
            detail="sequential: " + ", ".join(late[:5]) + (" ..." if len(late) > 5 else "")
            if late
            else ""
            if measured
            else round1_missing,
        )
    )

    figures.append(
        _median_figure(
            "debate_total_p50",
            "Debate total p50",
            [d.total_seconds for d in debates],
            targets.debate_total_p50_max_seconds,
            _total_reason(acc._debate_events, debates),
        )
    )

    if cost is not None:
        figures.append(_cost_figure(cost, targets))
    else:
        figures.append(_cost_lines_figure(comparison, targets))
    return figures


DEBATE_DOC = "docs/phase2.md lists the lines to add"


def _round1_reason(events: Mapping[str, int]) -> str:
    """What is missing for round 1 (its duration, the overlap), in the report's own words."""
    starts = events.get("debate_start", 0)
    turns = events.get("debate_agent_start", 0) + events.get("debate_agent_end", 0)
    if not starts and not turns:
        return (
            "no debate lines in the window: round 1 needs debate_agent_start and "
            f"debate_agent_end lines (round 1, attacker and challenger; {DEBATE_DOC})"
        )
    if not turns:
        return (
            f"{starts} debate_start line{'s' if starts != 1 else ''} but no debate_agent_start/"
            f"debate_agent_end: the app does not log agent turns ({DEBATE_DOC})"
        )
    return "no debate has both its attacker's and challenger's round-1 turn start and end"


def _total_reason(events: Mapping[str, int], debates: list[DebateRow]) -> str:
    starts, ends = events.get("debate_start", 0), events.get("debate_end", 0)
    if not starts and not ends:
        return f"no debate_start or debate_end line in the window ({DEBATE_DOC})"
    if not ends:
        return (
            f"{starts} debate_start line{'s' if starts != 1 else ''} but no debate_end: the app "
            f"does not log the end of a debate ({DEBATE_DOC})"
        )
    if not starts:
        return "debate_end lines but no debate_start: the debates began before the window"
    if not any(d.status == "completed" for d in debates):
        return "no debate completed (debate_end status 'completed') in the window"
    return "no completed debate has both its debate_start and debate_end line"


def _latency_reason(acc: Phase2Accumulator, analyses: AnalysisSummary) -> str:
    if not acc.analyses_requested and not analyses.succeeded:
        return "no analysis start ('Lancement de l'analyse sémantique') or success line"
    if not analyses.succeeded:
        return f"{acc.analyses_requested} analyses started, none succeeded with an LLM"
    return "no success line pairs with a start line of its session"


def _median_figure(
    key: str, label: str, durations: Iterable[float | None], max_seconds: float, missing: str = ""
) -> Figure:
    """A duration judged "about" its target: the p50 of the measured ones (None: unmeasured)."""
    measured = sorted(d for d in durations if d is not None)
    p50 = percentile(measured, 50)
    return Figure(
        key=key,
        label=label,
        value=p50,
        shown="n/a"
        if p50 is None
        else f"{_seconds(p50)} (max {_seconds(measured[-1])}, n={len(measured)})",
        target=f"<= {max_seconds:g} s",
        verdict=NO_DATA if p50 is None else _verdict(p50 <= max_seconds),
        detail=missing if p50 is None else "",
    )


COST_LINES_COVER = (
    "the cost lines of backend.core.cost_tracker: chat replies and debate turns; memory analyses "
    "(neo_analysis) record no cost"
)


def _cost_figure(cost: CostReading, targets: Phase2Targets) -> Figure:
    """An app's cost counter (`--cost-from metrics`) against `phase2CostBaseline`."""
    target = f"<= {targets.cost_ratio_max:.0%} of baseline"
    spent = cost.spent
    if spent is None:
        why = f"{cost.metric} not found in {cost.source}"
        return Figure("api_cost_ratio", "API cost vs baseline", None, "n/a", target, NO_DATA, why)
    problem = cost.problem or (not_an_amount(spent) and f"not a cost: {cost.metric} spent {spent}")
    if problem:
        return Figure(
            "api_cost_ratio", "API cost vs baseline", None, "n/a", target, NO_DATA, problem
        )
    if targets.cost_baseline is None:
        return Figure(
            "api_cost_ratio",
            "API cost vs baseline",
            None,
            f"{spent:.4g} (no baseline)",
            target,
            NO_DATA,
            "set the cost baseline to judge it",
        )
    ratio = spent / targets.cost_baseline
    return Figure(
        key="api_cost_ratio",
        label="API cost vs baseline",
        value=ratio,
        shown=f"{ratio:.0%} ({spent:.4g} / {targets.cost_baseline:.4g})",
        target=target,
        verdict=_verdict(ratio <= targets.cost_ratio_max),
    )


def _usd(value: float | Decimal) -> str:
    return f"${value:.6f}" if value < 1 else f"${value:.2f}"


def _cost_lines_figure(comparison: CostComparison, targets: Phase2Targets) -> Figure:  # noqa: PLR0911
    """The cost lines per unit of work, against the same before Phase 2."""
    per = COST_PER[comparison.per]
    label, key = "API cost vs baseline", "api_cost_ratio"
    target = f"<= {targets.cost_ratio_max:.0%} of baseline, per {per}"
    window, baseline = comparison.window, comparison.baseline

    def no_data(why: str, shown: str = "n/a") -> Figure:
        return Figure(key, label, None, shown, target, NO_DATA, why)

    if not window.calls:
        return no_data("no cost line ('Coût de ... pour ... enregistré.') in the window")
    spent = f"{_usd(window.total)} over {window.calls} paid calls"
    if not window.work(comparison.per):
        return no_data(f"no {per} in the window (try --cost-per call)", spent)
    if baseline is None:
        return no_data(
            "no baseline: give --baseline-file or --baseline-since/--baseline-until (the same "
            "lines before Phase 2)",
            spent,
        )
    if not baseline.calls:
        return no_data("the baseline holds no cost line", spent)
    if not baseline.work(comparison.per):
        return no_data(f"no {per} in the baseline (try --cost-per call)", spent)
    before = baseline.rate(comparison.per)
    now = window.rate(comparison.per)
    ratio = comparison.ratio
    if ratio is None or now is None or before is None:
        return no_data("the baseline cost is 0: no ratio", spent)
    return Figure(
        key=key,
        label=label,
        value=ratio,
        shown=f"{ratio:.0%} ({_usd(now)} / {_usd(before)} per {per})",
        target=target,
        verdict=_verdict(ratio <= targets.cost_ratio_max),
    )


def _verdict(ok: bool) -> str:
    return PASS if ok else FAIL


# --- what to ask Cloud Logging ----------------------------------------------------------------

PHASE2_MESSAGE_REGEX = "MemoryAnalyzer|nalys|debate_|Coût de"
"""Every recognised line contains one of these (the report re-checks each line precisely)."""


def quote_filter_string(value: str) -> str:
    """A double-quoted string of the Logging query language (backslashes and quotes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def logging_filter(service_name: str, since: float | None, until: float | None) -> str:
    """The Cloud Logging query for the Phase 2 lines of one service, as the guide greps them.

    Usable with `gcloud logging read "<filter>" --format json` as well as `entries:list`.
    """
    lines = [
        f"resource.type={quote_filter_string(RESOURCE_TYPE)}",
        f"resource.labels.service_name={quote_filter_string(service_name)}",
    ]
    if since is not None:
        lines.append(f"timestamp>={quote_filter_string(_format_instant(since) or '')}")
    if until is not None:
        lines.append(f"timestamp<{quote_filter_string(_format_instant(until) or '')}")
    regex = quote_filter_string(PHASE2_MESSAGE_REGEX)
    lines.append(
        f'(jsonPayload.message=~{regex} OR textPayload=~{regex} OR jsonPayload.event=~"^debate_")'
    )
    return "\n".join(lines)
