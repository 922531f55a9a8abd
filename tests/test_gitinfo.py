"""The image tag names the commit, is the same for the same commit, and flags a dirty tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.gitinfo import image_tag, read_git_info


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": "2025-10-06T06:05:38Z",
        "GIT_COMMITTER_DATE": "2025-10-06T06:05:38Z",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(repo),
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "app.py").write_text("print('hi')\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_commit_gives_a_reproducible_tag(repo: Path):
    sha = git(repo, "rev-parse", "HEAD").strip()
    info = read_git_info(repo)
    assert info is not None and not info.dirty and info.branch == "main"
    assert image_tag(info) == f"deploy-20251006-060538-{sha[:7]}"
    assert image_tag(read_git_info(repo)) == image_tag(info)


def test_uncommitted_change_marks_the_tag_dirty_and_tracks_the_change(repo: Path):
    (repo / "app.py").write_text("print('changed')\n")
    first = image_tag(read_git_info(repo))
    assert "-dirty-" in first
    (repo / "app.py").write_text("print('changed again')\n")
    assert image_tag(read_git_info(repo)) != first


def test_untracked_file_makes_the_tree_dirty(repo: Path):
    (repo / "new.txt").write_text("x")
    assert read_git_info(repo).dirty


def test_detached_head_has_no_branch(repo: Path):
    git(repo, "checkout", "-q", "--detach")
    assert read_git_info(repo).branch is None


def test_not_a_git_repository(tmp_path: Path):
    assert read_git_info(tmp_path) is None
    assert image_tag(None) == "deploy-untracked"
