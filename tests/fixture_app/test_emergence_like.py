"""The emergence-like fixture (tests/data/emergence_like) through `python -m infra local`, built
with the project's Dockerfile like prod builds the real app (Docker; fails, never skips, in CI).

What the real emergence-app needs, proven without its source: a package under src/ started as
`--app-dir src module:app`, python-magic with libmagic1, a model in the Hugging Face cache
layout loaded offline at start, a SQLite database and logs/ written at run time by a non-root
user, a static mount at `/` that serves the allow-list and nothing else, a prompt SIGTERM stop,
and no CUDA library in the image.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import requests
import yaml

from tests.conftest import PROJECT_ROOT
from tests.delivery_helpers import git
from tests.image_helpers import container_state, docker, remove_container, remove_images

pytestmark = pytest.mark.docker

FIXTURE = PROJECT_ROOT / "tests" / "data" / "emergence_like"
CUDA_SCAN = (
    "import os, re\n"
    "lib = re.compile(r'^lib(cu|nvrtc|nccl|cudnn|torch_cuda|c10_cuda)')\n"
    "hits = [os.path.join(d, f) for top in ('/usr', '/opt', '/app') for d, _, fs in os.walk(top)"
    " for f in fs if lib.match(f) or '/nvidia/' in d + '/' or '/triton/' in d + '/']\n"
    "print(len(hits), hits[:3])\n"
)


def infra_local(project_dir, stack, *extra, timeout=900):
    argv = [sys.executable, "-m", "infra", "local", "--stack", stack, "--port", "0"]
    return subprocess.run(
        [*argv, "--project-dir", str(project_dir), *extra],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
    )


def field(pattern: str, output: str) -> str:
    match = re.search(pattern, output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture(scope="module")
def kept(image_build_cache):
    """The fixture built and kept running by `infra local --keep`: (output, container, url)."""
    proc = infra_local(FIXTURE, "fixture", "--keep")
    output = proc.stdout + proc.stderr
    container = re.search(r"^==> starting (\S+) on ", proc.stdout, re.MULTILINE)
    image = re.search(r" as (\S+) \(source: ", proc.stdout)
    try:
        assert proc.returncode == 0, output
        yield output, container.group(1), field(r"^URL: (\S+)$", proc.stdout)
    finally:
        if container:
            remove_container(container.group(1))
        if image:
            remove_images(image.group(1))


def test_it_is_healthy_and_passes_every_contract_check_of_its_stack(kept):
    output, _, _ = kept
    stack = yaml.safe_load((FIXTURE / "Pulumi.fixture.yaml").read_text())
    checks = stack["config"]["emergence-cloudrun:verifyChecks"]
    rows = re.findall(r"^  (\S+)\s+(/\S*)\s+(pass|FAIL) ", output, re.MULTILINE)
    assert [(name, result) for name, _, result in rows] == [
        (line.split()[0], "pass") for line in checks
    ]
    assert f"{len(checks)} of {len(checks)} checks passed: PASS" in output
    # the allow-list: what it shipped and where it came from
    assert "==> source .: 6 files" in output
    assert "allow-listed by emergence-cloudrun:buildInclude" in output


def test_the_model_database_and_logs_work_as_a_non_root_user(kept):
    _, container, url = kept
    state = requests.get(url + "/api/fixture/state", timeout=10).json()
    assert state["uid"] == 10001
    assert state["model"] == "tiny-embedder"  # loaded from the baked cache, offline
    assert state["model_path"].startswith("/opt/huggingface/hub/models--fixture--tiny-embedder")
    assert state["magic"] == "application/pdf"  # python-magic found libmagic1
    assert state["db"] == "/app/src/fixture_app/data/db/fixture.db"
    assert state["starts"] == 1
    # what it wrote lives outside the served tree, owned by the app user
    listing = docker("exec", container, "ls", "-ln", "/var/lib/app/src/fixture_app/data/db").stdout
    assert re.search(r"10001\s+10001\s+\d+ .* fixture\.db$", listing, re.MULTILINE), listing
    assert docker("exec", container, "test", "-s", "/var/lib/app/logs/app.log").returncode == 0
    env = docker("exec", container, "env").stdout
    assert "HF_HUB_OFFLINE=1" in env


def test_everything_but_the_writable_paths_is_read_only_for_the_app(kept):
    _, container, _ = kept
    for path in ("/app/index.html", "/app/src/fixture_app/new.py", "/opt/venv/x", "/app/x"):
        proc = docker("exec", container, "touch", path, check=False)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, path
    assert docker("exec", container, "touch", "/app/logs/extra.log", check=False).returncode == 0


def test_the_image_holds_no_cuda_library_and_only_the_allow_list(kept):
    _, container, _ = kept
    out = docker("exec", container, "python", "-c", CUDA_SCAN).stdout.split(maxsplit=1)
    assert out[0] == "0", out
    shipped = docker("exec", container, "find", "/app", "-type", "f").stdout.split()
    assert sorted(shipped) == [
        "/app/assets/logo.txt",
        "/app/docs/guide.md",
        "/app/index.html",
        "/app/src/fixture_app/__init__.py",
        "/app/src/fixture_app/main.py",
        "/app/src/frontend/main.js",
    ]


def test_sigterm_stops_it_within_two_seconds_with_exit_0(kept):
    _, container, _ = kept
    started = time.monotonic()
    docker("stop", "--time", "30", container)
    elapsed = time.monotonic() - started
    state = container_state(container)
    assert state["ExitCode"] == 0, "exit 137 means SIGTERM was ignored and SIGKILL came"
    assert elapsed < 2, f"docker stop took {elapsed:.2f} s"


def test_from_its_own_checkout_the_tag_names_the_apps_commit(tmp_path, image_build_cache):
    """The prod layout: the app's checkout beside the project, its commit in the tag."""
    origin = tmp_path / "origin.git"
    checkout = tmp_path / "emergence-like"
    shutil.copytree(FIXTURE, checkout, ignore=shutil.ignore_patterns(".build", "Pulumi.*"))
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "fixture")
    git(checkout, "remote", "add", "origin", str(origin))
    git(checkout, "push", "-q", "origin", "main")
    git(checkout, "fetch", "-q", "origin")
    sha = git(checkout, "rev-parse", "HEAD")
    project = tmp_path / "project"
    project.mkdir()
    stack = yaml.safe_load((FIXTURE / "Pulumi.fixture.yaml").read_text())
    stack["config"]["emergence-cloudrun:buildContext"] = "../emergence-like"
    stack["config"]["emergence-cloudrun:dockerfile"] = str(PROJECT_ROOT / "app_image/Dockerfile")
    (project / "Pulumi.fixture.yaml").write_text(yaml.safe_dump(stack))
    proc = infra_local(project, "fixture")
    image = re.search(r" as (\S+) \(source: ", proc.stdout)
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        tag = image.group(1).split(":", 1)[1]
        assert tag == f"deploy-20251006-060538-{sha[:7]}-infra-untracked"
        labels = json.loads(
            docker("image", "inspect", image.group(1), "--format", "{{json .Config.User}}").stdout
        )
        assert labels == "10001:10001"
    finally:
        if image:
            remove_images(image.group(1))
