"""The app's source inside the program: `pulumi up` stops without it, a preview (and `plan`)
goes on and says so, the gate checks the app's own checkout, the tag names its commit."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from infra.mockrun import MISSING_SOURCE, MOCK_APP_GIT, REAL_GIT, attempt, evaluate
from infra.preflight import SourceRefused
from infra.preflight.git import DeployRefused
from tests.conftest import TEST_SMTP_PASSWORD
from tests.delivery_helpers import clone, commit, git, upstream

SECRETS = {"smtpPassword": TEST_SMTP_PASSWORD}
IMAGE = "docker-build:index:Image"


def test_up_without_the_apps_checkout_stops_with_one_line_naming_build_context():
    ev, error = attempt("prod", secrets=SECRETS, app_git=MISSING_SOURCE)
    assert isinstance(error, SourceRefused)
    message = str(error)
    assert message.startswith("emergence-cloudrun:buildContext ../emergencev8 (")
    assert "is not a directory" in message
    assert "Fix: check out the app there (for emergence-app: git clone" in message
    assert "\n" not in message
    assert ev.custom() == [], "nothing may be created, updated or built"


def test_up_with_a_wrong_path_stops_before_anything_too(tmp_path):
    ev, error = attempt(
        "prod",
        config={"buildContext": str(tmp_path / "no-such-checkout")},
        secrets=SECRETS,
        app_git=REAL_GIT,
    )
    assert isinstance(error, SourceRefused)
    assert f"buildContext {tmp_path / 'no-such-checkout'} " in str(error)
    assert ev.custom() == []


def test_a_preview_without_the_checkout_plans_and_says_up_would_stop(caplog):
    with caplog.at_level(logging.WARNING):
        ev = evaluate("prod", secrets=SECRETS, preview=True, app_git=MISSING_SOURCE)
    assert ev.custom(), "the plan is shown"
    assert "emergence-cloudrun:buildContext ../emergencev8" in caplog.text
    assert "`pulumi up` stops here" in caplog.text
    assert ev.outputs["imageTag"] == "deploy-app-missing-infra-5eed000"
    build = ev.pushed_image().inputs
    assert build["context"] == {"location": "../emergencev8"}  # as set: nothing to stage
    assert build["buildArgs"]["APP_MODULE"] == "backend.main:app"


def test_plan_reads_no_checkout_and_writes_nothing(tmp_path):
    """`plan` (REAL_GIT) with the checkout missing: it plans; with it present: it stages
    read-only (no file written)."""
    missing = tmp_path / "missing"
    ev = evaluate(
        "prod",
        config={"buildContext": str(missing)},
        secrets=SECRETS,
        preview=True,
        app_git=REAL_GIT,
    )
    assert ev.outputs["imageTag"].startswith("deploy-app-missing-infra-")
    assert not missing.exists()


@pytest.fixture
def app_checkout(tmp_path):
    """A real clone standing in for ../emergencev8 (with an allow-list of its own)."""
    origin = upstream(tmp_path)
    commit(origin, ".dockerignore", "*\n!app.txt\n", "allow-list")
    return clone(origin, tmp_path / "emergencev8")


def evaluate_with(checkout, **kw):
    return attempt(
        "prod",
        config={"buildContext": str(checkout), "buildInclude": "[]"},
        secrets=SECRETS,
        app_git=REAL_GIT,
        **kw,
    )


def test_a_clean_app_commit_on_its_main_is_deployed_and_named(app_checkout):
    ev, error = evaluate_with(app_checkout)
    assert error is None, error
    sha = git(app_checkout, "rev-parse", "HEAD")
    assert ev.outputs["imageTag"] == f"deploy-20251006-060538-{sha[:7]}-infra-5eed000"
    record = ev.outputs["deploySource"]
    assert record["gate"] == "clean"
    assert record["commit"] == "5eed0000c0ffee00000000000000000000000000"  # this repository
    assert record["app"] == {
        "source": str(app_checkout),
        "commit": sha,
        "branch": "main",
        "dirty": False,
        "onDefaultBranch": True,
        "checkedAgainst": "origin/main",
    }


def test_uncommitted_app_changes_refuse_a_prod_up(app_checkout):
    (app_checkout / "app.txt").write_text("edited, not committed\n")
    ev, error = evaluate_with(app_checkout)
    assert isinstance(error, DeployRefused)
    assert f"the app's checkout {app_checkout} has uncommitted changes: app.txt" in str(error)
    assert ev.custom() == []


def test_unpushed_app_commits_refuse_a_prod_up(app_checkout):
    commit(app_checkout, "app.txt", "v2\n", "not pushed")
    ev, error = evaluate_with(app_checkout)
    assert isinstance(error, DeployRefused)
    assert "is not on origin/main of" in str(error)
    assert "unpushed or unmerged app changes are not deployed" in str(error)
    assert ev.custom() == []


def test_the_override_records_both_commits(app_checkout):
    (app_checkout / "app.txt").write_text("hotfix\n")
    ev, error = attempt(
        "prod",
        config={"buildContext": str(app_checkout), "buildInclude": "[]", "allowDirtyDeploy": True},
        secrets=SECRETS,
        app_git=REAL_GIT,
    )
    assert error is None, error
    record = ev.outputs["deploySource"]
    assert record["gate"] == "overridden" and record["app"]["dirty"] is True
    assert "-dirty-" in ev.outputs["imageTag"]


def test_a_source_without_an_allow_list_is_refused_naming_build_include(tmp_path):
    plain = tmp_path / "app"
    plain.mkdir()
    (plain / "requirements.txt").write_text("")
    ev, error = attempt(
        "prod",
        config={"buildContext": str(plain), "buildInclude": "[]", "allowDirtyDeploy": True},
        secrets=SECRETS,
        app_git=REAL_GIT,
    )
    assert isinstance(error, SourceRefused)
    assert "emergence-cloudrun:buildInclude" in str(error)
    assert ev.custom() == []


def test_the_mock_engines_app_checkout_is_the_guides_commit(prod):
    assert prod.outputs["deploySource"]["app"]["commit"] == MOCK_APP_GIT.sha
    dirty = dataclasses.replace(
        MOCK_APP_GIT, dirty=True, changes_digest="feedf00d", changed_paths=("src/x.py",)
    )
    _, error = attempt("prod", secrets=SECRETS, app_git=dirty)
    assert isinstance(error, DeployRefused)
    assert "the app's checkout ../emergencev8 has uncommitted changes: src/x.py" in str(error)
