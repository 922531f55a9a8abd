"""The clean-tree gate and the commit-derived image tag, on real temporary git repositories."""

from __future__ import annotations

import dataclasses

import pytest

from infra.preflight import git as gitinfo
from infra.preflight.git import DeployRefused, enforce, git_failure, read_git_info
from infra.rules.deploy_source import OVERRIDE_KEY, check_deploy_source, image_tag
from tests.delivery_helpers import clone, commit, git, upstream


@pytest.fixture
def origin(tmp_path):
    return upstream(tmp_path)


@pytest.fixture
def work(origin, tmp_path):
    """A developer's (or CI's) clone: origin/main exists."""
    return clone(origin, tmp_path / "work")


def verdict(info, stack="prod", allow=False, **kw):
    return check_deploy_source(info, stack=stack, allow_dirty_deploy=allow, **kw)


# --- reading the checkout -------------------------------------------------------------------


def test_clean_clone_of_main_is_deployable(work, origin):
    info = read_git_info(work)
    assert info is not None
    assert info.sha == git(origin, "rev-parse", "HEAD")
    assert info.branch == "main"
    assert not info.dirty and info.changed_paths == ()
    assert info.default_branch_ref == "origin/main"
    assert info.on_default_branch and not info.shallow
    v = verdict(info)
    assert v.allowed and v.status == "clean" and v.problems == ()


def test_image_tag_is_the_commit_time_and_short_sha_and_reproducible(work, origin, tmp_path):
    info = read_git_info(work)
    assert image_tag(info) == f"deploy-20251006-060538-{info.sha[:7]}"
    again = read_git_info(clone(origin, tmp_path / "again"))
    assert image_tag(again) == image_tag(info)


def test_modified_tracked_file_is_refused_with_the_file_and_the_fix(work):
    (work / "app.txt").write_text("v2, not committed\n")
    info = read_git_info(work)
    assert info.dirty and info.changed_paths == ("app.txt",)
    assert image_tag(info).startswith(f"deploy-20251006-060538-{info.sha[:7]}-dirty-")
    v = verdict(info)
    assert not v.allowed and v.status == "refused"
    message = v.message()
    assert "refusing to deploy to stack 'prod' (nothing was changed)" in message
    assert "uncommitted changes: app.txt" in message
    assert "commit the changes" in message
    assert f"pulumi config set {OVERRIDE_KEY} true" in message


def test_untracked_file_counts_as_dirty(work):
    (work / "notes.txt").write_text("would end up in the build context\n")
    info = read_git_info(work)
    assert info.dirty and info.changed_paths == ("notes.txt",)
    assert not verdict(info).allowed


def test_an_untracked_file_gets_a_stash_hint_that_stashes_it(work):
    """A plain `git stash` leaves untracked files behind: the tree would stay dirty."""
    (work / "adopt.json").write_text("{}")
    info = read_git_info(work)
    assert info.untracked_paths == ("adopt.json",)
    assert "(or git stash --include-untracked them)" in verdict(info).message()


def test_tracked_changes_alone_keep_the_plain_stash_hint(work):
    (work / "app.txt").write_text("v2, not committed\n")
    info = read_git_info(work)
    assert info.untracked_paths == ()
    message = verdict(info).message()
    assert "(or git stash them)" in message and "--include-untracked" not in message


def test_writing_a_file_dirties_the_tree_unless_outside_it_or_ignored(work, tmp_path):
    assert gitinfo.dirties_work_tree(work, work / "adopt.json") == work.resolve()
    assert gitinfo.dirties_work_tree(work, work / "sub" / "x.json") == work.resolve()
    assert gitinfo.dirties_work_tree(work, tmp_path / "adopt.json") is None
    assert gitinfo.dirties_work_tree(work, work / ".venv" / "adopt.json") is None  # ignored
    assert gitinfo.dirties_work_tree(tmp_path / "nowhere", tmp_path / "x.json") is None


def test_ignored_files_do_not_count(work):
    (work / ".venv").mkdir()
    (work / ".venv" / "python").write_text("x")
    (work / "gha-creds-0a1b2c.json").write_text("{}")
    info = read_git_info(work)
    assert not info.dirty
    assert verdict(info).allowed


def test_dirty_digest_follows_the_changes(work):
    (work / "app.txt").write_text("change one\n")
    first = read_git_info(work).changes_digest
    (work / "app.txt").write_text("change two\n")
    second = read_git_info(work).changes_digest
    assert first and second and first != second


def test_many_changes_are_summarised(work):
    for i in range(8):
        (work / f"f{i}.txt").write_text("x")
    message = verdict(read_git_info(work)).message()
    assert "and 3 more" in message


def test_commit_on_a_feature_branch_is_refused(work):
    git(work, "switch", "-q", "-c", "feature")
    sha = commit(work, "app.txt", "v2\n", "not merged yet")
    info = read_git_info(work)
    assert info.branch == "feature" and not info.dirty
    assert not info.on_default_branch
    v = verdict(info)
    assert not v.allowed
    assert f"commit {sha[:7]} is not on origin/main" in v.message()
    assert "merge it into main through a pull request" in v.message()


def test_local_commit_on_main_not_pushed_is_refused(work):
    """Local main is ahead of origin/main: the commit was never reviewed or pushed."""
    commit(work, "app.txt", "v2\n", "committed locally only")
    info = read_git_info(work)
    assert info.branch == "main" and not info.on_default_branch
    assert not verdict(info).allowed


def test_merged_commit_is_deployable_after_fetch(work, origin):
    git(work, "switch", "-q", "-c", "feature")
    commit(work, "app.txt", "v2\n", "feature work")
    assert not read_git_info(work).on_default_branch
    # The PR is merged upstream (fast-forward), and the clone fetches.
    git(origin, "fetch", "-q", str(work), "feature:feature")
    git(origin, "merge", "-q", "--ff-only", "feature")
    git(work, "fetch", "-q", "origin")
    assert read_git_info(work).on_default_branch


def test_detached_head_in_ci_is_checked_against_origin(work):
    git(work, "checkout", "-q", "--detach", "origin/main")
    info = read_git_info(work)
    assert info.branch is None
    assert info.on_default_branch
    assert verdict(info).allowed


def test_shallow_clone_of_main_passes(origin, tmp_path):
    """actions/checkout's default depth 1 on a push to main: HEAD is origin/main itself."""
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1")
    info = read_git_info(shallow)
    assert info.shallow and info.on_default_branch
    assert verdict(info).allowed


def test_shallow_clone_of_a_branch_says_how_to_fetch_history(origin, tmp_path):
    git(origin, "switch", "-q", "-c", "feature")
    commit(origin, "app.txt", "v2\n", "feature work")
    git(origin, "switch", "-q", "main")
    commit(origin, "other.txt", "main moved on\n", "main moves")
    shallow = clone(
        origin, tmp_path / "shallow", "--depth", "1", "--no-single-branch", "-b", "feature"
    )
    info = read_git_info(shallow)
    assert info.shallow and info.default_branch_ref == "origin/main"
    assert not info.on_default_branch
    message = verdict(info).message()
    assert "this clone is shallow" in message
    assert "git fetch --unshallow origin" in message and "fetch-depth: 0" in message


def test_clone_without_the_default_branch_says_to_fetch_it(origin, tmp_path):
    git(origin, "switch", "-q", "-c", "feature")
    commit(origin, "app.txt", "v2\n", "feature work")
    single = clone(origin, tmp_path / "single", "--single-branch", "-b", "feature")
    info = read_git_info(single)
    assert info.default_branch_ref is None and not info.on_default_branch
    message = verdict(info).message()
    assert "no branch 'main' (neither origin/main nor main)" in message
    assert "git fetch origin main" in message


def test_repository_without_a_remote_checks_the_local_branch(origin):
    info = read_git_info(origin)
    assert info.default_branch_ref == "main" and info.on_default_branch


def test_default_branch_is_a_setting(origin, tmp_path):
    git(origin, "switch", "-q", "-c", "release")
    commit(origin, "app.txt", "release\n", "release branch")
    work = clone(origin, tmp_path / "work", "-b", "release")
    on_release = read_git_info(work, "release")
    assert on_release.default_branch_ref == "origin/release" and on_release.on_default_branch
    assert verdict(on_release, default_branch="release").allowed
    on_main = read_git_info(work, "main")
    assert not on_main.on_default_branch
    assert "is not on origin/main" in verdict(on_main).message()


def test_not_a_git_repository(tmp_path):
    plain = tmp_path / "tarball"
    plain.mkdir()
    assert read_git_info(plain) is None
    reason = git_failure(plain)
    assert "not a git repository" in reason
    v = verdict(None, git_failure=reason)
    assert not v.allowed
    assert "not a readable git work tree (git rev-parse: fatal: not a git repository" in v.message()
    assert "deploy from a git clone" in v.message()
    assert image_tag(None) == "deploy-untracked"


# --- the override and the stacks it applies to -------------------------------------------------


def test_override_lets_a_dirty_deploy_through_and_is_recorded(work):
    (work / "app.txt").write_text("hotfix\n")
    info = read_git_info(work)
    v = verdict(info, allow=True)
    assert v.allowed and v.overridden and v.status == "overridden"
    record = v.record()
    assert record["gate"] == "overridden"
    assert record["allowDirtyDeploy"] is True
    assert record["dirty"] is True and record["commit"] == info.sha
    assert record["problems"] == ["the working tree has uncommitted changes: app.txt"]
    assert "overridden by emergence-cloudrun:allowDirtyDeploy=true" in v.message()


def test_override_on_a_clean_tree_changes_nothing(work):
    v = verdict(read_git_info(work), allow=True)
    assert v.allowed and not v.overridden and v.status == "clean"
    assert v.record()["allowDirtyDeploy"] is True  # the setting is still visible


def test_other_stacks_are_not_gated(work):
    (work / "app.txt").write_text("experiment\n")
    v = verdict(read_git_info(work), stack="dev")
    assert v.allowed and v.status == "not-applied" and not v.overridden
    assert v.problems  # still reported in the record
    assert v.record()["gate"] == "not-applied"


# --- enforcing: `up` raises, preview announces ------------------------------------------------


class Log:
    """Stands in for pulumi.log: records (level, message)."""

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def info(self, message):
        self.lines.append(("info", message))

    def warn(self, message):
        self.lines.append(("warning", message))


def test_up_raises_and_preview_warns(work):
    (work / "app.txt").write_text("dirty\n")
    v = verdict(read_git_info(work))
    log = Log()
    with pytest.raises(DeployRefused, match=r"uncommitted changes: app\.txt"):
        enforce(v, dry_run=False, log=log)
    assert log.lines == []
    enforce(v, dry_run=True, log=log)  # no exception: a preview changes nothing
    [(level, message)] = log.lines
    assert level == "warning"
    assert message.startswith("`pulumi up` from this checkout would be refused for stack 'prod'")
    assert "uncommitted changes: app.txt" in message


def test_preview_of_a_pull_request_merge_commit_is_informational():
    """A PR preview runs on a merge commit not on main yet: said, not shouted."""
    info = dataclasses.replace(_clean_info(), sha="feed" * 10, on_default_branch=False, branch=None)
    log = Log()
    enforce(verdict(info), dry_run=True, log=log)
    [(level, message)] = log.lines
    assert level == "info"
    assert "commit feedfee is not on origin/main" in message


def test_override_warns_on_up():
    info = dataclasses.replace(_clean_info(), dirty=True, changed_paths=("x.py",))
    log = Log()
    enforce(verdict(info, allow=True), dry_run=False, log=log)
    [(level, message)] = log.lines
    assert level == "warning" and "overridden" in message and "x.py" in message


def test_clean_checkout_says_nothing():
    log = Log()
    enforce(verdict(_clean_info()), dry_run=False, log=log)
    enforce(verdict(_clean_info()), dry_run=True, log=log)
    assert log.lines == []


def test_assumed_git_state_replaces_the_repository_only_inside_the_block(work):
    fake = dataclasses.replace(_clean_info(), sha="a" * 40)
    with gitinfo.assumed(fake):
        assert read_git_info(work) is fake
        with gitinfo.assumed(None, failure="no git here"):
            assert read_git_info(work) is None
            assert git_failure(work) == "no git here"
        assert read_git_info(work) is fake
    assert read_git_info(work).sha == git(work, "rev-parse", "HEAD")


def _clean_info():
    from infra.mockrun import MOCK_GIT

    return MOCK_GIT
