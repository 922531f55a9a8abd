"""The README's "Bounds on hostile input" says the bounds the code enforces: each figure in
the table is read from the constant that sets it, so changing one without the other fails."""

from __future__ import annotations

import inspect

from infra.local import run as localrun
from infra.probes import bounded, metrics, verify
from tests.conftest import PROJECT_ROOT


def section() -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Bounds on hostile input\n", 1)[1].split("\n## ", 1)[0]


def row(what: str) -> str:
    return next(line for line in section().splitlines() if line.startswith(f"| {what}"))


def test_the_check_bounds_are_the_codes():
    checks = row("One post-deploy check")
    policy = verify.HttpPolicy()
    assert f"{policy.budget:g} s by default" in checks
    assert f"({localrun.LOCAL_CHECK_POLICY.budget:g} s in `local`)" in checks
    assert f"at most {verify.MAX_BUDGET_SECONDS:g} s" in checks
    assert f"connect {policy.connect_timeout:g} s, read {policy.read_timeout:g} s" in checks
    assert f"at most {verify.MAX_TIMEOUT_SECONDS:g} s" in checks
    assert (
        f"at most {policy.attempts} tries (`--attempts`, at most {verify.MAX_ATTEMPTS})" in checks
    )
    assert f"{bounded.size_text(verify.MAX_BODY_BYTES)}, counted after" in row("A check's body")


def test_the_metrics_and_local_bounds_are_the_codes():
    default_timeout = inspect.signature(metrics.read_metrics_text).parameters["timeout"].default
    source = row("`phase2 --metrics`")
    assert (
        f"{default_timeout:g} s for the whole read, {bounded.size_text(metrics.MAX_METRICS_BYTES)}"
        in source
    )
    assert f"| {localrun.DOCKER_RUN_TIMEOUT} s;" in row("`local`: `docker run`")
    assert bounded.size_text(localrun.PASSWORD_FILE_MAX_BYTES) in row(
        "`local --smtp-password-file`"
    )
