"""The post-deploy checks against hostile peers (raw sockets on 127.0.0.1, hostile_helpers.py):
the budget is a real bound on time, the body cap a real bound on memory, and what a server says
reaches the terminal neither as escape sequences nor as a traceback.

Time is asserted as behaviour, with generous slack: a check with a 2 s budget must be over well
before the peer would ever stop (it never does: it is stopped by the test afterwards).
"""

from __future__ import annotations

import gzip
import json
import queue
import subprocess
import sys
import threading
import time

import pytest
from werkzeug.wrappers import Response

from infra.cli import main
from infra.probes.verify import HttpPolicy, check_health, run_checks
from infra.providers.deployment_check import DeploymentCheckFailed, DeploymentCheckProvider
from infra.rules.checks import DEFAULT_CHECK_LINES, parse_checks
from tests.conftest import PROJECT_ROOT
from tests.hostile_helpers import (
    ESCAPES,
    answer,
    deep_json,
    drip_body,
    endless_body,
    endless_continue,
    gzip_bomb,
    peer,
    refused,
    silent,
    trickle_headers,
)
from tests.verify_helpers import ContractApp, json_response, serve

BUDGET = 1.0
SLACK = 2.5  # thread start, the shutdown of the socket, a loaded CI machine
SLOW_PEERS = [trickle_headers, drip_body, endless_continue, silent]
HEALTH = parse_checks(["health /api/health 200 json status=healthy"])


@pytest.fixture(autouse=True)
def no_google(monkeypatch, tmp_path):
    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))


def policy(**overrides) -> HttpPolicy:
    settings = {"connect_timeout": 5.0, "read_timeout": 20.0, "attempts": 4, "budget": BUDGET}
    return HttpPolicy(**{**settings, **overrides})


@pytest.mark.parametrize("behaviour", SLOW_PEERS, ids=lambda b: b.__name__)
def test_the_budget_bounds_a_check_against_a_slow_peer(behaviour):
    with peer(behaviour) as url:
        started = time.monotonic()
        result = check_health(url, policy=policy())
        elapsed = time.monotonic() - started
    assert not result.passed
    assert elapsed < BUDGET + SLACK, (elapsed, result)
    assert f"within {BUDGET:g}s" in result.reason, result.reason


@pytest.mark.parametrize("behaviour", SLOW_PEERS, ids=lambda b: b.__name__)
def test_the_verify_command_ends_within_its_budget_against_a_slow_peer(behaviour, capsys):
    argv = ["verify", "--no-admin", "--budget", "1", "--check", HEALTH[0].line()]
    with peer(behaviour) as url:
        started = time.monotonic()
        code = main([*argv[:1], url, *argv[1:]])
        elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 1
    assert elapsed < BUDGET + SLACK, elapsed
    assert "FAIL: 0 of 1 checks passed; failed: health" in out


def gate_props(url: str, checks: list[str], http: dict) -> dict:
    """What the gate's provider gets from the engine (the trigger inputs do not matter here)."""
    return {"url": url, "serviceName": "emergence-app", "checks": checks, "http": http}


@pytest.mark.parametrize("behaviour", [trickle_headers, endless_continue], ids=lambda b: b.__name__)
def test_the_gate_in_pulumi_up_ends_within_its_budget_against_a_slow_peer(behaviour):
    http = {"connectTimeout": 5.0, "readTimeout": 20.0, "attempts": 4.0, "budget": BUDGET}
    with peer(behaviour) as url:
        props = gate_props(url, list(DEFAULT_CHECK_LINES[:2]), http)
        started = time.monotonic()
        with pytest.raises(DeploymentCheckFailed, match="0 of 2 checks passed"):
            DeploymentCheckProvider().create(props)
        elapsed = time.monotonic() - started
    assert elapsed < 2 * BUDGET + SLACK, elapsed  # two checks, each within its budget


def test_an_endless_body_stops_at_the_size_limit():
    metrics = parse_checks(["metrics /api/metrics 200 prometheus"])
    with peer(endless_body) as url:
        started = time.monotonic()
        [result] = run_checks(url, metrics, policy=policy(budget=30.0))
        elapsed = time.monotonic() - started
    assert not result.passed
    assert result.reason == "the body is larger than 2 MiB (the most that is read)"
    assert result.status == 200
    assert elapsed < 30  # stopped by the size, not by the budget


def test_a_gzip_bomb_is_not_inflated_past_the_size_limit():
    bomb = gzip_bomb(64)  # 64 MiB of zeros in about 64 KB
    assert len(bomb) < 200_000
    gzip_header = "Content-Encoding: gzip\r\n"
    with peer(answer(bomb, content_type="application/json", extra_headers=gzip_header)) as url:
        result = check_health(url, policy=policy())
    assert not result.passed
    assert result.reason == "the body is larger than 2 MiB (the most that is read)"


def test_a_gzip_body_within_the_limit_is_read():
    body = gzip.compress(json.dumps({"status": "healthy"}).encode())
    gzip_header = "Content-Encoding: gzip\r\n"
    with peer(answer(body, content_type="application/json", extra_headers=gzip_header)) as url:
        result = check_health(url, policy=policy())
    assert result.passed, result.reason


def test_an_encoding_that_was_not_asked_for_fails_the_check():
    with peer(answer(b"\x00\x01", extra_headers="Content-Encoding: br\r\n")) as url:
        result = check_health(url, policy=policy())
    assert not result.passed
    assert "Content-Encoding 'br' was not asked for" in result.reason


def test_json_nested_a_thousand_deep_fails_the_check_without_a_traceback(capsys):
    with peer(answer(deep_json(1000), content_type="application/json")) as url:
        code = main(["verify", url, "--no-admin", "--check", HEALTH[0].line()])
    out, err = capsys.readouterr()
    assert code == 1
    assert "JSON nested too deeply" in out
    assert "Traceback" not in err


def test_the_gate_survives_json_nested_a_thousand_deep():
    with peer(answer(deep_json(1000), content_type="application/json")) as url:
        props = gate_props(url, [HEALTH[0].line()], {"attempts": 1.0, "budget": 5.0})
        with pytest.raises(DeploymentCheckFailed, match="JSON nested too deeply"):
            DeploymentCheckProvider().create(props)


def test_a_servers_escape_sequences_never_reach_the_terminal(capsys):
    bad_metrics = f"# TYPE up gauge\nup{{{ESCAPES}}} 1\n".encode()
    app = ContractApp(
        {
            "/api/metrics": lambda _r: Response(bad_metrics, mimetype="text/plain"),
            "/docs": lambda _r: Response(ESCAPES, status=200, mimetype=f"text/{ESCAPES[:5]}x"),
        }
    )
    with serve(app) as url:
        code = main(["verify", url, "--no-admin"])
    out = capsys.readouterr().out
    assert code == 1
    for control in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert control not in out
    assert "\\x1b" in out  # shown, not obeyed


def test_a_refused_connection_fails_at_once_without_retries(capsys):
    with refused() as url:
        started = time.monotonic()
        code = main(["verify", url, "--no-admin"])
        elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 1
    rows = [line for line in out.splitlines() if "connection failed: Connection refused" in line]
    assert len(rows) == 5
    assert not any("tries" in row for row in rows)  # one try each
    assert elapsed < 5  # with the gate's retries it would be 5 x 3.5 s of backoff


def test_the_gate_retries_a_refused_connection_briefly():
    assert HttpPolicy().retry_refused is True  # the default the gate's policy is built on
    with refused() as url:
        [result] = run_checks(url, HEALTH, policy=HttpPolicy(backoff=0.01, budget=5.0))
    assert result.attempts == 4
    assert "Connection refused" in result.reason


def test_verify_shows_each_check_as_it_finishes():
    """The health row is out while the metrics check still waits for its answer (held for up
    to 60 s): a command that printed only at the end would show nothing until then."""
    release = threading.Event()

    def slow_metrics(_request):
        release.wait(60)
        return json_response({"late": True})

    app = ContractApp({"/api/metrics": slow_metrics})
    lines: queue.Queue[str] = queue.Queue()
    with serve(app) as url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra",
                "verify",
                url,
                "--stack",
                "reference",
                "--no-admin",
                "--timeout",
                "50",
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout])
        reader.start()
        try:
            seen = []
            while not seen or not seen[-1].startswith("health "):
                seen.append(lines.get(timeout=15))  # queue.Empty: nothing shown meanwhile
            assert not release.is_set()
            assert seen[-1].split()[:3] == ["health", "/api/health", "pass"], seen
        finally:
            release.set()
            code = proc.wait(timeout=60)
            reader.join(timeout=10)
    rest = "".join(lines.queue)
    assert code == 1
    assert "FAIL: 4 of 5 checks passed; failed: metrics" in rest


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "1e10"), ("--budget", "1e10"), ("--timeout", "nan"), ("--budget", "inf")],
)
def test_huge_or_odd_timeouts_are_one_line_naming_the_flag(flag, value, capsys):
    assert main(["verify", "http://127.0.0.1:9", "--no-admin", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} must be a number of seconds above 0 and at most")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://alice:S3nt/inelPw@emergence-app.run.app",
        "http://alice:S3nt?inelPw@emergence-app.run.app",
        "http://alice:S3nt#inelPw@emergence-app.run.app/",
        "https://S3nt/inelPw@emergence-app.run.app",
    ],
)
def test_a_url_whose_password_holds_a_slash_or_a_query_is_refused_unshown(url, capsys):
    assert main(["verify", url, "--no-admin"]) == 2
    out, err = capsys.readouterr()
    assert "S3nt" not in out + err and "inelPw" not in out + err
    assert err.count("\n") == 1 and "***@" in err
