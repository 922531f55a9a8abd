"""What the program settles before it declares anything.

In order: the rollback target exists, is Ready and belongs to the service; the app's source is
there (`buildContext`) and its build context is made from the allow-list; this checkout and the
app's own checkout may be deployed to the stack (the clean-tree gate: `pulumi up` is refused
here, a preview only warns); the image tag names the commits; with `adoptExisting`, the import
ids of the hand-made production. Any refusal raises before the first resource is
registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.config import PROJECT_DIR, Settings
from infra.preflight import source as app_source
from infra.preflight.git import enforce, git_failure, read_git_info
from infra.preflight.rollback import check_rollback_target
from infra.rules import adoption
from infra.rules.deploy_source import (
    AppSource,
    GateVerdict,
    check_deploy_source,
    image_tag,
    missing_source_message,
)


class SourceRefused(pulumi.RunError):
    """The app's source is missing or cannot be staged. A RunError: one line, no traceback."""


@dataclass(frozen=True)
class Preflight:
    tag: str  # deploy-<commit time>-<short sha>[-infra-<sha>]
    gate: GateVerdict  # recorded in the stack output deploySource
    imports: adoption.ImportIds  # all None unless adoptExisting
    context: Path  # the build context to give the image (staged), or the setting's path
    source: AppSource | None = None


def build_context(
    settings: Settings, project_dir: Path = PROJECT_DIR, *, dry_run: bool, log=pulumi.log
) -> tuple[AppSource, Path]:
    """(the source, the staged build context). A missing or unusable source stops `pulumi up`
    (SourceRefused); a preview warns and goes on, so `plan` works without the checkout."""
    found = app_source.read_source(settings.image, project_dir)
    if not found.exists:
        if not dry_run:
            raise SourceRefused(missing_source_message(found))
        log.warn(missing_source_message(found) + " (`pulumi up` stops here)")
        return found, settings.image.context
    try:
        staged = app_source.stage(settings.image, project_dir)
    except app_source.SourceError as exc:
        raise SourceRefused(str(exc)) from None
    return found, staged.context


def preflight(settings: Settings, project_dir: Path = PROJECT_DIR) -> Preflight:
    check_rollback_target(settings)
    dry_run = pulumi.runtime.is_dry_run()
    source, context = build_context(settings, project_dir, dry_run=dry_run)
    git = read_git_info(project_dir, settings.default_branch)
    gate = check_deploy_source(
        git,
        stack=settings.stack,
        allow_dirty_deploy=settings.allow_dirty_deploy,
        default_branch=settings.default_branch,
        git_failure="" if git else git_failure(project_dir),
        app=source,
    )
    enforce(gate, dry_run=dry_run)
    tag = image_tag(git, source)
    return Preflight(tag, gate, adoption.import_ids(settings), context, source)
