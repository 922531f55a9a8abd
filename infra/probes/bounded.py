"""Reads from untrusted peers with a hard bound on time and bytes: HTTP GETs and local files.

    answer = get(session, url, deadline=time.monotonic() + 5, max_bytes=2 * MIB)
    text_bytes = read_file(path, deadline=time.monotonic() + 10, max_bytes=2 * MIB)

`requests` alone bounds neither: its read timeout is per socket read, so a server that trickles
one header byte every half second, drips a body under its Content-Length, or sends `100
Continue` forever keeps a request alive indefinitely; a gzip body is inflated without a limit.
Here:

- the request runs on a worker thread and the caller waits at most until `deadline` (a
  `time.monotonic()` value), whatever the peer does, DNS included; at the deadline the
  connection's socket is shut down, which ends the worker's blocking read at once;
- at most `max_bytes` of body are kept, counted after decompression: gzip and deflate are
  inflated here, piece by piece with a bounded output, so a compression bomb costs at most
  `max_bytes` (other encodings are refused: the request offers only these two);
- redirects are never followed (a redirect's body would be read whole by `requests`).

Errors: `DeadlinePassed` (with the HTTP status when the headers had arrived), `TooLarge`,
`BrokenAnswer` (an encoding that does not decode), `BodyBrokeOff` (the connection failed or
timed out after the headers), and `requests`' own exceptions for what it detects before the
headers (refused, reset, connect and read timeouts, bad URLs).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import stat
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, ReadTimeoutError

KIB = 1024
MIB = 1024 * KIB
CHUNK = 64 * KIB
ACCEPT_ENCODING = "gzip, deflate"
ABORT_GRACE_SECONDS = 1.0  # how long the caller waits for the worker after shutting it down

Clock = Callable[[], float]


class BoundedReadError(Exception):
    """A read that hit one of the bounds, or an answer that cannot be decoded."""


class DeadlinePassed(BoundedReadError):
    """The deadline came before the answer was complete (`status` set if headers arrived)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TooLarge(BoundedReadError):
    """More than `max_bytes` of body (after decompression)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BodyBrokeOff(BoundedReadError):
    """The connection failed while the body was arriving; `cause` is requests' exception."""

    def __init__(self, status: int, cause: requests.RequestException) -> None:
        super().__init__(str(cause))
        self.status = status
        self.cause = cause


class BrokenAnswer(BoundedReadError):
    """The body's encoding is unsupported or does not decode."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (requests' structure)
    body: bytes


def size_text(limit: int) -> str:
    """`2 MiB`, `64 KiB`, `100 bytes`."""
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= KIB and limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


# --------------------------------------------------------------------------- decompression


class _Inflater:
    """gzip (several members too) or deflate (zlib-wrapped or raw), with a bounded output."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate `data`; returns at most `room + 1` bytes (more than `room`: too large)."""
        out = bytearray()
        while data:
            try:
                piece = self._decoder.decompress(data, room + 1 - len(out))
            except zlib.error:
                if self.encoding == "deflate" and not self._started:  # raw deflate, no header
                    self._wbits = -zlib.MAX_WBITS
                    self._decoder = zlib.decompressobj(self._wbits)
                    self._started = True
                    continue
                raise BrokenAnswer(f"the {self.encoding} body does not decompress") from None
            self._started = True
            out += piece
            if len(out) > room:
                return bytes(out)
            data = self._decoder.unconsumed_tail
            if self._decoder.eof:
                data = self._decoder.unused_data
                if data and self.encoding == "gzip":  # the next gzip member
                    self._decoder = zlib.decompressobj(self._wbits)
                else:
                    data = b""  # bytes after the end of a deflate stream are ignored
        return bytes(out)


def _inflater(content_encoding: str, status: int) -> _Inflater | None:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Inflater("gzip")
    if encoding == "deflate":
        return _Inflater("deflate")
    raise BrokenAnswer(
        f"the body's Content-Encoding {encoding[:40]!r} was not asked for (only gzip, deflate)",
        status,
    )


# --------------------------------------------------------------------------- HTTP


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections can be shut down from another thread (`abort`).

    Each new connection's socket is duplicated when it is made: the duplicate stays valid when
    TLS takes over the original, and shutting it down ends any read on the connection.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._watched.append(sock.dup())

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        adapter = self

        class Plain(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                adapter._watch(sock)
                return sock

        class Tls(HTTPSConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                adapter._watch(sock)
                return sock

        class PlainPool(HTTPConnectionPool):
            ConnectionCls = Plain

        class TlsPool(HTTPSConnectionPool):
            ConnectionCls = Tls

        self.poolmanager.pool_classes_by_scheme = {"http": PlainPool, "https": TlsPool}

    def abort(self) -> None:
        with self._lock:
            for sock in self._watched:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        super().close()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()


def _read_body(response: requests.Response, max_bytes: int, stop: threading.Event) -> bytes:
    inflater = _inflater(response.headers.get("Content-Encoding", ""), response.status_code)
    body = bytearray()
    while not stop.is_set():
        try:
            chunk = response.raw.read(CHUNK, decode_content=False)
        except ReadTimeoutError as exc:
            raise BodyBrokeOff(response.status_code, requests.exceptions.ReadTimeout(exc)) from exc
        except (HTTPError, OSError) as exc:
            raise BodyBrokeOff(response.status_code, requests.ConnectionError(exc)) from exc
        if not chunk:
            break
        room = max_bytes - len(body)
        body += inflater.feed(chunk, room) if inflater else chunk
        if len(body) > max_bytes:
            raise TooLarge(
                f"the body is larger than {size_text(max_bytes)} (the most that is read)",
                response.status_code,
            )
    return bytes(body)


def get(
    session: requests.Session,
    url: str,
    *,
    deadline: float,
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    max_bytes: int = 2 * MIB,
    headers: Mapping[str, str] | None = None,
    read_body: bool = True,
    clock: Clock = time.monotonic,
) -> RawAnswer:
    """GET `url` over `session`, finished by `deadline` (a `clock()` value) with at most
    `max_bytes` of body (none read when `read_body` is false); see the module docstring."""
    remaining = deadline - clock()
    if remaining <= 0:
        raise DeadlinePassed("no time left for the request")
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    stop = threading.Event()
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            # The socket timeouts never beat the deadline to it: past the deadline, the
            # deadline is what is reported.
            timeout = (min(connect_timeout, remaining + 1), min(read_timeout, remaining + 1))
            request_headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
            with session.get(
                url,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                headers=request_headers,
            ) as response:
                outcome["status"] = response.status_code
                body = _read_body(response, max_bytes, stop) if read_body else b""
                outcome["answer"] = RawAnswer(response.status_code, response.headers, body)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="bounded-get", daemon=True)
    try:
        worker.start()
        finished = done.wait(remaining)
        if not finished:
            raise DeadlinePassed("the answer did not arrive in time", outcome.get("status"))
    except BaseException:  # the deadline, or Ctrl-C while waiting: end the worker's read
        stop.set()
        adapter.abort()
        done.wait(ABORT_GRACE_SECONDS)
        raise
    finally:
        if done.is_set():
            adapter.close()
        else:  # still stuck (in DNS): it closes the adapter when it ends, nothing to wait for
            threading.Thread(target=_close_when_done, args=(done, adapter), daemon=True).start()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def _close_when_done(done: threading.Event, adapter: _WatchedAdapter) -> None:
    done.wait()
    adapter.close()


# --------------------------------------------------------------------------- files


def read_fd(
    fd: int, *, deadline: float, max_bytes: int, clock: Clock = time.monotonic
) -> tuple[bytes, bool]:
    """(at most `max_bytes` read from `fd` by `deadline`, whether more was there).

    `fd` should be non-blocking (a pipe may also be blocking: it is only read once poll says
    it has data). DeadlinePassed when the source neither ends nor fills the limit in time.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = bytearray()
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeadlinePassed("the source did not end in time")
        if not poller.poll(max(1, min(int(remaining * 1000), 1000))):
            continue
        try:
            chunk = os.read(fd, min(CHUNK, max_bytes + 1 - len(data)))
        except BlockingIOError:
            continue
        if not chunk:
            return bytes(data), False
        data += chunk
        if len(data) > max_bytes:
            return bytes(data[:max_bytes]), True


def read_file(
    path: str, *, deadline: float, max_bytes: int, clock: Clock = time.monotonic
) -> bytes:
    """At most `max_bytes` of the file, pipe or FIFO at `path`, read by `deadline`.

    Opened without blocking, so a FIFO nobody writes to is waited on until the deadline only;
    `/dev/zero` and other endless sources stop at the byte limit. OSError for what the
    system refuses (missing, a directory, no permission); TooLarge, DeadlinePassed.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", path)
        try:
            data, more = read_fd(fd, deadline=deadline, max_bytes=max_bytes, clock=clock)
        except DeadlinePassed:
            raise DeadlinePassed("the file did not end in time") from None
        if more:
            raise TooLarge(f"larger than {size_text(max_bytes)} (the most that is read)")
        return data
    finally:
        os.close(fd)
