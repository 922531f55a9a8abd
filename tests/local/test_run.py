"""`python -m infra local` without Docker: its decisions, its checks against local HTTP servers,
its probe loop, its input errors, and that it builds and runs what `pulumi up` declares."""

from __future__ import annotations

import dataclasses
import io
import socket
import subprocess
from pathlib import Path

import pytest

from infra.cli import main
from infra.config import PROJECT_DIR, load_stack_settings
from infra.local import run as localrun
from infra.local.build_spec import build_spec
from infra.local.run import (
    Docker,
    ProbePlan,
    container_env,
    docker_limits,
    judge_probe,
    local_revision,
    post_deploy_checks,
    probe_plan,
    read_password,
    redact,
    wait_until_healthy,
)
from infra.mockrun import MOCK_APP_GIT
from infra.preflight import source as app_source
from tests.conftest import TEST_SMTP_PASSWORD

RUN_SERVICE = "gcp:cloudrunv2/service:Service"
IMAGE = "docker:index/image:Image"
CLOUD_RUN_SETS = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}


@pytest.fixture(scope="module")
def prod_settings():
    return load_stack_settings("prod", supplied_secrets=("smtpPassword",))


def service_container(prod):
    return prod.one(RUN_SERVICE).inputs["template"]["containers"][0]


# --------------------------------------------------------------------------- same as pulumi up


def flag_values(argv):
    """`docker build` flags and their values: {"--file": ["..."], "--build-arg": [...]}."""
    values: dict[str, list[str]] = {}
    tokens = iter(argv[2:-1])
    for token in tokens:
        if token.startswith("--") and "=" not in token:
            values.setdefault(token, []).append(next(tokens))
    return values


def test_the_local_build_uses_the_image_resources_build_inputs(prod, prod_settings):
    declared = prod.pushed_image().inputs
    # The mock engine stands in the app's checkout (MOCK_APP_GIT); the local run stages the
    # context through the same function, which names the same path under the same assumption.
    with app_source.assumed(MOCK_APP_GIT):
        staged = app_source.stage(prod_settings.image)
    argv = build_spec(prod_settings.image, staged.context).docker_build_command("emergence-app:t")
    assert argv[:2] == ["docker", "build"]
    flags = flag_values(argv)
    assert Path(argv[-1]) == (PROJECT_DIR / declared["context"]["location"]).resolve()
    assert flags["--file"] == [str((PROJECT_DIR / declared["dockerfile"]["location"]).resolve())]
    assert flags["--platform"] == declared["platforms"] == ["linux/amd64"]
    assert flags.get("--target", [None]) == [declared.get("target")]
    expected_args = [f"{k}={v}" for k, v in sorted((declared.get("buildArgs") or {}).items())]
    assert flags.get("--build-arg", []) == expected_args


def test_the_container_gets_the_services_environment(prod, prod_settings):
    declared = {e["name"]: e for e in service_container(prod)["envs"]}
    env = container_env(prod_settings, port=8080, revision="r", password=TEST_SMTP_PASSWORD)
    plain = {k: v for k, v in env.items() if k not in CLOUD_RUN_SETS and k != "SMTP_PASSWORD"}
    assert plain == {name: e["value"] for name, e in declared.items() if "value" in e}
    secret_refs = {name for name, e in declared.items() if "valueSource" in e}
    assert secret_refs == {"SMTP_PASSWORD", *(r.name for r in prod_settings.service.secret_env)}
    assert env["SMTP_PASSWORD"] == TEST_SMTP_PASSWORD
    assert env["PORT"] == "8080"
    assert env["K_SERVICE"] == env["K_CONFIGURATION"] == prod.one(RUN_SERVICE).inputs["name"]


def test_without_a_password_the_container_gets_none(prod_settings):
    env = container_env(prod_settings, port=9000, revision="r", password=None)
    assert "SMTP_PASSWORD" not in env
    assert env["PORT"] == "9000"


def test_the_probe_is_the_services_startup_probe(prod, prod_settings):
    declared = service_container(prod)["startupProbe"]
    plan = probe_plan(prod_settings.service.startup_probe)
    assert plan.path == declared["httpGet"]["path"] == "/api/health"
    assert plan.initial_delay == declared.get("initialDelaySeconds", 0)
    assert plan.period == declared["periodSeconds"]
    assert plan.timeout == declared["timeoutSeconds"]
    assert plan.failure_threshold == declared["failureThreshold"]
    expected_budget = plan.initial_delay + declared["periodSeconds"] * declared["failureThreshold"]
    assert plan.budget == expected_budget
    assert plan.interval <= plan.period
    assert f"up to {expected_budget:g} s" in plan.describe()


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize(
    ("status", "error", "ok"),
    [
        (200, None, True),
        (204, None, True),
        (302, None, True),
        (404, None, False),
        (500, None, False),
        (503, None, False),
        (None, "connection refused", False),
    ],
)
def test_probe_verdicts_follow_cloud_run(status, error, ok):
    passed, reason = judge_probe(status, error)
    assert passed is ok
    assert reason == (error or f"HTTP {status}")


@pytest.mark.parametrize(
    ("cpu", "memory", "host_cpus", "flags"),
    [
        ("1", "2Gi", 2, ["--cpus", "1", "--memory", "2g"]),
        ("4", "8Gi", 2, ["--cpus", "2", "--memory", "8g"]),  # capped: docker refuses more
        ("500m", "512Mi", 8, ["--cpus", "0.5", "--memory", "512m"]),
        ("0.25", "256Mi", 8, ["--cpus", "0.25", "--memory", "256m"]),
    ],
)
def test_the_stacks_limits_become_docker_flags(cpu, memory, host_cpus, flags):
    assert docker_limits(cpu, memory, host_cpus) == flags


def test_redaction_hides_every_occurrence_of_the_secret():
    assert redact("a pw b pw", "pw") == "a [redacted] b [redacted]"
    assert redact("nothing here", None) == "nothing here"
    assert redact("x", "") == "x"


def test_local_revision_names_the_commit(prod_settings):
    assert local_revision(prod_settings, "deploy-20261125-203050-2ad5ec9") == (
        "emergence-app-local-2ad5ec9"
    )
    assert local_revision(prod_settings, "deploy-20261125-203050-2ad5ec9-dirty-ab12cd34") == (
        "emergence-app-local-2ad5ec9"
    )
    assert local_revision(prod_settings, "deploy-untracked") == "emergence-app-local-dev"


def test_password_file_wins_and_loses_one_trailing_newline(tmp_path):
    path = tmp_path / "pw"
    path.write_text("from-file\n")
    assert read_password({"SMTP_PASSWORD": "from-env"}, path) == "from-file"
    path.write_text("crlf\r\n")
    assert read_password({}, path) == "crlf"
    path.write_text("  spaces kept  \n\n")
    assert read_password({}, path) == "  spaces kept  \n"


def test_the_run_options_never_show_the_password(prod_settings):
    options = localrun.LocalRunOptions(prod_settings, "t", 0, password=TEST_SMTP_PASSWORD)
    assert TEST_SMTP_PASSWORD not in repr(options)


def test_password_from_the_environment_or_none():
    assert read_password({"SMTP_PASSWORD": "from-env"}, None) == "from-env"
    assert read_password({"SMTP_PASSWORD": ""}, None) is None
    assert read_password({}, None) is None


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_password_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
    with pytest.raises(localrun.LocalRunError, match="--smtp-password-file"):
        read_password({}, path)


# --------------------------------------------------------------------------- post-deploy checks


def contract_server(httpserver):
    """A stand-in service answering the contract (infra.probes.verify's own tests cover each way an
    answer can be wrong; here: that the local run runs the stack's checks)."""
    httpserver.expect_request("/api/health").respond_with_json({"status": "healthy"})
    httpserver.expect_request("/api/metrics").respond_with_data(
        "# TYPE up gauge\nup 1\n", content_type="text/plain"
    )
    httpserver.expect_request("/api/chat/sessions").respond_with_json({"detail": "no"}, 401)
    httpserver.expect_request("/docs").respond_with_data("<html/>", content_type="text/html")
    httpserver.expect_request("/openapi.json").respond_with_json({"openapi": "3.1.0", "paths": {}})
    return httpserver.url_for("").rstrip("/")


@pytest.fixture(scope="module")
def reference_settings():
    """Stack reference: the reference app, whose checks are the guide's contract."""
    return load_stack_settings("reference", supplied_secrets=("smtpPassword",))


def test_the_local_run_runs_the_stacks_default_checks(httpserver, reference_settings):
    results = post_deploy_checks(reference_settings, contract_server(httpserver))
    assert [(r.name, r.target, r.passed) for r in results] == [
        ("health", "/api/health", True),
        ("metrics", "/api/metrics", True),
        ("auth", "/api/chat/sessions", True),
        ("docs", "/docs", True),
        ("openapi", "/openapi.json", True),
    ]


def test_a_check_added_to_verify_checks_runs_and_can_fail(httpserver, reference_settings):
    settings = dataclasses.replace(
        reference_settings,
        verify_checks=(*reference_settings.verify_checks, "version /api/version 200 json"),
    )
    results = post_deploy_checks(settings, contract_server(httpserver))
    assert [r.name for r in results if not r.passed] == ["version"]
    assert results[-1].status == 500  # pytest-httpserver's answer to an unexpected request


# --------------------------------------------------------------------------- the probe loop


class RunningContainer:
    """Stands in for `docker inspect`: the probe loop's HTTP side is real."""

    def __init__(self, states=None):
        self.states = list(states or [])

    def state(self, name):
        return self.states.pop(0) if self.states else {"Running": True}


def fast_plan(period=0.2, threshold=5, timeout=1.0):
    return ProbePlan("/api/health", 0.0, period, timeout, threshold, interval=0.05)


def test_the_probe_waits_through_failures_until_healthy(httpserver):
    httpserver.expect_ordered_request("/api/health").respond_with_data("starting", status=503)
    httpserver.expect_ordered_request("/api/health").respond_with_data("starting", status=500)
    httpserver.expect_ordered_request("/api/health").respond_with_json({"status": "healthy"})
    base = httpserver.url_for("").rstrip("/")
    ok, reason, waited = wait_until_healthy(
        RunningContainer(), "c", base, fast_plan(), io.StringIO()
    )
    assert (ok, reason) == (True, "HTTP 200")
    assert waited < fast_plan().budget


def test_the_probe_gives_up_after_the_budget_naming_the_last_failure(httpserver):
    httpserver.expect_request("/api/health").respond_with_data("broken", status=500)
    base = httpserver.url_for("").rstrip("/")
    plan = fast_plan(period=0.2, threshold=3)
    ok, reason, waited = wait_until_healthy(RunningContainer(), "c", base, plan, io.StringIO())
    assert not ok
    assert "not healthy after 0.6 s" in reason and "HTTP 500" in reason
    assert plan.budget <= waited < plan.budget + 2


def test_a_container_that_exits_fails_the_probe_at_once():
    port = localrun.free_port()
    docker = RunningContainer([{"Running": True}, {"Running": False, "ExitCode": 78}])
    plan = fast_plan(period=30, threshold=10)  # a 300 s budget that must not be waited out
    ok, reason, waited = wait_until_healthy(
        docker, "c", f"http://127.0.0.1:{port}", plan, io.StringIO()
    )
    assert not ok
    assert reason == "the container exited with status 78"
    assert waited < 5


# --------------------------------------------------------------------------- input errors


def test_email_enabled_without_a_password_is_refused_before_any_build(monkeypatch, capsys):
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    import infra.cli.local

    monkeypatch.setattr(infra.cli.local, "run_local", lambda *a, **k: pytest.fail("must not run"))
    assert main(["local", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "emailEnabled" in err and "SMTP_PASSWORD" in err and "--smtp-password-file" in err
    assert err.count("\n") == 1


def test_an_unreadable_password_file_is_refused(tmp_path, capsys):
    assert main(["local", "--smtp-password-file", str(tmp_path / "missing")]) == 2
    assert "cannot read --smtp-password-file" in capsys.readouterr().err


def test_a_bad_port_is_refused(capsys):
    assert main(["local", "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


def test_an_unknown_stack_is_refused_naming_the_file(capsys):
    assert main(["local", "--stack", "nosuchstack"]) == 2
    assert "Pulumi.nosuchstack.yaml" in capsys.readouterr().err


def test_bad_stack_settings_are_refused_naming_the_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "x")
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  gcp:project: emergence-469005\n  gcp:region: europe-west1\n"
        "  emergence-cloudrun:emailEnabled: 'false'\n"
        "  emergence-cloudrun:startupProbeTimeoutSeconds: '9'\n"
    )
    code = main(["local", "--stack", "bad", "--project-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "emergence-cloudrun:startupProbeTimeoutSeconds" in err
    assert "emergence-cloudrun:dockerfile" in err  # no app_image/Dockerfile beside that stack


@pytest.mark.parametrize("context", ["../no-such-checkout", "Pulumi.missing.yaml"])
def test_a_missing_or_wrong_build_context_is_one_line_naming_it(
    tmp_path, capsys, monkeypatch, context
):
    """`local` on a stack whose app checkout is not there (or is a file): one line naming
    buildContext and the fix, before any build."""
    import infra.cli.local

    monkeypatch.setattr(infra.cli.local, "run_local", lambda *a, **k: pytest.fail("must not run"))
    (tmp_path / "Pulumi.missing.yaml").write_text(
        "config:\n  gcp:project: emergence-469005\n  gcp:region: europe-west1\n"
        "  emergence-cloudrun:emailEnabled: 'false'\n"
        f"  emergence-cloudrun:dockerfile: {PROJECT_DIR / 'app_image' / 'Dockerfile'}\n"
        f"  emergence-cloudrun:buildContext: {context}\n"
    )
    assert main(["local", "--stack", "missing", "--project-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"emergence-cloudrun:buildContext {context} " in err
    assert "is not a directory" in err and "Fix: " in err and "git clone" in err


def test_a_port_in_use_is_refused_before_anything_starts(monkeypatch, capsys):
    monkeypatch.setenv("SMTP_PASSWORD", "x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["local", "--stack", "reference", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} is already in use" in err and "--port 0" in err


def test_no_docker_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SMTP_PASSWORD", "x")
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker CLI on it
    assert main(["local", "--stack", "reference", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "Docker is not available: the docker CLI is not installed" in err
    assert "docker-sandbox.sh" in err


def test_local_is_listed_among_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "local" in capsys.readouterr().out


# --------------------------------------------------------------------------- secret env vars


def test_the_secret_env_names_are_the_services_secret_references(prod, prod_settings):
    declared = {e["name"] for e in service_container(prod)["envs"] if "valueSource" in e}
    assert set(prod_settings.secret_env_names) == declared
    off = dataclasses.replace(
        prod_settings, smtp=dataclasses.replace(prod_settings.smtp, enabled=False)
    )
    assert set(off.secret_env_names) == declared - {"SMTP_PASSWORD"}
    assert {"OPENAI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY"} <= declared


def test_secret_values_come_from_the_env_file_then_the_environment(tmp_path):
    env_file = tmp_path / "secrets.env"
    env_file.write_text("# the app's keys\nOPENAI_API_KEY=sk-from-file\n\nexport B_KEY= spaced \n")
    found, missing = localrun.read_secret_env(
        ["OPENAI_API_KEY", "B_KEY", "C_KEY", "D_KEY"],
        {"OPENAI_API_KEY": "sk-from-env", "C_KEY": "from-env", "D_KEY": ""},
        env_file,
    )
    assert found == {"OPENAI_API_KEY": "sk-from-file", "B_KEY": " spaced ", "C_KEY": "from-env"}
    assert missing == ["D_KEY"]


def test_an_env_file_naming_what_the_service_does_not_read_is_refused(tmp_path):
    env_file = tmp_path / "secrets.env"
    env_file.write_text("SMTP_PASSWORD=pw-value\nSMTP_HOST=smtp.example.com\n")
    with pytest.raises(localrun.LocalRunError) as err:
        localrun.read_secret_env(["SMTP_PASSWORD"], {}, env_file)
    assert "sets SMTP_HOST, which the service does not read from Secret Manager" in str(err.value)
    assert "pw-value" not in str(err.value)


@pytest.mark.parametrize("line", ["no equals sign", "1BAD=x", "=x"])
def test_a_malformed_env_file_names_the_line_not_the_value(tmp_path, line):
    env_file = tmp_path / "secrets.env"
    env_file.write_text(f"OK=1\n{line}\n")
    with pytest.raises(localrun.LocalRunError) as err:
        localrun.read_env_file(env_file)
    assert f"--env-file {env_file}, line 2: not NAME=value" in str(err.value)
    assert line not in str(err.value)


def test_every_secret_reaches_the_container_env_and_is_redacted(prod_settings):
    env = container_env(
        prod_settings,
        port=8080,
        revision="r",
        password="pw-1",
        secrets={"OPENAI_API_KEY": "sk-2", "ANTHROPIC_API_KEY": "sk-2-longer"},
    )
    assert env["SMTP_PASSWORD"] == "pw-1" and env["OPENAI_API_KEY"] == "sk-2"
    options = localrun.LocalRunOptions(
        prod_settings,
        "t",
        0,
        password="pw-1",
        secrets={"OPENAI_API_KEY": "sk-2", "ANTHROPIC_API_KEY": "sk-2-longer"},
    )
    assert set(options.secret_values()) == {"pw-1", "sk-2", "sk-2-longer"}
    text = "pw-1 sk-2-longer sk-2"
    assert localrun.log_excerpt(text, localrun.Redactor(options.secret_values())) == (
        "  [redacted] [redacted] [redacted]"
    )


def test_a_missing_secret_env_var_stops_the_run_naming_it(monkeypatch, capsys):
    import infra.cli.local

    monkeypatch.setenv("SMTP_PASSWORD", "x")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(infra.cli.local, "run_local", lambda *a, **k: pytest.fail("must not run"))
    monkeypatch.setattr(
        localrun.Settings,
        "secret_env_names",
        property(lambda self: ("SMTP_PASSWORD", "OPENAI_API_KEY")),
    )
    assert main(["local", "--stack", "reference"]) == 2
    err = capsys.readouterr().err
    assert "the service reads OPENAI_API_KEY from Secret Manager and no value was given" in err
    assert "--env-file" in err and err.count("\n") == 1


class _ChainEngine(Docker):
    """An engine whose cache records form parent chains: `docker builder prune --filter id=X`
    removes X only once no record built on it is left, as BuildKit does; `in_use` never goes."""

    def __init__(self, parents: dict[str, str | None], in_use: set[str] = frozenset()):
        super().__init__()
        self.records = dict(parents)
        self.in_use = set(in_use)
        self.prune_calls = 0

    def build_cache_ids(self) -> set[str]:
        return set(self.records)

    def run(self, *args, **kwargs):
        assert args[:4] == ("builder", "prune", "--force", "--filter"), args
        self.prune_calls += 1
        record = args[4].removeprefix("id=")
        has_children = any(parent == record for parent in self.records.values())
        if record in self.records and not has_children and record not in self.in_use:
            del self.records[record]
        return subprocess.CompletedProcess(args, 0, "", "")


def test_pruning_removes_a_long_chain_of_new_records_and_nothing_older():
    # a chain r00 <- r01 <- ... <- r11, pruned in name order: one record per pass
    chain = {f"r{n:02d}": (f"r{n - 1:02d}" if n else "old") for n in range(12)}
    engine = _ChainEngine({"old": None, **chain})
    assert engine.prune_build_cache_since({"old"}) == 12
    assert engine.records == {"old": None}


def test_pruning_stops_when_what_is_left_is_in_use():
    engine = _ChainEngine({"a": None, "b": "a", "c": None}, in_use={"a"})
    assert engine.prune_build_cache_since(set()) == 2  # b, then c; a is in use
    assert set(engine.records) == {"a"}
    calls = engine.prune_calls
    assert engine.prune_build_cache_since(set()) == 0
    assert engine.prune_calls == calls + 1  # one pass, no progress, stop
