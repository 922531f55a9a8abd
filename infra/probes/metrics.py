"""Prometheus text from the running app (its metrics URL) or from a file, for the Phase 2 report.

I/O only; what the samples mean is decided in infra/rules/phase2.py.
"""

from __future__ import annotations

from pathlib import Path


class MetricsSourceError(Exception):
    """The metrics could not be fetched or read."""


def read_metrics_text(source: str, timeout: float = 10.0) -> str:
    """Prometheus text from an http(s) URL (the service's /api/metrics) or a file."""
    if source.startswith(("http://", "https://")):
        import requests  # noqa: PLC0415 - only this path needs HTTP

        try:
            response = requests.get(
                source, timeout=timeout, headers={"Accept": "text/plain;version=0.0.4"}
            )
        except requests.RequestException as exc:
            raise MetricsSourceError(f"cannot fetch {source}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise MetricsSourceError(f"{source} answered HTTP {response.status_code}")
        return response.text
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MetricsSourceError(f"cannot read {source}: {exc.strerror or exc}") from exc
