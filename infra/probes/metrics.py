"""Prometheus text from the running app (its metrics URL) or from a file, for the Phase 2 report.

I/O only, and bounded: the whole read (connection, headers, body) ends within `timeout`
seconds, and at most `MAX_METRICS_BYTES` are read, counted after decompression, whether the
source is a URL (an endless answer, a gzip bomb), a file (`/dev/zero`) or a pipe
(`<(curl ...)`). A URL carrying credentials is refused without being shown; redirects are not
followed (the error names where it points). What the samples mean is decided in
infra/rules/phase2.py.
"""

from __future__ import annotations

import time

from infra.probes import bounded
from infra.rules.redaction import hide_url_credentials, shown_url, url_has_credentials
from infra.rules.terminal import printable

# A service's metrics page is tens of KB; parsing Prometheus text costs about 30 to 50 times its
# size in memory, so this bounds the report to about 100 MB.
MAX_METRICS_BYTES = 2 * bounded.MIB
ACCEPT = "text/plain;version=0.0.4"


class MetricsSourceError(Exception):
    """The metrics could not be fetched or read."""


def _shown(source: str) -> str:
    return printable(shown_url(source))[:200]


def _text(data: bytes, shown: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some editors write
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = (
            " (it looks like UTF-16: save it as UTF-8)"
            if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:64]
            else ""
        )
        raise MetricsSourceError(
            f"{shown} is not UTF-8 text (byte {exc.start} cannot be decoded){hint}; "
            "Prometheus text format is UTF-8"
        ) from None


def _from_url(source: str, deadline: float, timeout: float) -> str:
    import requests  # noqa: PLC0415 - only this path needs HTTP

    shown = _shown(source)
    if url_has_credentials(source):
        raise MetricsSourceError(
            f"{shown} carries credentials (user:password@); they are neither sent nor shown. "
            "Fix: give the metrics URL without them (the service's /api/metrics is public), "
            "or save the page to a file and pass the file"
        )
    with requests.Session() as session:
        try:
            answer = bounded.get(
                session,
                source,
                deadline=deadline,
                connect_timeout=min(timeout, 10.0),
                read_timeout=timeout,
                max_bytes=MAX_METRICS_BYTES,
                headers={"Accept": ACCEPT},
            )
        except bounded.DeadlinePassed:
            raise MetricsSourceError(
                f"{shown} did not answer in full within {timeout:g} s"
            ) from None
        except bounded.BoundedReadError as exc:
            raise MetricsSourceError(f"{shown}: {exc}") from None
        except requests.RequestException as exc:
            raise MetricsSourceError(f"cannot fetch {shown}: {type(exc).__name__}") from None
    if 300 <= answer.status < 400:
        where = printable(hide_url_credentials(answer.headers.get("Location", "?")))[:200]
        raise MetricsSourceError(
            f"{shown} answered HTTP {answer.status}, a redirect to {where}: "
            "give that URL instead (redirects are not followed)"
        )
    if answer.status != 200:
        raise MetricsSourceError(f"{shown} answered HTTP {answer.status}")
    return _text(answer.body, shown)


def _from_file(source: str, deadline: float, timeout: float) -> str:
    shown = _shown(source)
    try:
        data = bounded.read_file(source, deadline=deadline, max_bytes=MAX_METRICS_BYTES)
    except bounded.DeadlinePassed:
        raise MetricsSourceError(
            f"{shown} did not end within {timeout:g} s (a pipe or FIFO nobody finishes writing?)"
        ) from None
    except bounded.TooLarge as exc:
        raise MetricsSourceError(f"{shown} is {exc}") from None
    except OSError as exc:
        raise MetricsSourceError(f"cannot read {shown}: {exc.strerror or exc}") from None
    return _text(data, shown)


def read_metrics_text(source: str, timeout: float = 10.0) -> str:
    """Prometheus text from an http(s) URL (the service's /api/metrics) or a file; the whole
    read ends within `timeout` seconds. MetricsSourceError, one line, otherwise."""
    deadline = time.monotonic() + timeout
    if source.lower().startswith(("http://", "https://")):
        return _from_url(source, deadline, timeout)
    return _from_file(source, deadline, timeout)
