"""The reference app's debate in its real image: `POST /api/debate` logs, on the container's
output in emergence-app's format, the lines from which the Phase 2 report measures round 1, the
overlap and the whole debate (Docker; fails, never skips, in CI)."""

from __future__ import annotations

import hashlib
import re

import pytest
import requests

from infra.local.run import free_port
from infra.rules.phase2 import PASS, Phase2Accumulator, Phase2Targets
from tests.image_helpers import (
    app_smtp_env,
    docker,
    remove_container,
    run_detached,
    unique,
    wait_healthy,
)

TOKEN = "debate-token-for-tests"
_STAMPED = re.compile(r"^(\S+Z) (.*)$")


@pytest.fixture(scope="module")
def debating(docker_engine, app_image):
    """The reference image (built once for the image tests), running."""
    tag = app_image
    name = unique("emergence-test-debate")
    port = free_port()
    env = {
        **app_smtp_env("smtp-pw-debate-test"),
        "API_TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest(),
    }
    try:
        run_detached(tag, name, network=docker_engine["network"], port=port, env=env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, name)
        yield base, name
    finally:
        remove_container(name)


def entries_of(name: str) -> list[dict]:
    """The container's output lines as Cloud Run stores them: a textPayload each, stamped with
    the time the engine read it (`docker logs --timestamps`, as Cloud Run stamps a line)."""
    proc = docker("logs", "--timestamps", name)
    entries = []
    for line in (proc.stdout + proc.stderr).splitlines():
        match = _STAMPED.match(line)
        if match:
            entries.append(
                {
                    "textPayload": match.group(2),
                    "timestamp": match.group(1),
                    "resource": {
                        "type": "cloud_run_revision",
                        "labels": {"service_name": "emergence-app"},
                    },
                }
            )
    return entries


@pytest.mark.docker
def test_a_debate_in_the_image_is_measured_from_its_logs(debating):
    base, name = debating
    body = {"topic": "IA éthique", "rounds": 2, "turn_seconds": 0.3}
    assert requests.post(base + "/api/debate", json=body, timeout=10).status_code == 401
    bad = {**body, "turn_seconds": 60}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        requests.post(base + "/api/debate", json=bad, headers=headers, timeout=10).status_code
        == 422
    )
    answer = requests.post(base + "/api/debate", json=body, headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.json()["status"] == "completed"

    entries = entries_of(name)
    texts = [e["textPayload"] for e in entries if "[app.debate]" in e["textPayload"]]
    assert len(texts) == 2 + 2 * 2 * 2 + 2  # start, 2 rounds x 2 agents x start/end, synthesis, end
    assert all(
        re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[app\.debate\] \{", t) for t in texts
    )
    report = Phase2Accumulator("emergence-app").add_all(entries).report(Phase2Targets())
    (row,) = report.debates
    assert row.debate_id == answer.json()["debate_id"]
    assert row.overlap is True
    assert 0.3 <= row.round1_seconds < 1.0
    assert row.total_seconds >= 0.9  # two rounds and the synthesis, 0.3 s each at least
    verdicts = {f.key: f.verdict for f in report.figures}
    assert verdicts["debate_round1_p50"] == verdicts["debate_round1_overlap"] == PASS
    assert verdicts["debate_total_p50"] == PASS
