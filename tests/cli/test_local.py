"""`python -m infra local` end to end, with a real Docker engine (fails, never skips, in CI).

Each test writes a stack file of its own (a copy of the reference stack's settings with a unique
image name and, for the broken apps, a short startup-probe budget) and runs the command as a user
would, in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading

import pytest
import requests
import yaml

from infra.local.run import free_port
from tests.conftest import PROJECT_ROOT
from tests.image_helpers import (
    APP_IMAGE,
    BROKEN_APPS,
    container_exists,
    container_state,
    docker,
    remove_container,
    remove_images,
    unique,
    where_image_holds,
)

pytestmark = pytest.mark.docker

SECRET = "smtp-pw-" + hashlib.sha256(b"test_cli_local").hexdigest()[:20]
FAST_PROBE = {
    "startupProbePeriodSeconds": "1",
    "startupProbeTimeoutSeconds": "1",
    "startupProbeFailureThreshold": "4",
}


@pytest.fixture
def project(tmp_path, image_build_cache):
    """(project dir, write_stack): stack files there build the given context; the images they
    name are removed afterwards."""
    names: list[str] = []

    def write_stack(stack: str, context, **settings: object) -> str:
        document = yaml.safe_load((PROJECT_ROOT / "Pulumi.reference.yaml").read_text())
        image_name = unique("emergence-test-local")
        config = document["config"]
        config["emergence-cloudrun:buildContext"] = str(context)
        # the project dir is a temporary one: name this repository's Dockerfile (or the app's)
        dockerfile = context / "Dockerfile" if context != APP_IMAGE else APP_IMAGE / "Dockerfile"
        config["emergence-cloudrun:dockerfile"] = str(dockerfile)
        config["emergence-cloudrun:imageName"] = image_name
        config.update({f"emergence-cloudrun:{k}": v for k, v in settings.items()})
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
        names.append(image_name)
        return image_name

    yield tmp_path, write_stack
    for name in names:  # whatever tag the source's commit gave it
        listed = docker("image", "ls", name, "--format", "{{.Repository}}:{{.Tag}}", check=False)
        remove_images(*listed.stdout.split())


def built_image(output: str) -> str:
    match = re.search(r" as (\S+) \(source: ", output)
    assert match, output
    return match.group(1)


def command(project_dir, stack, port, *extra):
    argv = [sys.executable, "-m", "infra", "local", "--stack", stack, "--port", str(port)]
    return [*argv, "--project-dir", str(project_dir), *extra]


def infra_local(project_dir, stack, port, *extra, env=None, timeout=900):
    return subprocess.run(
        command(project_dir, stack, port, *extra),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def started_container(output: str) -> str:
    match = re.search(r"^==> starting (\S+) on 127\.0\.0\.1:", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_the_reference_app_builds_passes_every_check_and_is_cleaned_up(project):
    project_dir, write_stack = project
    write_stack("ok", APP_IMAGE)
    port = free_port()
    proc = infra_local(project_dir, "ok", port, env={"SMTP_PASSWORD": SECRET})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    image = built_image(proc.stdout)
    assert f"URL: http://127.0.0.1:{port}\n" in proc.stdout
    rows = re.findall(r"^  (\S+)\s+(/\S*)\s+(pass|FAIL) ", proc.stdout, re.MULTILINE)
    assert rows == [
        ("health", "/api/health", "pass"),
        ("metrics", "/api/metrics", "pass"),
        ("auth", "/api/chat/sessions", "pass"),
        ("docs", "/docs", "pass"),
        ("openapi", "/openapi.json", "pass"),
    ]
    assert "5 of 5 checks passed: PASS" in proc.stdout
    assert "#1 [internal] load build definition" in proc.stdout  # BuildKit's progress shown
    assert "SMTP_PASSWORD (secret)" in proc.stdout
    container = started_container(proc.stdout)
    assert f"==> removed container {container}" in proc.stdout
    assert not container_exists(container)
    assert SECRET not in output
    # the secret went to the container at run time only: no layer, no config, no history
    assert where_image_holds(image, SECRET) == []


def test_keep_leaves_the_healthy_container_running(project, tmp_path):
    project_dir, write_stack = project
    write_stack("keep", APP_IMAGE)
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SECRET + "\n")
    port = free_port()
    proc = infra_local(
        project_dir, "keep", port, "--keep", "--smtp-password-file", str(password_file)
    )
    container = started_container(proc.stdout) if "==> starting" in proc.stdout else None
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"URL: http://127.0.0.1:{port}" in proc.stdout
        assert container_state(container)["Running"]
        health = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=5).json()
        assert health["status"] == "healthy"
        assert health["email_enabled"] is True  # the password from the file reached the app
        # K_REVISION names the commit the image tag names (the source's checkout)
        tag = built_image(proc.stdout).split(":", 1)[1]
        short = tag.split("-")[3] if tag != "deploy-untracked" else "dev"
        assert health["revision"] == f"emergence-app-local-{short}"
        assert SECRET not in proc.stdout + proc.stderr
    finally:
        if container:
            remove_container(container)


def test_a_failing_post_deploy_check_fails_the_run(project):
    project_dir, write_stack = project
    checks = [
        "health /api/health 200 json status=healthy",
        "version /api/version 200 json",  # the reference app has no such endpoint
    ]
    write_stack("checks", APP_IMAGE, emailEnabled="false", verifyChecks=checks)
    proc = infra_local(project_dir, "checks", free_port())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "URL: http://127.0.0.1:" in proc.stdout  # it did become healthy
    assert re.search(r"^  version\s+/api/version\s+FAIL\s+404 ", proc.stdout, re.MULTILINE)
    assert "1 of 2 checks passed; failed: version: FAIL" in proc.stdout
    assert not container_exists(started_container(proc.stdout))


@pytest.mark.parametrize(
    ("app", "reason", "log_line"),
    [
        ("health500", "last probe: HTTP 500", "health500: serving 500s"),
        (
            "never_listening",
            "last probe: connection refused (nothing listening)",
            "never_listening: up, not listening",
        ),
    ],
)
def test_a_broken_app_fails_with_a_clear_message_and_no_container_left(
    project, app, reason, log_line
):
    project_dir, write_stack = project
    write_stack("broken", BROKEN_APPS / app, emailEnabled="false", **FAST_PROBE)
    proc = infra_local(project_dir, "broken", free_port())
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    container = started_container(proc.stdout)
    assert f"FAILED: {container} never became healthy: not healthy after 4 s" in proc.stdout
    assert reason in proc.stdout
    assert log_line in proc.stdout  # the container's own logs explain it
    assert "URL:" not in proc.stdout
    assert f"==> removed container {container}" in proc.stdout
    assert not container_exists(container)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupted_run_removes_its_container(project, sig, code):
    project_dir, write_stack = project
    write_stack("slow", BROKEN_APPS / "never_listening", emailEnabled="false")  # 120 s budget
    proc = subprocess.Popen(
        command(project_dir, "slow", free_port()),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(600, proc.kill)
    watchdog.start()
    lines: list[str] = []
    container = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("==> waiting like Cloud Run"):
                container = started_container("".join(lines))
                assert container_state(container)["Running"]
                proc.send_signal(sig)
                break
        rest = proc.stdout.read()
        assert proc.wait(timeout=120) == code, "".join(lines) + rest
        assert container is not None, "".join(lines) + rest
        assert f"==> removed container {container}" in rest
        assert not container_exists(container)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        if container:
            remove_container(container)


def test_a_sigterm_right_after_starting_leaves_no_container(project):
    """SIGTERM as `docker run` begins: the engine creates the container (secrets in its config)
    even if its CLI is killed, and on a vfs engine that takes seconds. Before the fix the
    container appeared, state `created`, after the command had exited (tests/local/
    test_interrupts.py covers every offset and Ctrl-C against a fake CLI)."""
    project_dir, write_stack = project
    write_stack("sig", APP_IMAGE)
    proc = subprocess.Popen(
        command(project_dir, "sig", free_port()),
        cwd=PROJECT_ROOT,
        env={**os.environ, "SMTP_PASSWORD": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    container = None
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("==> starting"):
                container = started_container(line)
                proc.send_signal(signal.SIGTERM)
                break
        output = "".join(lines) + proc.stdout.read()
        assert proc.wait(timeout=300) == 143, output
        assert container is not None, output
        late = threading.Event()
        for _ in range(20):  # a creation still under way in the engine shows within seconds
            if container_exists(container):
                late.set()
                break
            late.wait(0.5)
        assert not late.is_set(), f"{container} was left behind: {container_state(container)}"
        assert SECRET not in output
    finally:
        if proc.poll() is None:
            proc.kill()
        if container:
            remove_container(container)


def test_the_secret_scan_finds_a_leaked_secret(tmp_path, image_build_cache):
    """Control for the scan above: a secret in a layer file or in the config is found."""
    (tmp_path / "leak.txt").write_text(f"password={SECRET}\n")
    dockerfile = "FROM scratch\nARG LEAK\nLABEL leak=$LEAK\nCOPY leak.txt /\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    tag = unique("emergence-test-leak") + ":x"
    argv = ["build", "--build-arg", f"LEAK={SECRET}", "--tag", tag, str(tmp_path)]
    try:
        docker(*argv, timeout=300)
        found = where_image_holds(tag, SECRET)
        assert "config" in found
        assert any(place.startswith("layer file") for place in found)
    finally:
        remove_images(tag)
