"""The rollback pre-check: before any resource changes, the pinned revision must be usable.

When `emergence-cloudrun:rollbackRevision` is set, the service component routes 100% of traffic
to it (TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION). `__main__.py` calls `check_rollback_target()`
right after loading the settings, so a typo, a pruned revision, a failed one or one of another
service stops `pulumi preview`/`pulumi up` with one clear error, before anything is registered.
It asks the Cloud Run Admin API (through `infra.google.client`; `CLOUD_RUN_API_ENDPOINT` overrides):
the revision must exist, belong to this service and have its Ready condition succeeded.

This module does the I/O; `verdict()` in infra/rules/rollback.py decides (revision JSON in,
problem or None out). The retention resource never prunes the pinned revision (see
infra/rules/retention.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi

from infra.config import KEYS_BY_NAME, Settings
from infra.google import client as gcp_api
from infra.google.client import GcpApiError, GoogleApiClient
from infra.google.cloud_run import CloudRunRevisions, RevisionsApiError, ServiceRef
from infra.rules.retention import READY, revision_from_api, short_name
from infra.rules.rollback import verdict

KEY = KEYS_BY_NAME["rollbackRevision"].full


class RollbackError(pulumi.RunError):
    """The rollback target cannot be used; Pulumi prints this without a traceback."""


@dataclass(frozen=True)
class RollbackTarget:
    revision: str
    image: str
    digest: str
    create_time: str


def fix_hint(stack: str) -> str:
    return (
        f"Fix: pick a Ready revision from `python -m infra revisions --stack {stack}` and run "
        f"`pulumi config set --stack {stack} {KEY} <revision>`, or roll forward with "
        f"`pulumi config rm --stack {stack} {KEY}`"
    )


def check_rollback_target(
    settings: Settings,
    *,
    client_factory: Callable[[], GoogleApiClient] | None = None,
) -> RollbackTarget | None:
    """None when no rollback is set; the target when it is usable; else raise RollbackError."""
    wanted = short_name(settings.rollback_revision or "")
    if not wanted:
        return None
    ref = ServiceRef(settings.project, settings.region, settings.service.name)
    factory = client_factory or gcp_api.cloud_run_client
    try:
        with factory() as client:
            api = CloudRunRevisions(client, ref)
            revision = api.get_revision(wanted)
            problem = verdict(revision, ref.service, wanted)
            if problem is not None:
                problem += _available(api)
    except (RevisionsApiError, GcpApiError) as err:
        raise RollbackError(
            f"{KEY}={wanted}: could not check the revision through the Cloud Run Admin API "
            f"(nothing was changed): {gcp_api.describe(err)}"
        ) from None
    if problem is not None:
        raise RollbackError(
            f"{KEY}={wanted}: {problem} (nothing was changed). {fix_hint(settings.stack)}"
        )
    parsed = revision_from_api(revision or {})
    return RollbackTarget(
        wanted, parsed.image, parsed.digest, str((revision or {}).get("createTime") or "")
    )


def _available(api: CloudRunRevisions) -> str:
    """A hint listing the service's Ready revisions (best effort, never raises)."""
    try:
        revisions = [revision_from_api(r) for r in api.list_revisions()]
    except GcpApiError:
        return ""
    ready = [r.name for r in revisions if r.state == READY][:5]
    if not ready:
        return "; the service has no Ready revision"
    return "; Ready revisions: " + ", ".join(ready)
