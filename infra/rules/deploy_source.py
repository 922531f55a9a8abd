"""Which commit is deployed, and whether the clean-tree gate lets it go to the stack (no I/O).

The image tag is derived from the commit (`deploy-<commit time UTC>-<short sha>`), so the same
commit always gives the same tag, and a tag in Artifact Registry leads back to its commit. When
the app's source is its own checkout (`buildContext` outside this repository, e.g.
`../emergencev8`), the tag names the app's commit first and this repository's after it
(`deploy-<app commit time>-<app sha>-infra-<sha>`): the image is made of both, the app's code
and this repository's Dockerfile and build settings.

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
class AppSource:
    """The app's source, as the program found it (paths as strings: decisions do no I/O)."""

    context: str  # absolute path of the build context
    setting: str  # buildContext as written in the stack
    exists: bool
    own_checkout: bool  # outside this repository: its own commit names the image
    git: GitInfo | None = None  # its checkout, when own_checkout and it is a git work tree
    failure: str = ""  # why git is None
    default_branch: str = "main"


def missing_source_message(source: AppSource) -> str:
    """One line: the build context is not there, and how to get it."""
    return (
        f"emergence-cloudrun:buildContext {source.setting} ({source.context}) is not a "
        "directory, so there is no app source to build. Fix: check out the app there (for "
        "emergence-app: git clone https://github.com/DrKz36/emergencev8 "
        f"{source.context}), or pulumi config set emergence-cloudrun:buildContext <path of "
        "the app's checkout, relative to Pulumi.yaml>"
    )


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


def _commit_part(info: GitInfo) -> str:
    part = f"{info.commit_time:%Y%m%d-%H%M%S}-{info.short_sha}"
    return part + (f"-dirty-{info.changes_digest}" if info.dirty else "")


def image_tag(info: GitInfo | None, source: AppSource | None = None) -> str:
    """`deploy-20251006-060538-1a2b3c4`; `-dirty-<hash>` for uncommitted changes. With the
    app's own checkout: `deploy-20251012-174843-e7b0d75-infra-1a2b3c4` (app first)."""
    infra = _commit_part(info) if info else "untracked"
    if source is None or not source.own_checkout:
        return f"deploy-{infra}"
    if source.git:
        app = _commit_part(source.git)
    else:
        app = "app-untracked" if source.exists else "app-missing"
    infra_short = infra if info is None else infra.split("-", 2)[2]
    return f"deploy-{app}-infra-{infra_short}"


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
    app: AppSource | None = field(repr=False, default=None)

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
            "app": _app_record(self.app),
        }


def _app_record(app: AppSource | None) -> dict[str, object] | None:
    """The app's commit, when the app is built from its own checkout (None: from this repo)."""
    if app is None or not app.own_checkout:
        return None
    info = app.git
    return {
        "source": app.setting,
        "commit": info.sha if info else None,
        "branch": info.branch if info else None,
        "dirty": info.dirty if info else None,
        "onDefaultBranch": info.on_default_branch if info else None,
        "checkedAgainst": info.default_branch_ref if info else None,
    }


def check_deploy_source(
    info: GitInfo | None,
    *,
    stack: str,
    allow_dirty_deploy: bool,
    default_branch: str = "main",
    git_failure: str = "",
    app: AppSource | None = None,
) -> GateVerdict:
    """The gate's decision. `info` None: not a git work tree (`git_failure` says why). With
    `app` from its own checkout, that checkout must be clean and on its default branch too."""
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
    if app is not None and app.own_checkout and app.exists:
        _app_problems(app, problems, fixes)
    applies = stack in PROTECTED_STACKS
    return GateVerdict(
        stack=stack,
        applies=applies,
        problems=tuple(problems),
        fixes=tuple(fixes),
        overridden=bool(applies and problems and allow_dirty_deploy),
        allow_dirty_deploy=allow_dirty_deploy,
        info=info,
        app=app,
    )


def _app_problems(app: AppSource, problems: list[str], fixes: list[str]) -> None:
    where = f"the app's checkout {app.setting}"
    info = app.git
    if info is None:
        reason = f" ({app.failure})" if app.failure else ""
        problems.append(
            f"{where} is not a readable git work tree{reason}: the deployed app commit cannot "
            "be traced"
        )
        fixes.append(f"check the app out with git (git clone <app repository> {app.setting})")
        return
    if info.dirty:
        shown = ", ".join(info.changed_paths[:_SHOWN_PATHS])
        more = len(info.changed_paths) - _SHOWN_PATHS
        if more > 0:
            shown += f" and {more} more"
        problems.append(f"{where} has uncommitted changes: {shown}")
        fixes.append(
            f"commit and push them to the app's {app.default_branch} (or git -C {app.setting} "
            "stash them), then deploy again"
        )
    if info.default_branch_ref is None:
        problems.append(
            f"app commit {info.short_sha} cannot be checked: no branch "
            f"'{app.default_branch}' (neither origin/{app.default_branch} nor "
            f"{app.default_branch}) in {app.setting}"
        )
        fixes.append(f"git -C {app.setting} fetch origin {app.default_branch}")
    elif not info.on_default_branch:
        problems.append(
            f"app commit {info.short_sha} is not on {info.default_branch_ref} of "
            f"{app.setting}: unpushed or unmerged app changes are not deployed"
        )
        fixes.append(
            f"push it and merge it into the app's {app.default_branch} (or: git -C "
            f"{app.setting} fetch origin {app.default_branch}, if it is merged already)"
        )
        if info.shallow:
            problems.append(f"{app.setting} is a shallow clone; its history may not reach it")
            fixes.append(
                f"git -C {app.setting} fetch --unshallow origin (in GitHub Actions: "
                "actions/checkout with fetch-depth: 0)"
            )
