"""What commit is being deployed: sha, commit time, whether the tree is dirty.

The image tag is derived from the commit (`deploy-<commit time UTC>-<short sha>`), so the same
commit always gives the same tag, and a tag in Artifact Registry leads back to its commit.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    sha: str
    commit_time: datetime  # UTC
    dirty: bool
    branch: str | None  # None on a detached HEAD (CI checkouts)
    changes_digest: str = ""  # short hash of the uncommitted changes, "" when clean

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return proc.stdout


def read_git_info(repo: Path) -> GitInfo | None:
    """The checkout's commit and state, or None when `repo` is not in a git work tree."""
    try:
        sha = _git(repo, "rev-parse", "HEAD").strip()
        epoch = int(_git(repo, "show", "-s", "--format=%ct", "HEAD").strip())
        status = _git(repo, "status", "--porcelain", "--untracked-files=normal")
        branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError):
        return None
    digest = ""
    if status.strip():
        diff = _git(repo, "diff", "HEAD", "--binary")
        digest = hashlib.sha256((status + diff).encode()).hexdigest()[:8]
    return GitInfo(
        sha=sha,
        commit_time=datetime.fromtimestamp(epoch, tz=UTC),
        dirty=bool(status.strip()),
        branch=None if branch == "HEAD" else branch,
        changes_digest=digest,
    )


def image_tag(info: GitInfo | None) -> str:
    """`deploy-20251006-060538-1a2b3c4`; `-dirty-<hash>` for uncommitted changes."""
    if info is None:
        return "deploy-untracked"
    tag = f"deploy-{info.commit_time:%Y%m%d-%H%M%S}-{info.short_sha}"
    if info.dirty:
        tag += f"-dirty-{info.changes_digest}"
    return tag
