"""Secrets kept out of what the commands print: no I/O, pure functions.

    redact = Redactor([smtp_password, api_key, ...])    # every secret value the run holds
    redact(container_logs)                               # each of them, in every form below
    hide_url_credentials("see http://alice:S3nt/inelPw@host/x")  -> "see http://***@host/x"

A secret rarely leaks as itself only: an app that logs its settings as JSON escapes it, a
Python `repr` escapes it differently, a URL or a form percent-encodes it, an HTTP Basic
header or a config dump base64-encodes it. `secret_forms` lists the forms a secret takes in
those encodings, so that each is replaced by `[redacted]`:

- itself; JSON-escaped (with and without `ensure_ascii`, `/` as `\\/` too); Python `repr` and
  `ascii` escapes of `str` and `bytes` (both quote styles);
- percent-encoded (upper- and lower-case hex, space as `%20` or `+`, `/` kept or encoded);
- base64 (standard and URL-safe alphabets) at each of the three byte alignments a secret can
  have inside a longer encoded text (`user:password` in `Authorization: Basic ...`): the
  characters that depend only on the secret's bytes, which is all but at most three at each end;
- hexadecimal (both cases).

Derived forms shorter than `MIN_FORM_CHARS` are left out (they would match ordinary text); the
secret itself is always replaced, however short.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_FORM_CHARS = 4

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters that depend on the prefix before an embedded secret, by its alignment mod 3.
_B64_MIXED_LEAD = {0: 0, 1: 2, 2: 3}


def _percent_forms(raw: bytes) -> set[str]:
    forms = set()
    for hex_format in ("%{:02X}", "%{:02x}"):
        for keep_slash in (False, True):
            for plus_space in (False, True):
                out = []
                for byte in raw:
                    if byte in _UNRESERVED or (keep_slash and byte == ord("/")):
                        out.append(chr(byte))
                    elif plus_space and byte == ord(" "):
                        out.append("+")
                    else:
                        out.append(hex_format.format(byte))
                forms.add("".join(out))
    return forms


def _python_forms(secret: str, raw: bytes) -> set[str]:
    """How `repr`/`ascii` show the secret inside a longer string, for either quote style."""
    forms = {
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(secret + "'\"")[1:-4],  # single quotes, quotes inside escaped
        ascii(secret + "'\"")[1:-4],
        repr(raw)[2:-1],
        repr(raw + b"'\"")[2:-4],
    }
    if '"' not in secret:  # repr switches to double quotes for a string holding only '
        forms |= {repr(secret + "'")[1:-2], ascii(secret + "'")[1:-2], repr(raw + b"'")[2:-2]}
    return forms


def _json_forms(secret: str) -> set[str]:
    forms = set()
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    return forms


def _base64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for align in (0, 1, 2):
            encoded = encode(b"\0" * align + raw).decode("ascii")
            full_groups = (align + len(raw)) // 3
            forms.add(encoded[_B64_MIXED_LEAD[align] : 4 * full_groups])
    return forms


def secret_forms(secret: str) -> frozenset[str]:
    """The texts under which `secret` may appear in output (see the module's docstring)."""
    if not secret:
        return frozenset()
    raw = secret.encode("utf-8", "surrogatepass")
    derived = (
        _json_forms(secret)
        | _python_forms(secret, raw)
        | _percent_forms(raw)
        | _base64_forms(raw)
        | {raw.hex(), raw.hex().upper()}
    )
    return frozenset({secret} | {f for f in derived if len(f) >= MIN_FORM_CHARS})


class Redactor:
    """Replaces every form of every given secret (None and "" are ignored) by `[redacted]`."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= secret_forms(secret)
        # Longest first, so a form that contains another is replaced whole.
        ordered = sorted(forms, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of each secret replaced (a one-off `Redactor`)."""
    return Redactor(secrets)(text)


# `scheme://` then everything up to the last `@` before whitespace: a password may hold `/`,
# `?`, `#` or `@` itself (`http://alice:S3nt/inelPw@host` is user alice, password S3nt/inelPw).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)\S*@")
_URL_SCHEME = re.compile(r"(?i)[a-z][a-z0-9+.\-]*://")


def hide_url_credentials(text: str) -> str:
    """Every `scheme://user:password@host` in `text` shown as `scheme://***@host`."""
    return _URL_USERINFO.sub(r"\1***@", text)


def shown_url(source: str) -> str:
    """A URL as output (and a committed report) may show it: its user and password masked as
    `***@` (wherever a `/` falls in them), without its query or fragment (they may hold a
    token). Anything that is not a URL is returned as it is."""
    if not _URL_SCHEME.match(source):
        return source
    return re.split(r"[?#]", hide_url_credentials(source), maxsplit=1)[0]


def url_has_credentials(url: str) -> bool:
    """Whether `url` carries anything before an `@` after its scheme (taken as credentials,
    wherever a `/`, `?` or `#` falls: they may be part of the password)."""
    return hide_url_credentials(url) != url
