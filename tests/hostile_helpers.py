"""Hostile HTTP peers on 127.0.0.1, written with raw sockets: each misbehaves in one way.

    with peer(trickle_headers) as url:      # http://127.0.0.1:<port>
        ...

A behaviour is a function `(conn, request_bytes) -> None` that writes whatever it likes; the
server accepts any number of connections, each on its own thread, and closes them all when the
`with` block ends (so a peer that would talk forever is stopped by the test, never by a cap of
its own: what ends the client's request must be the client).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator

Behaviour = Callable[[socket.socket, bytes], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    conn.settimeout(5)
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    conn.settimeout(None)
    return data


class Peer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        self.requests: list[bytes] = []
        self._threads: list[threading.Thread] = []

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request = _read_request(conn)
            self.requests.append(request)
            self.behaviour(conn, request)

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> Peer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


@contextlib.contextmanager
def peer(behaviour: Behaviour) -> Iterator[str]:
    server = Peer(behaviour).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def refused() -> Iterator[str]:
    """A URL whose port refuses connections: bound (so nothing else takes it), not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def _slowly(conn: socket.socket, data: bytes, every: float) -> None:
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(every)


# --------------------------------------------------------------------------- behaviours


def silent(conn: socket.socket, _request: bytes) -> None:
    """Accepts, reads the request, never answers."""
    time.sleep(3600)


def trickle_headers(conn: socket.socket, _request: bytes) -> None:
    """One header byte every 0.5 s, forever (each byte resets a per-read timeout)."""
    header = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100_000
    _slowly(conn, header, 0.5)


def drip_body(conn: socket.socket, _request: bytes) -> None:
    """Headers at once, then a 1 MB body under its Content-Length, one byte every 0.5 s."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    _slowly(conn, b"{" + b" " * 999_999, 0.5)


def endless_continue(conn: socket.socket, _request: bytes) -> None:
    """`100 Continue`, again and again, every 0.1 s, never a final answer."""
    while True:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.1)


def answer(
    body: bytes,
    *,
    status: str = "200 OK",
    content_type: str = "text/plain",
    extra_headers: str = "",
) -> Behaviour:
    """A complete answer with the given body (and Content-Length)."""

    def behave(conn: socket.socket, _request: bytes) -> None:
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra_headers}Connection: close\r\n\r\n"
        )
        conn.sendall(head.encode("latin-1") + body)

    return behave


def endless_body(conn: socket.socket, _request: bytes) -> None:
    """A chunked body that never ends, as fast as the client reads."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x 1\n" * 16384
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while True:
        conn.sendall(frame)


def gzip_bomb(decompressed_mb: int = 1024) -> bytes:
    """`decompressed_mb` MB of zeros, gzip-compressed (1 GB is about 1 MB)."""
    out = io.BytesIO()
    block = b"\0" * (1024 * 1024)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        for _ in range(decompressed_mb):
            stream.write(block)
    return out.getvalue()


def deep_json(depth: int = 1000) -> bytes:
    return b"[" * depth + b"]" * depth


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b1m\u202eevil\r"
