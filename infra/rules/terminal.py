"""What may reach an operator's terminal from untrusted text (a server's answer, a log line, an
API's error): no I/O, one pure function.

    printable("\\x1b]0;pwned\\x07ok")      -> "\\\\x1b]0;pwned\\\\x07ok"   (shown, not obeyed)
    printable("line 1\\nline 2", newlines=True)                          (newlines kept)

Every character a terminal could act on is shown as a visible escape instead: C0 controls but
tab (ESC starts every colour, cursor, title and OSC 52 clipboard sequence; CR rewrites the line;
BS erases), DEL, the C1 controls U+0080-U+009F (U+009B is a one-character CSI on some
terminals), the Unicode bidirectional overrides and isolates (they reorder what is shown, the
"Trojan Source" trick), the line and paragraph separators, and lone surrogates (text decoded
with `surrogateescape`; printing one raises UnicodeEncodeError). Newlines are escaped too
unless `newlines=True` (which also reads CRLF as a newline), so a one-line reason stays one
line. Everything else, accents included, is kept.
"""

from __future__ import annotations

import re

_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but tab and newline, DEL, C1
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates
)
_WITH_NEWLINES = re.compile(f"[{_UNSAFE}]")
_ONE_LINE = re.compile(f"[{_UNSAFE}\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: object, *, newlines: bool = False, json: bool = False) -> str:
    """`text` (anything; str() of it) safe to print: every control character as `\\xNN` or
    `\\uNNNN`, newlines kept only with `newlines=True`.

    With `json=True` (for a JSON document, with newlines between its lines) the escapes are all
    `\\uNNNN`, so the document stays valid JSON that means the same: `json.dumps` escapes C0
    controls itself, but with `ensure_ascii=False` lets DEL, C1, the bidi controls and lone
    surrogates through, and those can only occur inside its strings."""
    text = str(text)
    if json:
        return _WITH_NEWLINES.sub(_escape_json, text)
    if newlines:
        return _WITH_NEWLINES.sub(_escape, text.replace("\r\n", "\n"))
    return _ONE_LINE.sub(_escape, text)
