"""Reading the git checkout that is deployed, and the clean-tree gate's refusal inside the program.

I/O only (git, and `pulumi.log`/`pulumi.RunError` for the verdict): what the checkout's state
means is decided in infra/rules/deploy_source.py (`check_deploy_source`, `image_tag`).

CI: GitHub Actions checks out a detached HEAD, so "on the default branch" means "an ancestor of
`origin/<branch>`" (falling back to the local branch only when there is no such remote-tracking
branch); a shallow clone may lack the history to prove it, and the message then says how to
fetch it (actions/checkout `fetch-depth: 0`).
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi

from infra.rules.deploy_source import GateVerdict, GitInfo


class GitError(Exception):
    """git failed: not a work tree, git missing, or a repository git refuses to read."""


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git could not run: {exc}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise GitError(f"git {args[0]}: {detail}")
    return proc


def _default_branch_ref(repo: Path, branch: str) -> str | None:
    candidates = (
        (f"refs/remotes/origin/{branch}", f"origin/{branch}"),
        (f"refs/heads/{branch}", branch),
    )
    for ref, name in candidates:
        if _git(repo, "rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0:
            return name
    return None


def inspect_repo(repo: Path, default_branch: str = "main") -> GitInfo:
    """The checkout's commit and state; raises GitError when it cannot be read."""
    sha = _git(repo, "rev-parse", "--verify", "HEAD").stdout.strip()
    epoch = int(_git(repo, "show", "-s", "--format=%ct", "HEAD").stdout.strip())
    status = _git(repo, "status", "--porcelain", "--untracked-files=normal").stdout
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    shallow = _git(repo, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    paths = tuple(line[3:] for line in status.splitlines() if line.strip())
    untracked = tuple(line[3:] for line in status.splitlines() if line.startswith("?? "))
    digest = ""
    if paths:
        diff = _git(repo, "diff", "HEAD", "--binary").stdout
        digest = hashlib.sha256((status + diff).encode()).hexdigest()[:8]
    ref = _default_branch_ref(repo, default_branch)
    on_branch = (
        ref is not None
        and _git(repo, "merge-base", "--is-ancestor", "HEAD", ref, check=False).returncode == 0
    )
    return GitInfo(
        sha=sha,
        commit_time=datetime.fromtimestamp(epoch, tz=UTC),
        dirty=bool(paths),
        branch=None if branch == "HEAD" else branch,
        changes_digest=digest,
        changed_paths=paths,
        untracked_paths=untracked,
        default_branch=default_branch,
        default_branch_ref=ref,
        on_default_branch=on_branch,
        shallow=shallow,
    )


def read_git_info(repo: Path, default_branch: str = "main") -> GitInfo | None:
    """The checkout's commit and state, or None when `repo` is not a readable git work tree."""
    if _ASSUMED.active:
        return _ASSUMED.info
    try:
        return inspect_repo(repo, default_branch)
    except (GitError, ValueError):
        return None


def git_failure(repo: Path) -> str:
    """Why `read_git_info(repo)` returned None, in one line (for the refusal message)."""
    if _ASSUMED.active:
        return _ASSUMED.failure
    try:
        _git(repo, "rev-parse", "--verify", "HEAD")
    except GitError as exc:
        return str(exc)
    return "git could not describe the checkout"


class _Assumption:
    """What the program sees instead of the repository, while `assumed()` is active."""

    active = False
    info: GitInfo | None = None
    failure = ""


# The mock engine (infra/mockrun.py) stands in a known commit for the program's git state, as it
# stands in providers for the cloud, so evaluations are the same on any checkout. In-process
# only: nothing outside Python code can set it, so a real `pulumi up` always reads git.
_ASSUMED = _Assumption()


@contextlib.contextmanager
def assumed(info: GitInfo | None, failure: str = "not a git repository") -> Iterator[None]:
    """Within the block, `read_git_info` returns `info` (and `git_failure` returns `failure`)."""
    saved = (_ASSUMED.active, _ASSUMED.info, _ASSUMED.failure)
    _ASSUMED.active, _ASSUMED.info, _ASSUMED.failure = True, info, failure
    try:
        yield
    finally:
        _ASSUMED.active, _ASSUMED.info, _ASSUMED.failure = saved


class DeployRefused(pulumi.RunError):
    """The gate refused `pulumi up`. A RunError: Pulumi prints the message, no traceback."""


def enforce(verdict: GateVerdict, *, dry_run: bool, log: Any = pulumi.log) -> None:
    """Refuse `pulumi up` (raise) before any resource is registered; in a preview, warn only.

    A preview changes nothing, and a pull request's preview runs on a merge commit that is not
    on the default branch yet, so there the refusal is announced rather than raised.
    """
    if not verdict.applies or not verdict.problems:
        return
    if verdict.overridden:
        log.warn(verdict.message())
        return
    if not dry_run:
        raise DeployRefused(verdict.message())
    only_branch = verdict.info is not None and not verdict.info.dirty
    (log.info if only_branch else log.warn)(verdict.message(preview=True))


def dirties_work_tree(repo: Path, path: Path) -> Path | None:
    """The work tree of `repo` when writing `path` would add an untracked file to it (the
    clean-tree gate would then refuse prod); None when `path` is outside it, git ignores it,
    or `repo` is not a git work tree."""
    top = _git(repo, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0 or not top.stdout.strip():
        return None
    root = Path(top.stdout.strip()).resolve()
    target = path.resolve()
    if not target.is_relative_to(root):
        return None
    ignored = _git(root, "check-ignore", "-q", "--no-index", str(target), check=False)
    return None if ignored.returncode == 0 else root
