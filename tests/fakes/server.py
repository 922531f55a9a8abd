"""What the fake Google APIs share: a JSON server on 127.0.0.1 (port 0) and Google's error body.

A fake subclasses `FakeServer` and implements `handle(method, raw_path, body, headers)`, which
returns (HTTP status, JSON body, extra headers); `start()` serves it from a background thread:

    with FakeCloudRun() as fake:         # start() ... stop()
        fake.url                         # http://127.0.0.1:PORT

`body` is the request's JSON, None when there was none, or the raw text when it is not JSON
(the fake decides how to refuse it). Error answers follow Google's JSON error format,
`{"error": {"code", "message", "status", "details"}}`, built by `google_error`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# HTTP status -> the canonical Google status a fault answers with, unless told otherwise.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

Answer = tuple[int, Any, dict[str, str]]


def google_error(
    code: int, message: str, status: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    """Google's JSON error body; `status` defaults to the canonical name for `code`."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


class FakeServer:
    """Serves `handle()` over HTTP/1.1 on 127.0.0.1, port 0, until `stop()`."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, method: str, raw_path: str, body: Any, headers: Mapping[str, str]) -> Answer:
        raise NotImplementedError

    def start(self) -> Self:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started: call start() or use it as a context")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) closes the socket mid-answer: not an error here.
        return


class _Handler(BaseHTTPRequestHandler):
    owner: FakeServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (~40 ms a call)

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output clean; the fakes keep their own request logs

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        status, payload, headers = self.owner.handle(method, self.path, body, dict(self.headers))
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")
