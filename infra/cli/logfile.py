"""Stream log entries from a file, without ever holding the whole file in memory.

Two layouts are read, detected from the first non-blank byte:

* a JSON array, as `gcloud logging read --format json` prints it (`[`, then indented objects);
* JSON lines (or any sequence of JSON values separated by white space, such as `jq '.[]'`).

The file is read as bytes into a sliding buffer. The fast path finds an element's end from the
layout (the closing brace at the element's indentation in gcloud's array, the end of the line
in JSON lines) and decodes those bytes with msgspec. Whatever that path cannot take (a compact
array, values spread over lines, invalid UTF-8, damage) goes to the standard library's
`JSONDecoder.raw_decode` on a small decoded window, which finds the end itself.

An element that cannot be parsed is yielded as `MalformedEntry` (with its byte offset) and
reading resumes at the next element: the next line that starts a JSON value in JSON lines, the
next object at the array's element indentation in a JSON array, and in a compact array (one
line) the next comma outside brackets and strings, found by a scan that tracks their nesting.
A truncated file ends with one `MalformedEntry`. Undecodable bytes become U+FFFD.

Valid but odd elements never stop the reading: one nested deeper than the decoders recurse is
one `MalformedEntry` ("nested too deeply"); an integer of thousands of digits is read as a float
(Python refuses to convert more than 4,300 digits). After `MAX_GARBAGE_BYTES` without one
readable element (`/dev/zero`, a binary file), reading stops with a last `MalformedEntry`, so
the command ends in bounded time on any input.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

import msgspec

from infra.rules.phase2 import MalformedEntry, parse_json_int

CHUNK_BYTES = 1 << 20
MAX_ENTRY_BYTES = 8 << 20
"""Cloud Logging caps an entry at 256 KB; anything this large is not an entry."""
MAX_GARBAGE_BYTES = 64 << 20
"""Reading stops after this many bytes in a row without a readable element."""

_SEPARATOR = re.compile(rb"[ \t\n\r]*(?:,[ \t\n\r]*)?")
_WS = re.compile(rb"[ \t\n\r]*")
_BOM = b"\xef\xbb\xbf"
_OPEN_ARRAY, _CLOSE_ARRAY, _OPEN_OBJECT = ord("["), ord("]"), ord("{")
_NEAR_END = 64
"""A decode error this close to the end of the data may only mean "read more"."""
_FIRST_WINDOW = 4096
_SCAN_OUTSIDE = re.compile(rb'["{}\[\],]')
_SCAN_INSIDE = re.compile(rb'["\\]')
_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")
_OPENERS = (ord("{"), ord("["))
NESTED_TOO_DEEPLY = "nested too deeply to decode"


def _scan_to_boundary(
    buf: bytes, i: int, depth: int, in_string: bool
) -> tuple[int, int, int, bool]:
    """Scan a (possibly damaged) compact-array element for the comma or `]` that ends it.

    Tracks bracket depth and strings, nothing else, so it finds the boundary of elements the
    decoder refuses. Returns (boundary index or -1, where to go on scanning, depth, in_string).
    """
    end = len(buf)
    while i < end:
        if in_string:
            match = _SCAN_INSIDE.search(buf, i)
            if match is None:
                return -1, end, depth, True
            j = match.start()
            if buf[j] == _BACKSLASH:
                if j + 1 >= end:
                    return -1, j, depth, True  # the escaped byte is in the next chunk
                i = j + 2
                continue
            in_string, i = False, j + 1
            continue
        match = _SCAN_OUTSIDE.search(buf, i)
        if match is None:
            return -1, end, depth, False
        j = match.start()
        byte = buf[j]
        if byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
        elif byte == _COMMA:
            if depth == 0:
                return j, j, depth, False
        elif depth > 0:
            depth -= 1
        elif byte == _CLOSE_ARRAY:
            return j, j, depth, False  # the array ends
        # else: a stray `}` at the top level, part of the damage: skip it
        i = j + 1
    return -1, end, depth, in_string


class _Slow:
    """What the general path found at a position."""

    __slots__ = ("end", "error", "kind", "value")

    def __init__(self, kind: str, value: Any = None, end: int = 0, error: str = "") -> None:
        self.kind = kind  # "value" | "more" (needs more bytes) | "truncated" | "error"
        self.value = value
        self.end = end  # absolute end (value) or error position (error), in bytes
        self.error = error


def _slow_decode(
    buf: bytes, pos: int, raw_decode: Callable[[str], tuple[Any, int]], eof: bool
) -> _Slow:
    """Decode the value at `pos` with the standard library, on a growing decoded window."""
    remaining = len(buf) - pos
    window = _FIRST_WINDOW
    while True:
        size = min(window, remaining)
        text = buf[pos : pos + size].decode("utf-8", "surrogateescape")
        try:
            value, end = raw_decode(text)
        except RecursionError:
            return _Slow("error", end=pos, error=NESTED_TOO_DEEPLY)
        except json.JSONDecodeError as exc:
            incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(text) - (
                _NEAR_END
            )
            if incomplete and size < remaining:
                window *= 8
                continue
            if incomplete and not eof:
                return _Slow("more")
            if incomplete and (
                exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip())
            ):
                return _Slow("truncated")  # the data ends inside the value
            offset = pos + len(text[: exc.pos].encode("utf-8", "surrogateescape"))
            return _Slow("error", end=offset, error=exc.msg)
        if not isinstance(value, dict | list) and len(text) - end < _NEAR_END:
            # A scalar near the end of the data may continue further (`67.5` + `e1`).
            if size < remaining:
                window *= 8
                continue
            if not eof:
                return _Slow("more")
        raw = text[:end]
        length = len(raw.encode("utf-8", "surrogateescape"))
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            # Invalid UTF-8 in the element: decode it again with replacement characters.
            value = json.loads(
                buf[pos : pos + length].decode("utf-8", "replace"), parse_int=parse_json_int
            )
        return _Slow("value", value, pos + length)


def iter_entries(  # noqa: PLR0911, PLR0912, PLR0915 (the hot path: one loop)
    stream: IO[bytes], chunk: int = CHUNK_BYTES
) -> Iterator[object]:
    """Yields each top-level element (usually a dict) or a `MalformedEntry`."""
    raw_decode = json.JSONDecoder(parse_int=parse_json_int).raw_decode
    fast_decode = msgspec.json.Decoder().decode
    fast_errors = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
    separator = _SEPARATOR.match
    read = stream.read
    buf = b""
    pos = 0
    base = 0  # bytes dropped before buf[0]
    eof = False

    def refill(keep_from: int) -> bool:
        nonlocal buf, pos, base, eof
        if eof:
            return False
        data = read(max(chunk, len(buf) - keep_from))
        if not data:
            eof = True
            return False
        base += keep_from
        buf = buf[keep_from:] + data
        pos -= keep_from
        return True

    # The first significant byte decides the layout.
    while True:
        pos = _WS.match(buf, pos).end()
        rest = buf[pos : pos + 3]
        if rest and _BOM.startswith(rest) and (len(rest) == 3 or not eof):
            if len(rest) == 3:
                pos += 3
                continue
        elif pos < len(buf):
            break
        if not refill(pos):
            return
    array_mode = buf[pos] == _OPEN_ARRAY
    if array_mode:
        pos += 1
    indent: int | None = None  # element indentation in an array; -1: compact (one line)
    closer = b"\n"  # what ends an element on the fast path (JSON lines: the end of the line)
    end_of_data = len(buf)
    garbage_from: int | None = None  # where the current run of unreadable bytes began

    while True:
        pos = separator(buf, pos).end()
        if pos >= end_of_data:
            if not refill(pos):
                if array_mode:
                    yield MalformedEntry("truncated: the JSON array is not closed", base + pos)
                return
            end_of_data = len(buf)
            continue
        if array_mode:
            if buf[pos] == _CLOSE_ARRAY:
                # Several exports concatenated (`cat a.json b.json`): the next array continues.
                pos += 1
                while True:
                    pos = _WS.match(buf, pos).end()
                    if pos < len(buf) or not refill(pos):
                        break
                end_of_data = len(buf)
                if pos >= end_of_data:
                    return
                if buf[pos] != _OPEN_ARRAY:
                    yield MalformedEntry("unexpected content after the JSON array", base + pos)
                    return
                pos += 1
                indent = None
                continue
            if indent is None:
                line_start = buf.rfind(b"\n", 0, pos)
                indent = -1 if line_start < 0 else pos - line_start - 1
                closer = b"\n" + b" " * indent + b"}" if indent >= 0 else b""

        # Fast path: the layout says where the element ends.
        if closer and buf[pos] == _OPEN_OBJECT:
            stop = buf.find(closer, pos)
            if stop < 0 and not eof and end_of_data - pos <= MAX_ENTRY_BYTES:
                refill(pos)
                end_of_data = len(buf)
                continue
            if stop >= 0:
                if array_mode:
                    stop += len(closer)
                try:
                    value = fast_decode(buf[pos:stop])
                except fast_errors:
                    pass  # not this layout after all: the general path decides
                else:
                    pos = stop
                    garbage_from = None
                    yield value
                    continue

        # General path.
        element_start = pos
        found = _slow_decode(buf, pos, raw_decode, eof)
        if found.kind == "value":
            pos = found.end
            garbage_from = None
            yield found.value
            continue
        if found.kind == "more":
            if end_of_data - pos <= MAX_ENTRY_BYTES:
                refill(pos)
                end_of_data = len(buf)
                continue
            yield MalformedEntry("entry larger than 8 MiB", base + pos)
            pos += 1
        elif found.kind == "truncated":
            yield MalformedEntry("truncated entry at end of file", base + pos)
            return
        else:
            yield MalformedEntry(f"invalid JSON: {found.error}", base + found.end)
            pos = max(pos + 1, found.end)
        if garbage_from is None:
            garbage_from = base + element_start

        # Resume at the next element after a malformed one.
        if array_mode and (indent is None or indent < 0):
            # A compact array on one line: the comma that ends the damaged element, found by
            # tracking brackets and strings from the element's start.
            pos, depth, in_string = element_start, 0, False
            while True:
                boundary, pos, depth, in_string = _scan_to_boundary(buf, pos, depth, in_string)
                if boundary >= 0:
                    pos = boundary
                    break
                if base + pos - garbage_from > MAX_GARBAGE_BYTES:
                    yield _gave_up(base + pos)
                    return
                if not refill(pos):
                    yield MalformedEntry("truncated: the JSON array is not closed", base + pos)
                    return
            end_of_data = len(buf)
            continue
        resume = re.compile(rb"\n" + (b" " * indent if array_mode else b"") + rb"(?=[{\[])")
        while True:
            match = resume.search(buf, pos)
            if match:
                pos = match.end()
                break
            pos = max(pos, end_of_data - (indent if array_mode else 0) - 1)
            if base + pos - garbage_from > MAX_GARBAGE_BYTES:
                yield _gave_up(base + pos)
                return
            if not refill(pos):
                return
            end_of_data = len(buf)
        if base + pos - garbage_from > MAX_GARBAGE_BYTES:
            yield _gave_up(base + pos)
            return


def _gave_up(offset: int) -> MalformedEntry:
    return MalformedEntry(
        f"no readable entry in {MAX_GARBAGE_BYTES >> 20} MiB: stopped reading (not a log export?)",
        offset,
    )


def open_export(path: str) -> IO[bytes]:
    """Opens an export for `iter_entries` (binary); `-` reads stdin."""
    if path == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)
    return open(path, "rb")
