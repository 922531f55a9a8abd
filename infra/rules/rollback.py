"""Whether a revision can be the rollback target (`rollbackRevision`). Pure: API JSON in, verdict
out.

The lookup through the Cloud Run Admin API, and the refusal, are infra/preflight/rollback.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.rules.retention import READY, revision_from_api


def verdict(revision: Mapping[str, Any] | None, service: str, wanted: str) -> str | None:
    """Why `revision` (API JSON, None if it does not exist) cannot be the target, or None."""
    if revision is None:
        return f"revision {wanted} does not exist in service {service}"
    parsed = revision_from_api(revision)
    owner = parsed.service or _service_from_name(str(revision.get("name") or ""))
    if owner and owner != service:
        return f"revision {wanted} belongs to service {owner}, not {service}"
    if parsed.name and parsed.name != wanted:
        return f"the Admin API answered for {parsed.name}, not {wanted}"
    if parsed.state != READY:
        detail = f": {parsed.message.rstrip('.')}" if parsed.message else ""
        state = parsed.ready_state or "no Ready condition"
        return f"revision {wanted} is not Ready (Ready: {state}){detail}"
    return None


def _service_from_name(name: str) -> str:
    parts = name.split("/")
    return parts[parts.index("services") + 1] if "services" in parts[:-1] else ""
