"""A fake Cloud Logging API v2 (`entries:list`) for tests and benches: HTTP on 127.0.0.1, port 0.

Shapes follow the Logging v2 discovery document shipped in google-api-python-client
(`googleapiclient/discovery_cache/documents/logging.v2.json`): the request body is a
`ListLogEntriesRequest` (`resourceNames`, `filter`, `orderBy`, `pageSize`, `pageToken`), the answer
a `ListLogEntriesResponse` (`entries`, `nextPageToken`). `tests/google/test_fake_cloud_logging.py`
checks every request and answer against the schema.

    with FakeCloudLogging(entries) as fake:      # entries: LogEntry dicts
        os.environ["LOGGING_API_ENDPOINT"] = fake.url
        ...
        fake.requests                            # every request body received, in order

Behaviour, as Google documents it:
- `resourceNames` is required, and only `projects/<project>` is served (others: 403
  PERMISSION_DENIED, as for a project the caller cannot read);
- an unknown body field, a negative `pageSize`, an unknown `orderBy` or `pageToken`: 400
  INVALID_ARGUMENT; `pageSize` defaults to 50 and is capped at 1000;
- `orderBy` "timestamp asc" (default) or "timestamp desc";
- `filter` is evaluated for the subset of the Logging query language the report and the
  log-based metrics write: comparisons `path OP "value"` (OP among = != =~ !~ >= <= > <) joined
  by AND (or a line break) and OR, with parentheses, OR binding tighter than AND as Google
  documents; regular expressions are RE2 (google-re2), as Logging's. Anything else is 400
  INVALID_ARGUMENT, so a filter the fake cannot read is never silently ignored;
- `empty_pages=True` inserts an empty page carrying a `nextPageToken` before every page, as
  the API does when a search has not finished ("entries empty, nextPageToken present").
Faults: `fail_next(n, status, retry_after=None)` answers the next n requests with an error body
`{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import re2

from tests.fakes.server import Answer, FakeServer, google_error

REQUEST_FIELDS = {"resourceNames", "projectIds", "filter", "orderBy", "pageSize", "pageToken"}
_TERM = re.compile(r'^\s*([A-Za-z_][\w.]*)\s*(=~|!~|>=|<=|!=|=|>|<)\s*"((?:[^"\\]|\\.)*)"\s*$')


class FilterError(ValueError):
    pass


def _value(entry: dict, path: str) -> Any:
    node: Any = entry
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _term(text: str):
    match = _TERM.match(text)
    if not match:
        raise FilterError(f"unsupported filter term: {text.strip()!r}")
    path, op, raw = match.group(1), match.group(2), _unquote(match.group(3))
    if op in ("=~", "!~"):
        try:
            regex = re2.compile(raw)
        except re2.error as exc:
            raise FilterError(f"bad regular expression {raw!r}: {exc}") from None

    def test(entry: dict) -> bool:
        value = _value(entry, path)
        if op in ("=~", "!~"):
            found = isinstance(value, str) and regex.search(value) is not None
            return found if op == "=~" else not found
        if value is None:
            return op == "!="
        if path in ("timestamp", "receiveTimestamp"):
            left, right = _timestamp(str(value)), _timestamp(raw)
        else:
            left, right = str(value), raw
        return {
            "=": left == right,
            "!=": left != right,
            ">=": left >= right,
            "<=": left <= right,
            ">": left > right,
            "<": left < right,
        }[op]

    return test


_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<op>AND|OR)(?=[\s(])"
    r'|(?P<term>[A-Za-z_][\w.]*\s*(?:=~|!~|>=|<=|!=|=|>|<)\s*"(?:[^"\\]|\\.)*"))'
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"unsupported filter text at {text[pos : pos + 40].strip()!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def compile_filter(text: str):
    """A predicate for the filter subset described in the module docstring.

    Comparisons joined by AND (or by white space, as Logging reads a line break) and OR, with
    parentheses; as in the Logging query language, OR binds tighter than AND.
    """
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def primary():
        nonlocal position
        token = peek()
        if token is None:
            raise FilterError("the filter ends where a comparison is expected")
        position += 1
        if token[0] == "open":
            inner = conjunction()
            if peek() is None or peek()[0] != "close":
                raise FilterError("a parenthesis is not closed")
            position += 1
            return inner
        if token[0] != "term":
            raise FilterError(f"unexpected {token[1]!r}")
        return _term(token[1])

    def disjunction():
        nonlocal position
        alternatives = [primary()]
        while peek() is not None and peek() == ("op", "OR"):
            position += 1
            alternatives.append(primary())
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda e, alts=alternatives: any(t(e) for t in alts)

    def conjunction():
        nonlocal position
        parts = [disjunction()]
        while peek() is not None and peek()[0] != "close":
            if peek() == ("op", "AND"):
                position += 1
            parts.append(disjunction())
        return lambda e, all_of=parts: all(t(e) for t in all_of)

    if not tokens:
        return lambda entry: True
    predicate = conjunction()
    if position != len(tokens):
        raise FilterError("unbalanced parentheses in the filter")
    return predicate


class FakeCloudLogging(FakeServer):
    """The fake's entries, faults and request log; `start()` serves it (tests/fakes/server.py)."""

    def __init__(
        self,
        entries: Iterable[dict],
        project: str = "emergence-469005",
        *,
        empty_pages: bool = False,
    ) -> None:
        super().__init__()
        self.entries = list(entries)
        self.project = project
        self.empty_pages = empty_pages
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._faults: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()

    # -- faults --

    def fail_next(self, n: int, status: int, retry_after: str | None = None) -> None:
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    # -- the API --

    @staticmethod
    def error(status: int, message: str) -> Answer:
        return status, google_error(status, message), {}

    def handle(self, method: str, raw_path: str, body: Any, headers: Mapping[str, str]) -> Answer:
        """One request (called by the HTTP handler): only POST v2/entries:list is served."""
        path = urlsplit(raw_path).path
        if method != "POST":
            return self.error(404, f"unknown method {method} {path}")
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON payload received.")
        with self._lock:
            self.requests.append(body)
        if fault is not None:
            status, retry_after = fault
            code, payload, _ = self.error(status, "injected fault")
            return code, payload, ({"Retry-After": retry_after} if retry_after else {})
        if path != "/v2/entries:list":
            return self.error(400, f"unknown method {path}")
        answer = self.list_entries(body)
        if answer[0] == 200:
            with self._lock:
                self.responses.append(answer[1])
        return answer

    def list_entries(self, body: dict) -> Answer:  # noqa: PLR0911
        unknown = set(body) - REQUEST_FIELDS
        if unknown:
            return self.error(400, f'Invalid JSON payload received. Unknown name "{min(unknown)}"')
        names = body.get("resourceNames")
        if not names:
            return self.error(400, "resource_names is required")
        if names != [f"projects/{self.project}"]:
            return self.error(403, f"The caller does not have permission on {names}")
        order = body.get("orderBy", "timestamp asc")
        if order not in ("timestamp asc", "timestamp desc"):
            return self.error(400, f"invalid order_by {order!r}")
        size = body.get("pageSize", 50)
        if not isinstance(size, int) or size < 0:
            return self.error(400, "page_size must not be negative")
        size = min(size or 50, 1000)
        try:
            matches = compile_filter(body.get("filter", ""))
        except FilterError as exc:
            return self.error(400, f"Invalid filter: {exc}")
        token = body.get("pageToken")
        start, empty_served = 0, False
        if token:
            match = re.fullmatch(r"page-(\d+)(-empty)?", token)
            if not match:
                return self.error(400, "invalid page_token")
            start, empty_served = int(match.group(1)), bool(match.group(2))
        if self.empty_pages and not empty_served:
            return 200, {"nextPageToken": f"page-{start}-empty"}, {}
        selected = [e for e in self.entries if matches(e)]
        selected.sort(
            key=lambda e: (e.get("timestamp") or e.get("receiveTimestamp") or "", e["insertId"]),
            reverse=order == "timestamp desc",
        )
        page = selected[start : start + size]
        answer: dict[str, Any] = {"entries": page} if page else {}
        if start + size < len(selected):
            answer["nextPageToken"] = f"page-{start + size}"
        return 200, answer, {}
