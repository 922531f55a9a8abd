"""What the Python dynamic providers (infra/providers/deployment_check.py,
infra/providers/retention.py) share.

During `pulumi preview` an input that depends on an output not created yet (the new revision,
the image digest) reaches a provider as the engine's unknown sentinel (`rpc.UNKNOWN`), and
inside the program as `pulumi.output.Unknown`. `diff` must treat such an input as changed, and
`check` must not judge it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
from pulumi.runtime import rpc


def is_unknown(value: Any) -> bool:
    """True when `value` itself is not known yet (a preview's output)."""
    return isinstance(value, pulumi.output.Unknown) or (
        isinstance(value, str) and value == rpc.UNKNOWN
    )


def contains_unknown(value: Any) -> bool:
    """True when `value`, or anything inside it (lists, mappings), is not known yet."""
    if is_unknown(value):
        return True
    if isinstance(value, Mapping):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


def changed_inputs(
    olds: Mapping[str, Any], news: Mapping[str, Any], keys: Iterable[str]
) -> list[str]:
    """The `keys` whose new value differs from the old one, or is not known yet.

    An absent input and an empty string compare equal (a stored state may lack a key the
    program now sends as ""); numbers compare by value (the engine sends 3 as 3.0).
    """
    return [
        key
        for key in keys
        if contains_unknown(news.get(key))
        or _comparable(olds.get(key)) != _comparable(news.get(key))
    ]


def _comparable(value: Any) -> Any:
    return "" if value is None else value
