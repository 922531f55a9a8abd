"""The reference app's debate (app_image/app/debate.py) logs the lines docs/phase2.md lists, and
the Phase 2 report measures them: round 1, the attacker/challenger overlap, the whole debate.

The module needs no web framework, so it runs here directly; its log records are formatted with
emergence-app's logging format and wrapped as Cloud Run wraps a line (a textPayload entry), then
read by the report. The expected timings are the test's own clock around each turn.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import time
from datetime import UTC, datetime

import pytest

from infra.rules.phase2 import NO_DATA, PASS, Phase2Accumulator, Phase2Targets
from tests.conftest import PROJECT_ROOT

_PATH = PROJECT_ROOT / "app_image" / "app" / "debate.py"
_spec = importlib.util.spec_from_file_location("emergence_reference_app_debate", _PATH)
debate = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = debate
_spec.loader.exec_module(debate)

_MAIN = (PROJECT_ROOT / "app_image" / "app" / "__main__.py").read_text(encoding="utf-8")
APP_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


class CloudRunLines(logging.Handler):
    """Each record as Cloud Run stores an app's stderr line: textPayload, the time it was read."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(APP_FORMAT))
        self.entries: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        self.entries.append(
            {
                "textPayload": self.format(record),
                "resource": {
                    "type": "cloud_run_revision",
                    "labels": {"service_name": "emergence-app"},
                },
                "timestamp": stamp,
                "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
            }
        )


def run(coroutine):
    """Runs a coroutine on a loop of its own: `asyncio.run` would leave the thread without a
    current loop, which Pulumi's mock engine in later tests still asks for."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@pytest.fixture
def lines():
    handler = CloudRunLines()
    debate.logger.addHandler(handler)
    debate.logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        debate.logger.removeHandler(handler)


def timed_turns(durations: dict[tuple[str, int | None], float], fail: set = frozenset()):
    """A think() that sleeps per (role, round) and records when each turn ran (epoch)."""
    spans: dict[tuple[str, int | None], tuple[float, float]] = {}

    async def think(role: str, _agent: str, number: int | None) -> None:
        begun = time.time()
        await asyncio.sleep(durations.get((role, number), 0.01))
        spans[(role, number)] = (begun, time.time())
        if (role, number) in fail:
            raise RuntimeError("the model timed out")

    return think, spans


def test_the_app_logs_in_emergence_apps_format():
    assert f'LOG_FORMAT = "{APP_FORMAT}"' in _MAIN
    assert "logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)" in _MAIN


def test_a_debate_is_measured_by_the_report(lines):
    think, spans = timed_turns({("attacker", 1): 0.30, ("challenger", 1): 0.36})
    before = time.time()
    result = run(debate.run_debate("IA éthique", think=think))
    after = time.time()
    assert result["status"] == "completed"
    texts = [e["textPayload"] for e in lines.entries]
    assert all(" INFO [app.debate] {" in t for t in texts)
    assert '"event": "debate_start"' in texts[0] and '"event": "debate_end"' in texts[-1]
    assert "IA éthique" in texts[0]  # ensure_ascii=False, as the app logs

    report = Phase2Accumulator("emergence-app").add_all(lines.entries).report(Phase2Targets())
    (row,) = report.debates
    attacker, challenger = spans[("attacker", 1)], spans[("challenger", 1)]
    round1 = max(attacker[1], challenger[1]) - min(attacker[0], challenger[0])
    assert row.round1_seconds == pytest.approx(round1, abs=0.02)
    assert row.overlap is True  # the two turns of a round run concurrently
    assert row.status == "completed"
    assert 0 < row.total_seconds <= after - before
    assert row.total_seconds >= round1 + 0.02  # round 2 and the synthesis came after
    figures = {f.key: f.verdict for f in report.figures}
    assert figures["debate_round1_p50"] == figures["debate_round1_overlap"] == PASS
    assert figures["debate_total_p50"] == PASS
    assert report.counts.bad_debate_event == 0
    assert report.counts.recognised == len(lines.entries) == 2 + 2 * 2 * 2 + 2


def test_a_failed_turn_fails_the_debate_and_counts_for_round_one_only(lines):
    think, _spans = timed_turns({}, fail={("challenger", 1)})
    result = run(debate.run_debate("x", think=think, rounds=2))
    assert result["status"] == "failed"
    report = Phase2Accumulator("emergence-app").add_all(lines.entries).report(Phase2Targets())
    (row,) = report.debates
    assert row.status == "failed" and row.round1_seconds is not None
    assert row.total_seconds is None
    assert {f.key: f.verdict for f in report.figures}["debate_total_p50"] == NO_DATA
    assert sum('"ok": false' in e["textPayload"] for e in lines.entries) == 1


def test_a_debate_needs_three_agents():
    with pytest.raises(ValueError, match="three agents"):
        run(debate.run_debate("x", agents=("neo", "nexus")))
