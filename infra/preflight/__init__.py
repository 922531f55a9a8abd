"""What the program settles before it declares anything.

In order: the rollback target exists, is Ready and belongs to the service; the checkout may be
deployed to the stack (the clean-tree gate: `pulumi up` is refused here, a preview only warns);
the image tag names the commit; with `adoptExisting`, the import ids of the hand-made
production. Any refusal raises before the first resource is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.config import PROJECT_DIR, Settings
from infra.preflight.git import enforce, git_failure, read_git_info
from infra.preflight.rollback import check_rollback_target
from infra.rules import adoption
from infra.rules.deploy_source import GateVerdict, check_deploy_source, image_tag


@dataclass(frozen=True)
class Preflight:
    tag: str  # deploy-<commit time>-<short sha>
    gate: GateVerdict  # recorded in the stack output deploySource
    imports: adoption.ImportIds  # all None unless adoptExisting


def preflight(settings: Settings, project_dir: Path = PROJECT_DIR) -> Preflight:
    check_rollback_target(settings)
    git = read_git_info(project_dir, settings.default_branch)
    gate = check_deploy_source(
        git,
        stack=settings.stack,
        allow_dirty_deploy=settings.allow_dirty_deploy,
        default_branch=settings.default_branch,
        git_failure="" if git else git_failure(project_dir),
    )
    enforce(gate, dry_run=pulumi.runtime.is_dry_run())
    return Preflight(image_tag(git), gate, adoption.import_ids(settings))
