"""A small app that honours the service contract, served for real on 127.0.0.1:<port 0>.

`ContractApp()` answers like a healthy emergence-app: /api/health JSON healthy, /api/metrics
real Prometheus text from a prometheus_client registry (it counts the requests it serves),
/api/chat/sessions 401 unless a bearer token is given, /docs an HTML page, /openapi.json JSON.
`ContractApp(overrides={path: handler})` swaps one route for a failure mode. `serve(app)` runs it
with werkzeug's threaded server in a background thread and yields the base URL.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]

DOCS_HTML = """<!DOCTYPE html>
<html><head><title>emergence-app - Swagger UI</title></head>
<body><div id="swagger-ui"></div></body></html>
"""

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "emergence-app", "version": "test"},
    "paths": {"/api/health": {"get": {}}, "/api/chat/sessions": {"get": {}}},
}


def json_response(document: object, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")


class ContractApp:
    """A WSGI app honouring the contract; `overrides` replace routes by path."""

    def __init__(self, overrides: dict[str, Handler] | None = None, token: str = "t0ken"):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "Requests served", ["path"], registry=self.registry
        )
        self.token = token
        self.seen: list[Request] = []
        self.routes: dict[str, Handler] = {
            "/api/health": lambda _r: json_response({"status": "healthy", "version": "test"}),
            "/api/metrics": self._metrics,
            "/api/chat/sessions": self._sessions,
            "/docs": lambda _r: Response(DOCS_HTML, mimetype="text/html"),
            "/openapi.json": lambda _r: json_response(OPENAPI),
        }
        self.routes.update(overrides or {})

    def _metrics(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST)

    def _sessions(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_response({"detail": "Not authenticated"}, status=401)
        return json_response([])

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        self.seen.append(request)
        self.requests.labels(path=request.path).inc()
        handler = self.routes.get(request.path)
        response = handler(request) if handler else json_response({"detail": "Not Found"}, 404)
        return response(environ, start_response)


def sequence(*handlers: Handler) -> Handler:
    """A route that answers with each handler in turn, then keeps answering with the last."""
    remaining = list(handlers)
    lock = threading.Lock()

    def handle(request: Request) -> Response:
        with lock:
            handler = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return handler(request)

    return handle


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@contextmanager
def serve(app: Callable, sock: socket.socket | None = None) -> Iterator[str]:  # type: ignore[type-arg]
    """Serve `app` on 127.0.0.1 (port 0, or the given bound socket); yields the base URL."""
    if sock is not None:
        server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
        )
    else:
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
