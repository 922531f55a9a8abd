"""Reading resource properties the way pulumi-policy hands them to a validator.

Validators receive camelCase properties wrapped in pulumi-policy's unknown-checking proxy:
reading a value that is not known yet (an output during `pulumi preview`) raises
`UnknownValueError`. The helpers here never raise anything else on odd shapes (a string where a
list was expected reads as absent), and `Unknowns` lets a validator judge every known value
before letting the engine report the rest as "can't run during preview" (advisory).
Numbers arrive as floats (the engine sends a protobuf Struct), secrets as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)

Key = str | int


class Unknowns:
    """Defers unknown values: `with unknowns:` around the judgement of one item.

    An `UnknownValueError` inside the block is remembered and swallowed, so the validator goes on
    with the next item; `raise_first()` at the end re-raises the first one, which pulumi-policy
    turns into an advisory "can't run policy ... during preview" note. An unknown value is thus
    never a violation, and never hides a violation among the known values.
    """

    def __init__(self) -> None:
        self.first: UnknownValueError | None = None

    def __enter__(self) -> Unknowns:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if isinstance(exc, UnknownValueError):
            if self.first is None:
                self.first = exc
            return True
        return False

    def raise_first(self) -> None:
        if self.first is not None:
            raise self.first


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWN_SENTINELS


def is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def has_key(mapping: Any, key: str) -> bool:
    """`key in mapping` without reading the value (the proxy's `in` reads it, and may raise)."""
    return is_mapping(mapping) and any(k == key for k in iter(mapping))


def get(obj: Any, *path: Key) -> Any:
    """The value at `path`, or None when a key is missing or a step is not a container.

    Raises `UnknownValueError` when a value on the path is unknown, with or without the proxy.
    """
    current = obj
    walked: list[str] = []
    for key in path:
        if isinstance(key, int):
            if not is_list(current) or not 0 <= key < len(current):
                return None
        elif not has_key(current, key):
            return None
        current = current[key]
        walked.append(str(key))
        if is_unknown(current):
            raise UnknownValueError(current, walked)
    return current


def present(mapping: Any, key: str) -> bool:
    """True when `key` holds a value: anything but None, including a value not known yet."""
    if not has_key(mapping, key):
        return False
    try:
        return mapping[key] is not None
    except UnknownValueError:
        return True


def length(obj: Any, *path: Key) -> int:
    """How many elements the list at `path` has; 0 when it is absent or not a list.

    Read each element with `get(obj, *path, index)` inside `with unknowns:` so that one unknown
    element does not stop the judgement of the others.
    """
    value = get(obj, *path)
    return len(value) if is_list(value) else 0


def text(obj: Any, *path: Key) -> str | None:
    value = get(obj, *path)
    return value if isinstance(value, str) else None


def whole_number(value: Any) -> int | None:
    """An integer given as int or integral float (the engine sends floats); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def stack_of(urn: str) -> str:
    """The stack name in `urn:pulumi:<stack>::<project>::<type>::<name>` ("" if malformed)."""
    prefix = "urn:pulumi:"
    if not urn.startswith(prefix):
        return ""
    return urn[len(prefix) :].split("::", 1)[0]
