"""A test run without Docker says how many Docker tests it skipped (tests/conftest.py), plainly,
in a section of its own, instead of ending green as if it had covered them; with
REQUIRE_DOCKER=1 they fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

DOCKER_TESTS = "tests/cli/test_local.py"


def run_without_docker(*extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("REQUIRE_DOCKER",)}
    environment["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # no engine answers
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", DOCKER_TESTS, *extra],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )


def test_a_run_without_docker_says_how_many_docker_tests_it_skipped():
    proc = run_without_docker()
    assert proc.returncode == 0, proc.stdout  # pytest's own verdict: skips are not failures
    skipped = int(re.search(r"(\d+) skipped", proc.stdout).group(1))
    assert skipped > 0
    assert f"{skipped} Docker tests skipped" in proc.stdout
    last = proc.stdout.rstrip().splitlines()
    summary = next(line for line in last if "tests that need a Docker engine" in line)
    assert summary.startswith(f"{skipped} tests that need a Docker engine were skipped")
    assert "docker-sandbox.sh" in summary


def test_a_run_with_docker_required_fails_them_and_says_nothing_of_skips():
    proc = run_without_docker("-x", REQUIRE_DOCKER="1")
    assert proc.returncode == 1, proc.stdout
    assert "REQUIRE_DOCKER=1: Docker tests must run here" in proc.stdout
    assert "Docker tests skipped" not in proc.stdout
