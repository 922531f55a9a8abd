"""Where the Phase 2 command gets its data: Cloud Logging `entries:list` and Prometheus text.

I/O only; what the data means is decided in `infra/phase2.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

ENTRIES_LIST_PATH = "v2/entries:list"
MAX_PAGE_SIZE = 1000  # entries:list accepts at most 1000 entries a page


class _PagingClient(Protocol):
    def paginate_post(
        self, path: str, items_key: str, body: dict[str, Any], **kwargs: Any
    ) -> Iterator[dict[str, Any]]: ...


def entries_list_body(project: str, filter_: str) -> dict[str, Any]:
    """The `ListLogEntriesRequest` body (paging fields are added by the client)."""
    return {
        "resourceNames": [f"projects/{project}"],
        "filter": filter_,
        # Google recommends newest first for recent logs; the report does not depend on order.
        "orderBy": "timestamp desc",
    }


def iter_api_entries(
    client: _PagingClient, project: str, filter_: str, page_size: int = MAX_PAGE_SIZE
) -> Iterator[dict[str, Any]]:
    """Every matching LogEntry, page after page (`nextPageToken`), one at a time."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}, got {page_size}")
    return client.paginate_post(
        ENTRIES_LIST_PATH, "entries", entries_list_body(project, filter_), page_size=page_size
    )


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
