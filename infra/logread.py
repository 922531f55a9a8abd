"""Stream log entries from a file, without ever holding the whole file in memory.

Two layouts are read, detected from the first non-blank character:

* a JSON array, as `gcloud logging read --format json` prints it (`[`, then indented objects);
* JSON lines (or any sequence of JSON values separated by white space, such as `jq '.[]'`).

Each element is decoded with the standard library's C decoder (`JSONDecoder.raw_decode`) from a
sliding text buffer, so a 1 GB export is read in fixed memory. An element that cannot be parsed
is yielded as `MalformedEntry` and reading resumes at the next element: the next line that
starts a JSON value in JSON lines, the next object at the array's element indentation in a JSON
array (how gcloud prints it). A truncated file ends with one `MalformedEntry`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import IO

from infra.phase2 import MalformedEntry

CHUNK_CHARS = 1 << 20
MAX_ENTRY_CHARS = 8 << 20
"""Cloud Logging caps an entry at 256 KB; anything this large is not an entry."""

_SEPARATOR = re.compile(r"[ \t\n\r]*(?:,[ \t\n\r]*)?")
_WS = re.compile(r"[ \t\n\r]*")
_NEAR_END = 64
"""A decode error this close to the end of the buffer may only mean "read more"."""


def _incomplete(exc: json.JSONDecodeError, length: int) -> bool:
    return exc.msg.startswith("Unterminated string") or exc.pos >= length - _NEAR_END


def iter_entries(  # noqa: PLR0911, PLR0912, PLR0915 (the hot path: one loop)
    stream: IO[str], chunk: int = CHUNK_CHARS
) -> Iterator[object]:
    """Yields each top-level element (usually a dict) or a `MalformedEntry`."""
    decode = json.JSONDecoder().raw_decode
    separator = _SEPARATOR.match
    read = stream.read
    text = ""
    pos = 0
    base = 0  # characters dropped before text[0]
    eof = False

    def refill(keep_from: int) -> bool:
        nonlocal text, pos, base, eof
        if eof:
            return False
        data = read(max(chunk, len(text) - keep_from))
        if not data:
            eof = True
            return False
        base += keep_from
        text = text[keep_from:] + data
        pos -= keep_from
        return True

    # The first significant character decides the layout.
    while True:
        pos = _WS.match(text, pos).end()
        if pos < len(text) and text[pos] != "\ufeff":
            break
        if pos < len(text):  # a byte order mark
            pos += 1
            continue
        if not refill(pos):
            return
    array_mode = text[pos] == "["
    if array_mode:
        pos += 1
    indent: int | None = None  # element indentation in an array; -1: compact (one line)
    end_of_data = len(text)

    while True:
        pos = separator(text, pos).end()
        if pos >= end_of_data:
            if not refill(pos):
                if array_mode:
                    yield MalformedEntry("truncated: the JSON array is not closed", base + pos)
                return
            end_of_data = len(text)
            continue
        if array_mode:
            char = text[pos]
            if char == "]":
                # Several exports concatenated (`cat a.json b.json`): the next array continues.
                pos += 1
                while True:
                    pos = _WS.match(text, pos).end()
                    if pos < len(text) or not refill(pos):
                        break
                end_of_data = len(text)
                if pos >= end_of_data:
                    return
                if text[pos] != "[":
                    yield MalformedEntry("unexpected content after the JSON array", base + pos)
                    return
                pos += 1
                indent = None
                continue
            if indent is None:
                line_start = text.rfind("\n", 0, pos)
                indent = -1 if line_start < 0 else pos - line_start - 1
        try:
            value, end = decode(text, pos)
        except json.JSONDecodeError as exc:
            if not eof and _incomplete(exc, end_of_data):
                if end_of_data - pos > MAX_ENTRY_CHARS:
                    yield MalformedEntry("entry larger than 8 MiB", base + pos)
                    pos = exc.pos
                else:
                    refill(pos)
                    end_of_data = len(text)
                    continue
            else:
                at_end = _WS.match(text, exc.pos).end() == end_of_data
                if eof and (at_end or exc.msg.startswith("Unterminated string")):
                    yield MalformedEntry("truncated entry at end of file", base + pos)
                    return
                yield MalformedEntry(f"invalid JSON: {exc.msg}", base + exc.pos)
                pos = max(pos + 1, exc.pos)
            # Resume at the next element.
            if array_mode and (indent is None or indent < 0):
                return  # a compact array on one line: no safe place to resume
            resume = re.compile(r"\n" + (" " * indent if array_mode else "") + r"(?=[{\[])")
            while True:
                match = resume.search(text, pos)
                if match:
                    pos = match.end()
                    break
                pos = max(pos, end_of_data - (indent if array_mode else 0) - 1)
                if not refill(pos):
                    return
                end_of_data = len(text)
            continue
        if not eof and end_of_data - end < _NEAR_END and not isinstance(value, dict | list):
            # A scalar near the buffer's end may continue in the next chunk (`67.5` + `e1`).
            refill(pos)
            end_of_data = len(text)
            continue
        pos = end
        yield value


def open_text(path: str) -> IO[str]:
    """Opens an export as UTF-8 text (undecodable bytes replaced); `-` reads stdin."""
    if path == "-":
        return open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
    return open(path, encoding="utf-8", errors="replace")
