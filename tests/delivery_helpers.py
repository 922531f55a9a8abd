"""Real, throw-away git repositories for the clean-tree gate's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

GIT = shutil.which("git") or "git"
COMMIT_DATE = "2025-10-06T06:05:38+00:00"


def git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_AUTHOR_DATE=COMMIT_DATE,
        GIT_COMMITTER_DATE=COMMIT_DATE,
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(repo.parent),  # no user config leaks in
    )
    proc = subprocess.run(
        [GIT, "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def upstream(tmp_path: Path) -> Path:
    """The team's repository: main with two commits and a .gitignore."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".gitignore", ".venv/\ngha-creds-*.json\n", "ignore local files")
    commit(repo, "app.txt", "v1\n", "first")
    return repo


def clone(source: Path, dest: Path, *args: str) -> Path:
    git(source.parent, "clone", "-q", *args, f"file://{source}", str(dest))
    return dest
