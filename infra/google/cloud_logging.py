"""Cloud Logging `entries:list`, over the shared client: the Phase 2 command's API source.

I/O only; what the entries mean is decided in infra/rules/phase2.py.
"""

from __future__ import annotations

from collections.abc import Iterator
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
