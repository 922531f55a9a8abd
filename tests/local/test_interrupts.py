"""`python -m infra local` stopped at any moment leaves no container behind, and shows no secret.

Against the fake docker CLI (tests/fakes/docker_cli.py), which creates containers the way the
engine does: in the daemon, so a `docker run` interrupted half-way still produces a container a
moment later (state `created`, SMTP_PASSWORD in its config). The signal is sent at several
offsets into that `docker run`, both as `kill` would (SIGTERM to the process) and as a terminal
would on Ctrl-C (SIGINT to the whole foreground process group, the docker CLI included).
The same with the real engine, at fewer offsets: tests/cli/test_local.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.fakes import docker_cli

SECRET = "tst-Pw/local+9f3b'\"é"  # a slash, a quote, a non-ASCII letter: every encoding differs
CREATE_DELAY = 0.3
OFFSETS = [0.0, 0.1, 0.2, 0.28, 0.45]


@pytest.fixture
def fake_docker(tmp_path):
    """(env for the command, state dir, project dir with stack 'fake')."""
    state = tmp_path / "docker-state"
    docker_cli.install(tmp_path / "bin", state)
    project = tmp_path / "project"
    project.mkdir()
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.reference.yaml").read_text())
    document["config"]["emergence-cloudrun:buildContext"] = str(PROJECT_ROOT / "app_image")
    document["config"]["emergence-cloudrun:dockerfile"] = str(PROJECT_ROOT / "app_image/Dockerfile")
    (project / "Pulumi.fake.yaml").write_text(yaml.safe_dump(document))
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_DIR": str(state),
        "FAKE_DOCKER_CREATE_DELAY": str(CREATE_DELAY),
        "SMTP_PASSWORD": SECRET,
    }
    env.pop("DOCKER_SANDBOX_NETWORK", None)
    env.pop("DOCKER_HOST", None)
    return env, state, project


def local_command(project) -> list[str]:
    argv = [sys.executable, "-m", "infra", "local", "--stack", "fake", "--port", "0"]
    return [*argv, "--project-dir", str(project)]


def run_local_command(project, env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        local_command(project),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_for(path, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize(
    ("how", "code"), [("sigterm", 143), ("ctrl-c", 130)], ids=["sigterm", "ctrl-c"]
)
def test_a_stop_during_docker_run_leaves_no_container(fake_docker, offset, how, code):
    env, state, project = fake_docker
    proc = subprocess.Popen(
        local_command(project),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    try:
        wait_for(state / "run-started")
        time.sleep(offset)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(CREATE_DELAY + 0.3)  # any creation still under way in the "daemon" is done
    assert docker_cli.containers(state) == [], output
    assert proc.returncode == code, output
    assert "Traceback" not in output
    assert "==> removed container emergence-app-local-" in output


def test_the_container_logs_shown_on_failure_redact_every_form_of_the_secret(fake_docker, tmp_path):
    env, state, project = fake_docker
    raw = SECRET.encode()
    forms = {
        "plain": SECRET,
        "json": json.dumps({"password": SECRET}),
        "json-ascii": json.dumps({"password": SECRET}, ensure_ascii=True),
        "repr": repr({"password": SECRET}),
        "repr-bytes": repr(raw),
        "url": urllib.parse.quote(SECRET, safe=""),
        "url-plus": "pw=" + urllib.parse.quote_plus(SECRET),
        "url-lower": re.sub(
            "%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(SECRET, safe="")
        ),
        "base64": base64.b64encode(raw).decode(),
        "basic-auth": "Authorization: Basic "
        + base64.b64encode(b"alice@example.com:" + raw).decode(),
        "basic-auth-2": base64.b64encode(b"al:" + raw + b"!").decode(),
        "urlsafe-base64": base64.urlsafe_b64encode(b"x" + raw).decode(),
        "hex": raw.hex(),
    }
    logs = tmp_path / "container.log"
    logs.write_text(
        "".join(f"{name}: {text}\n" for name, text in forms.items())
        + "escapes: \x1b]52;c;cGF3bmVk\x07\x1b[2J\x9b31m\u202e done\n",
        encoding="utf-8",
    )
    env = {**env, "FAKE_DOCKER_EXIT": "3", "FAKE_DOCKER_LOGS": str(logs)}
    proc = run_local_command(project, env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "the container exited with status 3" in output
    shown = {line.split(":", 1)[0].strip(): line for line in output.splitlines() if ": " in line}
    for name, text in forms.items():
        assert name in shown, output
        assert "[redacted]" in shown[name], (name, shown[name])
        assert text not in output
    for piece in ("tst-Pw", "local+9f3b", "dHN0LVB3", "74737", "tst%2FPw"):
        assert piece not in output
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in output
    assert "\\x1b]52;c;" in output  # shown as text, not obeyed (OSC 52 writes the clipboard)
    assert docker_cli.containers(state) == []


def test_a_huge_log_line_is_cut_not_kept_whole(fake_docker, tmp_path):
    env, state, project = fake_docker
    logs = tmp_path / "container.log"
    logs.write_text("x" * 10_000_000 + "\n", encoding="utf-8")  # one 10 MB line
    env = {**env, "FAKE_DOCKER_EXIT": "1", "FAKE_DOCKER_LOGS": str(logs)}
    proc = run_local_command(project, env)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    assert "[... cut at 64 KiB]" in proc.stdout
    assert len(proc.stdout) < 100_000
    assert docker_cli.containers(state) == []
