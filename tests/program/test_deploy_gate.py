"""The clean-tree gate inside the program: `pulumi up` on stack prod refuses before any resource."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from infra.config import SettingsError
from infra.mockrun import MOCK_APP_GIT, MOCK_GIT, attempt, evaluate
from infra.preflight.git import DeployRefused, read_git_info
from infra.rules.deploy_source import image_tag
from tests.conftest import TEST_SMTP_PASSWORD
from tests.delivery_helpers import clone, upstream

SECRETS = {"smtpPassword": TEST_SMTP_PASSWORD}
DIRTY = dataclasses.replace(
    MOCK_GIT, dirty=True, changes_digest="0badc0de", changed_paths=("infra/components/service.py",)
)
OFF_MAIN = dataclasses.replace(MOCK_GIT, sha="feed" * 10, branch="feature", on_default_branch=False)


@pytest.mark.parametrize(
    ("git", "problem"),
    [
        (DIRTY, "the working tree has uncommitted changes: infra/components/service.py"),
        (OFF_MAIN, "commit feedfee is not on origin/main"),
        (None, "the project is not a readable git work tree (not a git repository)"),
    ],
    ids=["dirty", "not-on-main", "not-a-repo"],
)
def test_up_is_refused_before_any_resource_is_registered(git, problem):
    ev, error = attempt("prod", secrets=SECRETS, git=git)
    assert isinstance(error, DeployRefused)
    assert problem in str(error)
    assert "pulumi config set emergence-cloudrun:allowDirtyDeploy true" in str(error)
    assert ev.custom() == [], "nothing may be created, updated or built"
    assert [r.type for r in ev.resources] in ([], ["pulumi:pulumi:Stack"])


def test_preview_of_a_dirty_tree_runs_and_says_up_would_refuse(caplog):
    with caplog.at_level(logging.WARNING):
        ev = evaluate("prod", secrets=SECRETS, git=DIRTY, preview=True)
    assert ev.custom(), "a preview shows the plan"
    assert "`pulumi up` from this checkout would be refused for stack 'prod'" in caplog.text
    record = ev.outputs["deploySource"]
    assert record["gate"] == "refused"
    assert record["problems"] == [
        "the working tree has uncommitted changes: infra/components/service.py"
    ]


def test_override_deploys_and_records_itself_in_the_outputs(caplog):
    with caplog.at_level(logging.WARNING):
        ev = evaluate("prod", config={"allowDirtyDeploy": True}, secrets=SECRETS, git=DIRTY)
    assert ev.custom()
    assert ev.outputs["deploySource"] == {
        "commit": DIRTY.sha,
        "branch": "main",
        "dirty": True,
        "onDefaultBranch": True,
        "checkedAgainst": "origin/main",
        "gate": "overridden",
        "allowDirtyDeploy": True,
        "problems": ["the working tree has uncommitted changes: infra/components/service.py"],
        "app": {
            "source": "../emergencev8",
            "commit": MOCK_APP_GIT.sha,
            "branch": None,
            "dirty": False,
            "onDefaultBranch": True,
            "checkedAgainst": "origin/main",
        },
    }
    assert "clean-tree gate is overridden" in caplog.text
    # The image says it was built from uncommitted changes (of this repository).
    assert ev.outputs["imageTag"] == "deploy-20251012-174843-e7b0d75-infra-5eed000-dirty-0badc0de"


def test_clean_commit_on_main_deploys_with_a_clean_record(prod):
    record = prod.outputs["deploySource"]
    assert record["gate"] == "clean"
    assert record["commit"] == MOCK_GIT.sha
    assert record["allowDirtyDeploy"] is False and record["problems"] == []
    assert record["app"]["commit"] == MOCK_APP_GIT.sha
    # stack prod builds the app's own checkout: its commit first, then this repository's
    assert prod.outputs["imageTag"] == "deploy-20251012-174843-e7b0d75-infra-5eed000"


def test_the_reference_stack_is_tagged_by_this_repositorys_commit_alone():
    ev = evaluate("reference", secrets=SECRETS)
    assert ev.outputs["imageTag"] == image_tag(MOCK_GIT) == "deploy-20251006-060538-5eed000"
    assert ev.outputs["deploySource"]["app"] is None


def test_a_real_dirty_checkout_is_refused_end_to_end(tmp_path):
    """From `git status` in a real clone to the program's refusal."""
    work = clone(upstream(tmp_path), tmp_path / "work")
    (work / "app.txt").write_text("edited, not committed\n")
    ev, error = attempt("prod", secrets=SECRETS, git=read_git_info(work))
    assert isinstance(error, DeployRefused)
    assert "uncommitted changes: app.txt" in str(error)
    assert ev.custom() == []


def test_bad_default_branch_is_a_settings_error():
    with pytest.raises(SettingsError) as exc:
        evaluate("prod", config={"defaultBranch": "-main..x"}, secrets=SECRETS)
    assert exc.value.keys == ["emergence-cloudrun:defaultBranch"]
    assert "pulumi config set emergence-cloudrun:defaultBranch main" in str(exc.value)
