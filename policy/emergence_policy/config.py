"""The pack's settings, declared with pulumi-policy's config schema.

Pulumi config for a policy pack is per policy: `--policy-pack-config` takes a JSON file keyed by
policy name, e.g. `{"region-allowed": {"allowedRegions": ["europe-west1", "europe-west4"]}}`.
The CLI fills in each schema's `default` and validates the result against the schema before the
pack runs, so a wrong type is refused with a message naming the policy and the property. The
readers below apply the same defaults themselves (a validator called without config still
judges by the guide's rules) and accept the floats the engine sends for integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema

from .props import whole_number

DEFAULT_ALLOWED_REGIONS = ("europe-west1",)
DEFAULT_MAX_REVISIONS = 3
DEFAULT_PUBLIC_ACCESS_ALLOWED = True
DEFAULT_PROTECTED_STACKS = ("prod",)

ALLOWED_REGIONS_SCHEMA = PolicyConfigSchema(
    properties={
        "allowedRegions": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "default": list(DEFAULT_ALLOWED_REGIONS),
            "description": "Google Cloud locations resources may be created in.",
        }
    }
)

MAX_REVISIONS_SCHEMA = PolicyConfigSchema(
    properties={
        "maxRevisions": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MAX_REVISIONS,
            "description": "The most Cloud Run revisions the retention may keep.",
        }
    }
)

PUBLIC_ACCESS_SCHEMA = PolicyConfigSchema(
    properties={
        "publicAccessAllowed": {
            "type": "boolean",
            "default": DEFAULT_PUBLIC_ACCESS_ALLOWED,
            "description": (
                "Whether the Cloud Run service may be invoked without authentication "
                "(allUsers/allAuthenticatedUsers as run.invoker, or invokerIamDisabled). "
                "emergence-app is public by design; set false for a private service."
            ),
        }
    }
)

PROTECTED_STACKS_SCHEMA = PolicyConfigSchema(
    properties={
        "protectedStacks": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": list(DEFAULT_PROTECTED_STACKS),
            "description": "Stacks whose Cloud Run services must have deletion protection on.",
        }
    }
)


def _strings(config: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = config.get(key)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return default


def allowed_regions(config: Mapping[str, Any]) -> tuple[str, ...]:
    return _strings(config, "allowedRegions", DEFAULT_ALLOWED_REGIONS)


def protected_stacks(config: Mapping[str, Any]) -> tuple[str, ...]:
    return _strings(config, "protectedStacks", DEFAULT_PROTECTED_STACKS)


def max_revisions(config: Mapping[str, Any]) -> int:
    value = whole_number(config.get("maxRevisions"))
    return value if value is not None and value >= 1 else DEFAULT_MAX_REVISIONS


def public_access_allowed(config: Mapping[str, Any]) -> bool:
    value = config.get("publicAccessAllowed")
    return value if isinstance(value, bool) else DEFAULT_PUBLIC_ACCESS_ALLOWED
