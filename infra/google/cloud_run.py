"""Cloud Run Admin API v2 calls about one service and its revisions, over the shared client.

Used by the retention resource, `python -m infra revisions` and the rollback pre-check. Errors
that need a human are turned into `RevisionsApiError` messages that name the permission or the
setting to fix; everything else propagates as `gcp_api.ApiError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.google.client import ApiError, GcpApiError, GoogleApiClient
from infra.rules.retention import RetentionPlan, plan_retention, revision_from_api, service_from_api

LIST_PAGE_SIZE = 500

# The permission each call needs, for 403 messages (roles/run.viewer has the read ones,
# roles/run.developer and roles/run.admin also run.revisions.delete).
PERMISSIONS = {
    "get_service": "run.services.get",
    "list_revisions": "run.revisions.list",
    "get_revision": "run.revisions.get",
    "delete_revision": "run.revisions.delete",
}


class RevisionsApiError(GcpApiError):
    """A Cloud Run call failed in a way a person must fix; the message says how."""

    def __init__(self, message: str, cause: ApiError | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def permission_message(err: ApiError, action: str, permission: str) -> str:
    named = err.permission or permission
    return (
        f"Cloud Run refused to {action}: {err.status_code} {err.status} (missing permission "
        f"{named}). Grant it to the identity running Pulumi (roles/run.developer or "
        f"roles/run.admin include it), then run again. Google said: {err.message}"
    )


@dataclass(frozen=True)
class ServiceRef:
    project: str
    location: str
    service: str

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/services/{self.service}"

    def __str__(self) -> str:
        return f"{self.service} ({self.project}, {self.location})"


class CloudRunRevisions:
    """Reads and deletes the revisions of one service."""

    def __init__(self, client: GoogleApiClient, ref: ServiceRef) -> None:
        self.client = client
        self.ref = ref

    def _denied(self, err: ApiError, action: str, key: str) -> RevisionsApiError:
        return RevisionsApiError(permission_message(err, action, PERMISSIONS[key]), err)

    def get_service(self) -> dict[str, Any]:
        try:
            return self.client.get(f"v2/{self.ref.name}")
        except ApiError as err:
            if err.status == "PERMISSION_DENIED":
                raise self._denied(err, f"read service {self.ref}", "get_service") from None
            if err.status == "NOT_FOUND":
                raise RevisionsApiError(
                    f"Cloud Run service {self.ref} does not exist: check "
                    "emergence-cloudrun:serviceName, gcp:project and gcp:region",
                    err,
                ) from None
            raise

    def list_revisions(self, page_size: int = LIST_PAGE_SIZE) -> list[dict[str, Any]]:
        """Every revision of the service (the API lists them newest first)."""
        try:
            return list(
                self.client.paginate(
                    f"v2/{self.ref.name}/revisions", "revisions", page_size=page_size
                )
            )
        except ApiError as err:
            if err.status == "PERMISSION_DENIED":
                raise self._denied(
                    err, f"list the revisions of {self.ref}", "list_revisions"
                ) from None
            raise

    def get_revision(self, revision: str) -> dict[str, Any] | None:
        """The revision, or None when it does not exist."""
        try:
            return self.client.get(f"v2/{self.ref.name}/revisions/{revision}")
        except ApiError as err:
            if err.status == "NOT_FOUND":
                return None
            if err.status == "PERMISSION_DENIED":
                raise self._denied(err, f"read revision {revision}", "get_revision") from None
            raise

    def delete_revision(self, revision: str, timeout: float = 300.0) -> dict[str, Any]:
        """Delete and wait for the operation. ApiError/OperationError/OperationTimeout propagate."""
        operation = self.client.delete(f"v2/{self.ref.name}/revisions/{revision}")
        return self.client.wait_operation(operation, timeout=timeout)


def fetch_plan(
    api: CloudRunRevisions, keep: int, pinned: str = ""
) -> tuple[RetentionPlan, dict[str, Any]]:
    """Read the service and its revisions, and decide (the retention resource and
    `python -m infra revisions` both call this). Returns (plan, service JSON)."""
    service = api.get_service()
    revisions = [revision_from_api(r) for r in api.list_revisions()]
    return plan_retention(revisions, service_from_api(service), keep, pinned), service
