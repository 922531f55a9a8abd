"""`python -m infra phase2` end to end on files, with metrics from a file or a local server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import main
from tests.conftest import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data" / "phase2"
AFTER = str(DATA / "after-gcloud.json")
BEFORE = str(DATA / "before.jsonl")
ROOT = PROJECT_ROOT

COUNTER = ["--cost-from", "metrics"]
METRICS = """# TYPE emergence_api_cost_usd_total counter
emergence_api_cost_usd_total{provider="openai"} 6.0
emergence_api_cost_usd_total{provider="anthropic"} 3.0
"""


def test_text_report_from_a_gcloud_export(capsys):
    assert main(["phase2", "--file", AFTER]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Phase 2 report for emergence-app")
    assert "PASS    Cache hit rate" in out
    assert "NO DATA API cost vs baseline" in out
    assert "Overall: INCOMPLETE" in out


def test_json_report_and_strict_exit_code(capsys):
    assert main(["phase2", "--file", BEFORE, "--json", "--strict"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "fail"
    assert report["entries"]["malformed"] == 9
    assert report["cache"]["hits"] == 0
    truth = json.loads((DATA / "before.truth.json").read_text())
    assert report["cache"]["saved"] == truth["cache"]["saved"]


def test_several_files_are_read_as_one(capsys):
    assert main(["phase2", "--file", AFTER, "--file", BEFORE, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    truths = [
        json.loads((DATA / f"{n}.truth.json").read_text()) for n in ("after-gcloud", "before")
    ]
    assert report["entries"]["read"] == sum(t["entries"]["read"] for t in truths)
    assert report["cache"]["hits"] == sum(t["cache"]["hits"] for t in truths)


def test_markdown_to_a_file_with_cost_from_a_metrics_file(tmp_path, capsys):
    metrics = tmp_path / "metrics.txt"
    metrics.write_text(METRICS)
    out = tmp_path / "2025-10-09-phase2-results.md"
    args = ["phase2", "--file", AFTER, "--markdown", "--metrics", str(metrics), *COUNTER]
    assert main([*args, "--cost-baseline", "12", "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.startswith("# Phase 2 results: emergence-app (2025-10-09)")
    assert "| API cost vs baseline | 75% (9 / 12) | <= 80% of baseline | **PASS** |" in page
    json_args = ["phase2", "--file", AFTER, "--json", "--metrics", str(metrics), *COUNTER]
    assert main([*json_args, "--cost-baseline", "10"]) == 0
    report = json.loads(capsys.readouterr().out)
    cost = next(f for f in report["figures"] if f["key"] == "api_cost_ratio")
    assert (cost["verdict"], cost["value"]) == ("fail", 0.9)


def test_cost_from_the_services_metrics_endpoint(httpserver, capsys):
    httpserver.expect_request("/api/metrics").respond_with_data(
        METRICS, content_type="text/plain; version=0.0.4"
    )
    url = httpserver.url_for("/api/metrics")
    assert (
        main(
            [
                "phase2",
                "--file",
                AFTER,
                "--metrics",
                url,
                *COUNTER,
                "--cost-baseline",
                "20",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["cost"]["spent"] == 9.0
    assert report["cost"]["source"] == url
    assert next(f for f in report["figures"] if f["key"] == "api_cost_ratio")["verdict"] == "pass"


def test_cost_over_a_window_from_two_readings(tmp_path, capsys):
    start = tmp_path / "start.txt"
    start.write_text(METRICS.replace("6.0", "1.0"))  # 4.0 at the start, 9.0 at the end
    end = tmp_path / "end.txt"
    end.write_text(METRICS)
    argv = [
        "phase2",
        "--file",
        AFTER,
        "--metrics",
        str(end),
        "--metrics-start",
        str(start),
        *COUNTER,
    ]
    assert main([*argv, "--cost-baseline", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cost"]["spent"] == 5.0
    swapped = [*argv[:2], AFTER, "--metrics", str(start), "--metrics-start", str(end), *COUNTER]
    assert main(swapped) == 2
    assert "went down" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--file", "/nonexistent/export.json"], "--file /nonexistent/export.json: no such file"),
        (["--file", AFTER, "--since", "hier"], "is neither a time"),
        (["--file", AFTER, "--since", "1h", "--until", "2h"], "--since must be before --until"),
        (["--file", AFTER, "--metrics", "/nonexistent/m.txt"], "metrics: cannot read"),
        (["--file", AFTER, "--metrics-start", "x"], "--metrics-start needs --metrics"),
        (
            ["--file", AFTER, *COUNTER, "--cost-baseline", "-1"],
            "--cost-baseline must be a positive",
        ),
        (["--file", AFTER, "--cost-baseline", "3"], "goes with --cost-from metrics"),
        (["--file", AFTER, *COUNTER], "--cost-from metrics needs --metrics"),
        (["--baseline-since", "2025-10-01"], "needs --baseline-since and --baseline-until"),
        (
            [
                "--file",
                AFTER,
                "--since",
                "2025-10-09",
                "--baseline-since",
                "2025-10-08T12:00Z",
                "--baseline-until",
                "2025-10-09T12:00Z",
            ],
            "overlaps the window",
        ),
        (
            ["--file", AFTER, "--baseline-file", "/nonexistent/b.json"],
            "--baseline-file /nonexistent/b.json: no such file",
        ),
        (["--page-size", "5000"], "--page-size must be within 1..1000"),
    ],
)
def test_expected_failures_are_one_line_and_exit_2(argv, message, capsys):
    assert main(["phase2", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_metrics_that_are_not_prometheus_text(tmp_path, capsys):
    bad = tmp_path / "m.txt"
    bad.write_text("<html>erreur 502</html> {")
    assert main(["phase2", "--file", AFTER, "--metrics", str(bad)]) == 2
    assert "not Prometheus text" in capsys.readouterr().err


def test_the_window_applies_to_files(capsys):
    argv = ["phase2", "--file", AFTER, "--json"]
    assert main([*argv, "--since", "2025-10-09T09:00:00Z", "--until", "2025-10-09T09:30:00"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["window"] == {
        "since": "2025-10-09T09:00:00.000Z",
        "until": "2025-10-09T09:30:00.000Z",
    }
    assert report["entries"]["outside_window"] > 1000
    assert (
        report["observed"]["first"][11:16] >= "09:00"
        and report["observed"]["last"] < "2025-10-09T09:30"
    )


def test_print_filter_for_gcloud(capsys):
    assert main(["phase2", "--print-filter", "--since", "2025-10-09T08:00:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        'resource.type="cloud_run_revision"',
        'resource.labels.service_name="emergence-app"',
        'timestamp>="2025-10-09T08:00:00.000Z"',
    ]


def test_the_command_reads_stdin_as_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "phase2", "--file", "-", "--json"],
        input=Path(BEFORE).read_bytes(),
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["entries"]["malformed"] == 9


def test_the_readme_example_is_what_the_command_prints(monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Phase 2 report", 1)[1].split("```\n", 2)[1]
    monkeypatch.chdir(ROOT)  # the example names the files relative to the repository
    data = "tests/data/phase2/"
    argv = ["phase2", "--file", data + "realapp-after.json", "--baseline-file"]
    argv += [data + "realapp-before.json", "--metrics", data + "realapp-after.metrics.txt"]
    assert main([*argv, "--rows", "3"]) == 0
    printed = capsys.readouterr().out
    assert block == printed


# --- careless users and hostile inputs (issue 16) ---------------------------------------------


def test_dev_null_a_fifo_and_process_substitution_are_log_exports(tmp_path, capsys):
    import os
    import threading

    assert main(["phase2", "--file", "/dev/null", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"]["read"] == 0

    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    data = Path(BEFORE).read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as writer:
            writer.write(data)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    assert main(["phase2", "--file", str(fifo), "--json"]) == 0
    feeder.join(timeout=30)
    truth = json.loads((DATA / "before.truth.json").read_text())
    assert json.loads(capsys.readouterr().out)["entries"]["read"] == truth["entries"]["read"]

    proc = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m infra phase2 --file <(cat "{BEFORE}") --json'],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["entries"]["read"] == truth["entries"]["read"]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", "0", "-3"])
def test_a_cost_baseline_that_is_no_amount_is_refused(value, tmp_path, capsys):
    metrics = tmp_path / "metrics.txt"
    metrics.write_text(METRICS)
    argv = ["phase2", "--file", AFTER, "--cost-from", "metrics", "--metrics", str(metrics)]
    assert main([*argv, f"--cost-baseline={value}"]) == 2
    err = capsys.readouterr().err
    assert "--cost-baseline" in err and "positive" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["-4.0", "NaN", "+Inf"])
def test_a_cost_counter_that_is_no_amount_is_flagged_never_passed(value, tmp_path, capsys):
    metrics = tmp_path / "metrics.txt"
    metrics.write_text(
        f"# TYPE emergence_api_cost_usd_total counter\nemergence_api_cost_usd_total {value}\n"
    )
    argv = ["phase2", "--file", AFTER, "--cost-from", "metrics", "--metrics", str(metrics)]
    assert main([*argv, "--cost-baseline", "10", "--json"]) == 0
    cost = next(
        f for f in json.loads(capsys.readouterr().out)["figures"] if f["key"] == "api_cost_ratio"
    )
    assert cost["verdict"] == "no data"
    assert "not a cost" in cost["detail"]


@pytest.mark.parametrize(
    "since", ["99999999999999999999d", "1e300s", "0001-01-01T00:00:00+14:00", "99999999999w"]
)
def test_a_window_outside_the_calendar_is_refused(since, capsys):
    assert main(["phase2", "--file", AFTER, "--since", since]) == 2
    err = capsys.readouterr().err
    assert "--since" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_report_on_a_pair_of_real_format_exports(capsys):
    """Hit rate, latency, the cost against the baseline, the app's histogram, debates NO DATA."""
    real = DATA / "realapp-after.json"
    argv = ["phase2", "--file", str(real), "--baseline-file", str(DATA / "realapp-before.json")]
    argv += ["--metrics", str(DATA / "realapp-after.metrics.txt")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for needle in (
        "Cache hit rate",
        "Analysis latency p95",
        "NO DATA Debate round 1 p50",
        "but no debate_agent_start/debate_agent_end: the app does not log agent turns",
        "but no debate_end: the app does not log the end of a debate",
        "per analysis requested",
        "App metrics from",
        "(percentiles are bucket estimates)",
        "memory analyses (neo_analysis) record no cost",
        "by agent and model (baseline):",
    ):
        assert needle in out, needle
    assert main([*argv, "--strict"]) == 1  # the debates are not measured: not every goal passes
    capsys.readouterr()


def test_odd_but_valid_entries_never_stop_the_command(tmp_path, capsys):
    """Each of these crashed `phase2` with a traceback (exit 1); now each is read or set aside."""
    svc = {"type": "cloud_run_revision", "labels": {"service_name": "emergence-app"}}
    hit = "[MemoryAnalyzer] Cache HIT pour session s (hash=1)"
    turn = '{"event": "debate_agent_end", "debate_id": "d", "round": 1, "role": "attacker", '
    lines = [
        json.dumps({"resource": svc, "timestamp": "0001-01-01T00:00:00+14:00", "textPayload": hit}),
        json.dumps({"resource": svc, "timestamp": "9999-12-31T23:59:59-14:00", "textPayload": hit}),
        json.dumps({"resource": svc, "timestamp": "2025-10-09T08:00:00Z", "textPayload": turn})[:-2]
        + ' \\"duration_ms\\": 1e400}"}',
        '{"resource": {"type": "cloud_run_revision", "labels": {"service_name": "emergence-app"}},'
        ' "textPayload": "' + hit + '", "n": ' + "9" * 5000 + "}",
        '{"deep": ' + "[" * 1000 + "]" * 1000 + "}",
    ]
    export = tmp_path / "odd.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    compact = tmp_path / "compact.json"
    compact.write_text("[" + ", ".join([*lines[:2], "{oops}", *lines[3:4]]) + "]")
    for path in (export, compact):
        for fmt in ([], ["--json"], ["--markdown"]):
            assert main(["phase2", "--file", str(path), *fmt]) == 0
            captured = capsys.readouterr()
            assert "Traceback" not in captured.err and captured.err == ""
    assert main(["phase2", "--file", str(export), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cache"]["hits"] == 3 and report["entries"]["undated"] == 3  # 2 + no time
    assert report["entries"]["malformed"] == 1  # the JSON nested 1,000 deep
    assert main(["phase2", "--file", str(compact), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cache"]["hits"] == 3 and report["entries"]["malformed"] == 1


def test_a_credential_in_the_metrics_url_never_reaches_the_report(httpserver, capsys):
    from infra.rules.redaction import shown_url

    assert shown_url("https://bob:pw@run.app:8443/api/metrics?token=t") == (
        "https://***@run.app:8443/api/metrics"
    )
    assert shown_url("http://alice:S3nt/inelPw@run.app/m#frag") == "http://***@run.app/m"
    assert shown_url("/tmp/metrics.txt") == "/tmp/metrics.txt"
    httpserver.expect_request("/api/metrics").respond_with_data(METRICS)
    url = httpserver.url_for("/api/metrics").replace("://", "://alice:Pw-secret-9@")
    for fmt in ([], ["--json"], ["--markdown"]):
        code = main(["phase2", "--file", BEFORE, "--metrics", url + "?key=K3y-77", *fmt])
        captured = capsys.readouterr()
        assert code in (0, 2)  # refused or read: never shown
        for secret in ("Pw-secret-9", "alice", "K3y-77"):
            assert secret not in captured.out + captured.err
