"""Which commit is deployed, and whether the clean-tree gate lets it go to the stack (no I/O).

The image tag is derived from the commit (`deploy-<commit time UTC>-<short sha>`), so the same
commit always gives the same tag, and a tag in Artifact Registry leads back to its commit.

The gate is the manual guide's first checklist item ("check the git tree is clean"), as code:
in a protected stack, `pulumi up` refuses to deploy from a working tree with uncommitted changes
(untracked files included: they would end up in the build context) or from a commit that is not
on the default branch, unless the emergency override `allowDirtyDeploy` is set, which the stack
outputs record. `check_deploy_source` decides from a `GitInfo`; reading git, and refusing inside
the program, is infra/preflight/git.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PROTECTED_STACKS = frozenset({"prod"})
OVERRIDE_KEY = "emergence-cloudrun:allowDirtyDeploy"
_SHOWN_PATHS = 5


@dataclass(frozen=True)
class GitInfo:
    sha: str
    commit_time: datetime  # UTC
    dirty: bool
    branch: str | None  # None on a detached HEAD (CI checkouts)
    changes_digest: str = ""  # short hash of the uncommitted changes, "" when clean
    changed_paths: tuple[str, ...] = ()  # what `git status` lists (tracked and untracked)
    untracked_paths: tuple[str, ...] = ()  # the untracked ones among them
    default_branch: str = "main"
    default_branch_ref: str | None = None  # "origin/main" or "main": what HEAD was checked against
    on_default_branch: bool = False  # HEAD is an ancestor of (or equal to) default_branch_ref
    shallow: bool = False

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


def image_tag(info: GitInfo | None) -> str:
    """`deploy-20251006-060538-1a2b3c4`; `-dirty-<hash>` for uncommitted changes."""
    if info is None:
        return "deploy-untracked"
    tag = f"deploy-{info.commit_time:%Y%m%d-%H%M%S}-{info.short_sha}"
    if info.dirty:
        tag += f"-dirty-{info.changes_digest}"
    return tag


@dataclass(frozen=True)
class GateVerdict:
    """Whether this checkout may be deployed to the stack, and what is wrong with it if not."""

    stack: str
    applies: bool  # the stack is protected
    problems: tuple[str, ...]  # each a sentence naming what is wrong
    fixes: tuple[str, ...]  # each a command or step that fixes it
    overridden: bool  # problems exist, and allowDirtyDeploy lets the deploy go on
    allow_dirty_deploy: bool = False  # the setting, whether or not it was needed
    info: GitInfo | None = field(repr=False, default=None)

    @property
    def allowed(self) -> bool:
        return not self.applies or not self.problems or self.overridden

    @property
    def status(self) -> str:
        if not self.applies:
            return "not-applied"
        if not self.problems:
            return "clean"
        return "overridden" if self.overridden else "refused"

    def message(self, *, preview: bool = False) -> str:
        """The refusal (or override warning), naming what is wrong and the fix."""
        if self.overridden:
            head = (
                f"stack '{self.stack}': the clean-tree gate is overridden by {OVERRIDE_KEY}=true "
                "(recorded in the stack output deploySource)"
            )
        elif preview:
            head = f"`pulumi up` from this checkout would be refused for stack '{self.stack}'"
        else:
            head = f"refusing to deploy to stack '{self.stack}' (nothing was changed)"
        lines = [head + ":", *(f"  - {p}" for p in self.problems)]
        if not self.overridden:
            lines.append("Fix:")
            lines += [f"  - {f}" for f in self.fixes]
            lines.append(
                f"  - emergencies only: pulumi config set {OVERRIDE_KEY} true --stack {self.stack} "
                "(the override is recorded in the stack outputs; unset it afterwards)"
            )
        return "\n".join(lines)

    def record(self) -> dict[str, object]:
        """The stack output `deploySource`: what was deployed and whether the gate was bypassed."""
        info = self.info
        return {
            "commit": info.sha if info else None,
            "branch": info.branch if info else None,
            "dirty": info.dirty if info else None,
            "onDefaultBranch": info.on_default_branch if info else None,
            "checkedAgainst": info.default_branch_ref if info else None,
            "gate": self.status,
            "allowDirtyDeploy": self.allow_dirty_deploy,
            "problems": list(self.problems),
        }


def check_deploy_source(
    info: GitInfo | None,
    *,
    stack: str,
    allow_dirty_deploy: bool,
    default_branch: str = "main",
    git_failure: str = "",
) -> GateVerdict:
    """The gate's decision. `info` None: not a git work tree (`git_failure` says why)."""
    problems: list[str] = []
    fixes: list[str] = []
    if info is None:
        reason = f" ({git_failure})" if git_failure else ""
        problems.append(
            f"the project is not a readable git work tree{reason}: the deployed commit "
            "cannot be traced"
        )
        fixes.append("deploy from a git clone of the repository (git clone, then pulumi up)")
    else:
        if info.dirty:
            shown = ", ".join(info.changed_paths[:_SHOWN_PATHS])
            more = len(info.changed_paths) - _SHOWN_PATHS
            if more > 0:
                shown += f" and {more} more"
            problems.append(f"the working tree has uncommitted changes: {shown}")
            # A plain `git stash` leaves untracked files where they are, so the tree stays dirty.
            stash = "git stash --include-untracked" if info.untracked_paths else "git stash"
            fixes.append(
                "commit the changes and merge them into "
                f"{default_branch} (or {stash} them), then deploy again (see git status)"
            )
        if info.default_branch_ref is None:
            problems.append(
                f"commit {info.short_sha} cannot be checked: no branch '{default_branch}' "
                f"(neither origin/{default_branch} nor {default_branch}) in this clone"
            )
            fixes.append(f"git fetch origin {default_branch}")
        elif not info.on_default_branch:
            problems.append(
                f"commit {info.short_sha} is not on {info.default_branch_ref}: only reviewed "
                "commits of the default branch are deployed"
            )
            fixes.append(
                f"merge it into {default_branch} through a pull request; the deploy workflow "
                f"deploys every push to {default_branch} (or: git fetch origin {default_branch}, "
                "if the branch is merged already)"
            )
            if info.shallow:
                problems.append("this clone is shallow, so its history may not reach the commit")
                fixes.append(
                    "git fetch --unshallow origin (in GitHub Actions: actions/checkout with "
                    "fetch-depth: 0)"
                )
    applies = stack in PROTECTED_STACKS
    return GateVerdict(
        stack=stack,
        applies=applies,
        problems=tuple(problems),
        fixes=tuple(fixes),
        overridden=bool(applies and problems and allow_dirty_deploy),
        allow_dirty_deploy=allow_dirty_deploy,
        info=info,
    )
