"""Fixtures shared by the whole suite; concern helpers live in tests/<concern>_helpers.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def docker_problem() -> str | None:
    """None when a Docker engine answers, else why not (one line)."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if proc.returncode != 0:
        return f"docker info failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> dict[str, str]:
    """A working Docker engine, or a failure (CI: REQUIRE_DOCKER=1) / skip (a laptop without one).

    Returns the extra `docker build`/`docker run` arguments this machine needs
    (`--network host` in the sandbox, which has no bridge network).
    """
    problem = docker_problem()
    if problem is not None:
        message = (
            f"{DOCKER_SKIP} and is unavailable: {problem}. "
            "Start it with `. ../shared/tools/docker-sandbox.sh`."
        )
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (REQUIRE_DOCKER=1: Docker tests must run here)")
        pytest.skip(message + " (set REQUIRE_DOCKER=1 to make this a failure)")
    network = os.environ.get("DOCKER_SANDBOX_NETWORK", "")
    return {"network": network}


@pytest.fixture(scope="session")
def image_build_cache(docker_engine):
    """Image tests' builds share the BuildKit cache during the session; what they added to it
    is removed at the end (on vfs each cached layer is a full root file system copy)."""
    from infra.local.run import Docker

    before = Docker().build_cache_ids()
    yield docker_engine
    Docker().prune_build_cache_since(before)


DOCKER_SKIP = "Docker is needed for this test"


def _docker_skips(terminalreporter) -> list:
    """The skipped tests that needed Docker (the `docker_engine` fixture's skip, or the mark)."""
    found = []
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if DOCKER_SKIP in reason or "docker" in report.keywords:
            found.append(report)
    return found


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n 2 --dist loadgroup`, as CI runs), the Docker tests share one
    worker, one after the other: they share one engine, its session image and its build cache,
    and the tests that time a container need the engine to themselves. The other tests run on
    the other worker meanwhile."""
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(pytest.mark.xdist_group("docker"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say, in a section of its own, how many Docker tests did not run: a green run without Docker
    does not cover the image, the local run or the container tests that CI runs."""
    skipped = _docker_skips(terminalreporter)
    if not skipped:
        return
    terminalreporter.write_sep("=", f"{len(skipped)} Docker tests skipped", yellow=True, bold=True)
    terminalreporter.write_line(
        f"{len(skipped)} tests that need a Docker engine were skipped, so this run does not "
        "cover the image, the local run or the container tests. CI runs them (REQUIRE_DOCKER=1 "
        "turns a missing engine into failures); to run them here: "
        ". ../shared/tools/docker-sandbox.sh (or start Docker), then run pytest again."
    )


# --------------------------------------------------------------------------- the program

# A value only the tests know, so a leak of the SMTP password is easy to find anywhere.
TEST_SMTP_PASSWORD = "tst-Pw-9f3b2c7e-do-not-leak"


@pytest.fixture(scope="session")
def prod():
    """The whole program evaluated for stack prod under mocks (`pulumi up` shape)."""
    from infra.mockrun import evaluate

    return evaluate("prod", secrets={"smtpPassword": TEST_SMTP_PASSWORD})


@pytest.fixture(scope="session")
def prod_preview():
    """The same, as `pulumi preview` sees it: provider-computed outputs unknown."""
    from infra.mockrun import evaluate

    return evaluate("prod", secrets={"smtpPassword": TEST_SMTP_PASSWORD}, preview=True)


# --------------------------------------------------------------------------- fake Google APIs


@pytest.fixture
def fake_cloud_run(monkeypatch: pytest.MonkeyPatch):
    """A running fake Cloud Run Admin API (tests/fakes/cloud_run.py) with CLOUD_RUN_API_ENDPOINT
    pointing at it. Seed it with `add_service`/`deploy`/`set_traffic`; see its module docstring."""
    from tests.fakes.cloud_run import FakeCloudRun

    with FakeCloudRun() as fake:
        monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", fake.url)
        yield fake
