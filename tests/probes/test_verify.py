"""Post-deploy verification over real HTTP: a contract-honouring app and one fake per failure mode.

Every server here is real (werkzeug, 127.0.0.1, port 0). Retry waits go through a recording
`sleep` so no test sleeps for its backoff; only the slow-response test waits (well under 1 s).
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from werkzeug.wrappers import Response

from infra.cli import main
from infra.probes import verify
from infra.probes.verify import HttpPolicy, check_health, fetch, new_session, run_checks
from infra.rules.checks import DEFAULT_CHECKS, parse_checks
from tests.fakes.cloud_run import pinned
from tests.verify_helpers import ContractApp, json_response, sequence, serve


@pytest.fixture(autouse=True)
def no_google(monkeypatch, tmp_path):
    """No test here reaches Google: no Admin API endpoint override, credentials that fail fast."""
    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))


FAST = HttpPolicy(connect_timeout=1.0, read_timeout=1.0, attempts=3, backoff=0.01, budget=5.0)


class Sleeps:
    """A `sleep` that records the waits instead of sleeping, and can act on the first one."""

    def __init__(self, on_first=None):
        self.waits: list[float] = []
        self.on_first = on_first

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.on_first is not None and len(self.waits) == 1:
            self.on_first()


def by_name(results):
    return {r.name: r for r in results}


def run_against(app, **kwargs):
    with serve(app) as url:
        return by_name(run_checks(url, policy=kwargs.pop("policy", FAST), **kwargs))


def assert_only_failure(results, name, fragment, status):
    """`name` failed with `fragment` in its reason; every other contract check passed."""
    failed = results[name]  # KeyError if the check were removed from the default set
    assert failed.passed is False
    assert fragment in failed.reason
    assert failed.status == status
    assert [r.name for r in results.values() if not r.passed] == [name]


# ----------------------------------------------------------------------------- the happy path


def test_a_service_honouring_the_contract_passes_every_check():
    app = ContractApp()
    results = run_against(app)
    assert list(results) == [spec.name for spec in DEFAULT_CHECKS]
    assert all(r.passed for r in results.values()), results
    assert [r.status for r in results.values()] == [200, 200, 401, 200, 200]
    assert all(r.latency_ms is not None and r.latency_ms > 0 for r in results.values())
    assert all(r.attempts == 1 for r in results.values())
    assert "samples" in results["metrics"].reason
    # the checks really went over HTTP, once each, anonymously and without following anything
    assert [r.path for r in app.seen] == [s.path for s in DEFAULT_CHECKS]
    assert all(r.headers.get("User-Agent") == verify.USER_AGENT for r in app.seen)


def test_the_check_functions_each_run_one_contract_check():
    app = ContractApp()
    with serve(app) as url:
        results = [
            verify.check_health(url, policy=FAST),
            verify.check_metrics(url, policy=FAST),
            verify.check_auth_required(url, policy=FAST),
            verify.check_docs(url, policy=FAST),
            verify.check_openapi(url, policy=FAST),
        ]
    assert [r.target for r in results] == [r.path for r in app.seen]
    assert all(r.passed for r in results)


def test_a_base_url_with_a_trailing_slash_and_a_bad_base_url():
    with serve(ContractApp()) as url:
        assert check_health(url + "/", policy=FAST).passed
    with pytest.raises(ValueError, match="not an http"):
        run_checks("emergence-app.run.app")


# ----------------------------------------------------------------------------- failure modes


def test_health_500_fails():
    app = ContractApp({"/api/health": lambda _r: json_response({"detail": "boom"}, 500)})
    assert_only_failure(run_against(app), "health", "got 500, want 200", 500)


def test_health_degraded_fails():
    app = ContractApp({"/api/health": lambda _r: json_response({"status": "degraded"})})
    assert_only_failure(run_against(app), "health", "status is 'degraded', want 'healthy'", 200)


def test_health_not_json_fails():
    app = ContractApp({"/api/health": lambda _r: Response("OK", mimetype="text/plain")})
    assert_only_failure(run_against(app), "health", "body is not JSON", 200)


def test_metrics_not_prometheus_fails():
    page = "<html><body><h1>Metrics</h1></body></html>"
    app = ContractApp({"/api/metrics": lambda _r: Response(page, mimetype="text/html")})
    assert_only_failure(run_against(app), "metrics", "not Prometheus text format", 200)


def test_metrics_without_samples_fails():
    app = ContractApp({"/api/metrics": lambda _r: Response("# TYPE up gauge\n")})
    assert_only_failure(run_against(app), "metrics", "no samples", 200)


def test_chat_sessions_200_means_auth_is_off_and_fails():
    app = ContractApp({"/api/chat/sessions": lambda _r: json_response([{"id": "s1"}])})
    assert_only_failure(run_against(app), "auth", "authentication is off", 200)


def test_chat_sessions_403_fails():
    app = ContractApp({"/api/chat/sessions": lambda _r: json_response({"detail": "no"}, 403)})
    assert_only_failure(run_against(app), "auth", "got 403, want 401", 403)


def test_docs_not_html_fails_and_openapi_not_json_fails():
    app = ContractApp(
        {
            "/docs": lambda _r: json_response({"docs": "elsewhere"}),
            "/openapi.json": lambda _r: Response("{'openapi': 3}", mimetype="application/json"),
        }
    )
    results = run_against(app)
    assert not results["docs"].passed
    assert "want 'text/html'" in results["docs"].reason
    assert not results["openapi"].passed
    assert "not JSON" in results["openapi"].reason
    assert results["health"].passed and results["metrics"].passed and results["auth"].passed


def test_redirects_are_not_followed():
    app = ContractApp(
        {"/docs": lambda _r: Response("", status=302, headers={"Location": "/login"})}
    )
    assert_only_failure(run_against(app), "docs", "redirect", 302)
    assert "/login" not in [r.path for r in app.seen]


def test_a_response_slower_than_the_timeout_fails_without_a_retry():
    def slow(_request):
        time.sleep(0.6)
        return json_response({"status": "healthy"})

    app = ContractApp({"/api/health": slow})
    policy = HttpPolicy(connect_timeout=1.0, read_timeout=0.2, attempts=3, backoff=0.01)
    sleeps = Sleeps()
    with serve(app) as url:
        started = time.monotonic()
        result = check_health(url, policy=policy)
        elapsed = time.monotonic() - started
        others = by_name(run_checks(url, DEFAULT_CHECKS[1:], policy=FAST, sleep=sleeps))
    assert not result.passed
    assert result.status is None
    assert result.reason == "no answer within 0.2s (read timeout)"
    assert result.attempts == 1  # a slow service is the finding, not a reason to wait again
    assert elapsed < 0.5
    assert all(r.passed for r in others.values())


def test_a_body_that_stalls_past_the_timeout_fails():
    def stalling(_request):
        def body():
            yield b"# TYPE up gauge\n"
            time.sleep(0.6)
            yield b"up 1\n"

        return Response(body(), mimetype="text/plain")

    app = ContractApp({"/api/metrics": stalling})
    policy = HttpPolicy(connect_timeout=1.0, read_timeout=0.2, attempts=3, backoff=0.01)
    with serve(app) as url:
        result = verify.check_metrics(url, policy=policy)
    assert not result.passed
    assert result.status == 200
    assert result.reason == "the answer's body broke off: no answer within 0.2s (read timeout)"
    assert result.attempts == 1


def test_connection_refused_then_recovering_is_retried():
    # A bound socket that does not listen yet refuses connections; on the first backoff wait
    # the server starts listening on it, as a service finishing its start would.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    refused = check_health(url, policy=HttpPolicy(attempts=1, connect_timeout=1.0))
    assert not refused.passed
    assert refused.reason == "connection failed: Connection refused"

    servers = []

    def start_listening():
        sock.listen(16)
        servers.append(serve(ContractApp(), sock=sock))
        servers[0].__enter__()

    sleeps = Sleeps(on_first=start_listening)
    try:
        results = by_name(run_checks(url, policy=FAST, sleep=sleeps))
    finally:
        for server in servers:
            server.__exit__(None, None, None)
        sock.close()
    assert results["health"].passed
    assert results["health"].attempts == 2
    assert sleeps.waits == [FAST.backoff]
    assert all(r.passed and r.attempts == 1 for n, r in results.items() if n != "health")


def test_503_then_200_is_retried_with_backoff():
    flaky = sequence(
        lambda _r: json_response({"detail": "starting"}, 503),
        lambda _r: Response("", status=502),
        lambda _r: json_response({"status": "healthy"}),
    )
    sleeps = Sleeps()
    results = run_against(ContractApp({"/api/health": flaky}), sleep=sleeps)
    assert results["health"].passed
    assert results["health"].attempts == 3
    assert sleeps.waits == [0.01, 0.02]  # exponential backoff


def test_retries_are_bounded_in_count():
    app = ContractApp({"/api/health": lambda _r: Response("busy", status=503)})
    sleeps = Sleeps()
    policy = HttpPolicy(attempts=4, backoff=0.01, backoff_max=0.03)
    results = run_against(app, policy=policy, sleep=sleeps)
    assert results["health"].attempts == 4
    assert results["health"].status == 503
    assert "got 503, want 200" in results["health"].reason
    assert sleeps.waits == [0.01, 0.02, 0.03]  # capped by backoff_max
    assert [r.path for r in app.seen].count("/api/health") == 4


def test_retries_are_bounded_in_time_and_honour_retry_after():
    app = ContractApp(
        {"/api/health": lambda _r: Response("slow down", status=429, headers={"Retry-After": "2"})}
    )
    now = [100.0]
    sleeps = Sleeps()

    def clock():
        return now[0] + sum(sleeps.waits)  # time passes only while "sleeping"

    policy = HttpPolicy(attempts=10, backoff=0.01, backoff_max=30.0, budget=5.0)
    with serve(app) as url, new_session() as session:
        answer = fetch(session, url + "/api/health", policy, sleep=sleeps, clock=clock)
    assert sleeps.waits == [2.0, 2.0]  # Retry-After, until the 5 s budget would be overrun
    assert answer.attempts == 3
    assert answer.status == 429


def test_500_is_not_retried():
    app = ContractApp({"/api/health": lambda _r: Response("boom", status=500)})
    sleeps = Sleeps()
    results = run_against(app, sleep=sleeps)
    assert results["health"].attempts == 1
    assert sleeps.waits == []


def test_no_credentials_are_sent_even_with_a_netrc(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login admin password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    def sessions(request):  # 200 for any credentials at all: the check must still see 401
        if request.headers.get("Authorization"):
            return json_response([])
        return json_response({"detail": "Not authenticated"}, 401)

    app = ContractApp({"/api/chat/sessions": sessions})
    results = run_against(app)
    assert results["auth"].passed, results["auth"].reason
    assert all("Authorization" not in r.headers for r in app.seen)


def test_a_team_check_runs_beside_the_contract():
    specs = parse_checks([*[s.line() for s in DEFAULT_CHECKS], "version /api/version 200 json"])
    app = ContractApp({"/api/version": lambda _r: json_response({"version": "1.2.3"})})
    with serve(app) as url:
        results = by_name(run_checks(url, specs, policy=FAST))
    assert results["version"].passed
    assert len(results) == 6


# ----------------------------------------------------------------------------- the command


def test_cli_prints_a_table_and_exits_0_when_all_pass(capsys):
    with serve(ContractApp()) as url:
        code = main(["verify", url, "--stack", "reference", "--attempts", "1", "--no-admin"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["CHECK", "TARGET", "RESULT"]
    assert "PASS: 5 of 5 checks passed" in out


def test_cli_exits_1_and_names_the_failure(capsys):
    app = ContractApp({"/api/chat/sessions": lambda _r: json_response([])})
    with serve(app) as url:
        code = main(["verify", url, "--stack", "reference", "--attempts", "1", "--no-admin"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL: 4 of 5 checks passed; failed: auth" in out
    assert "authentication is off" in out


def test_cli_json_for_machines(capsys):
    app = ContractApp({"/api/health": lambda _r: json_response({"status": "degraded"})})
    with serve(app) as url:
        code = main(
            [
                "verify",
                url,
                "--no-admin",
                "--json",
                "--check",
                "health /api/health 200 json status=healthy",
            ]
        )
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["passed"] is False
    assert [c["name"] for c in document["checks"]] == ["health"]
    check = document["checks"][0]
    assert check["passed"] is False
    assert check["status"] == 200
    assert set(check) >= {"name", "target", "passed", "status", "latency_ms", "reason"}


def test_cli_without_credentials_skips_the_admin_checks_and_says_why(capsys):
    with serve(ContractApp()) as url:
        code = main(["verify", url, "--stack", "reference", "--attempts", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Admin API checks (traffic on the latest ready revision" in out
    assert "skipped: no Google credentials found" in out
    assert "PASS: 5 of 5 checks passed" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["verify", "emergence-app.run.app"], "is not an http(s) URL"),
        (["verify", "http://127.0.0.1:9", "--check", "x /x 999"], "--check: entry 0: status '999'"),
        (["verify", "http://127.0.0.1:9", "--attempts", "0"], "attempts must be at least 1"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.startswith("error: ")
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- with the Admin API


def test_cli_runs_the_admin_checks_when_it_can_reach_the_api(fake_cloud_run, capsys):
    fake_cloud_run.add_service("emergence-app")
    revisions = [fake_cloud_run.deploy("emergence-app") for _ in range(3)]
    with serve(ContractApp()) as url:
        code = main(["verify", url, "--stack", "reference", "--attempts", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = {line.split()[0]: line for line in out.splitlines()[2:-1]}
    assert f"100% on {revisions[-1]}" in rows["traffic"]
    assert "only emergence-app" in rows["services"]
    assert "3 revisions, at most 3 kept" in rows["revisions"]
    assert "PASS: 8 of 8 checks passed" in out


def test_cli_reports_a_split_and_a_leftover_canary_by_name(fake_cloud_run, capsys):
    fake_cloud_run.add_service("emergence-app")
    old, new = fake_cloud_run.deploy("emergence-app"), fake_cloud_run.deploy("emergence-app")
    fake_cloud_run.set_traffic("emergence-app", [pinned(old, 50), pinned(new, 50)])
    fake_cloud_run.add_service("emergence-app-canary")
    with serve(ContractApp()) as url:
        code = main(["verify", url, "--stack", "reference", "--attempts", "1", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["admin"] == "ran"
    failed = {c["name"]: c["reason"] for c in document["checks"] if not c["passed"]}
    assert set(failed) == {"traffic", "services"}
    assert f"{old} 50%, {new} 50%" in failed["traffic"]
    assert "emergence-app-canary" in failed["services"]


def test_cli_without_a_url_verifies_the_url_the_api_reports(fake_cloud_run, capsys):
    fake_cloud_run.add_service("emergence-app")
    fake_cloud_run.deploy("emergence-app")
    app = ContractApp()
    with serve(app) as url:
        fake_cloud_run.update_service("emergence-app", uri=url)
        code = main(["verify", "--stack", "reference", "--attempts", "1"])
    assert code == 0
    assert f"at {url} (stack reference)" in capsys.readouterr().out
    assert len(app.seen) == 5


def test_cli_without_a_url_or_the_api_is_a_clear_error(capsys):
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert "no URL given" in err
    assert "python -m infra verify URL" in err
