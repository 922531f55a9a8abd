"""Artifact Registry API v1 `dockerImages.list`, over the shared client: the images of the stack's
repository, for the build cache (infra/preflight/cache.py).

I/O only; which image a build takes its cache from is decided in infra/rules/build_cache.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

PAGE_SIZE = 500  # the API accepts up to 1000
MAX_PAGES = 4  # cleanup keeps a repository small; past 2,000 images the rest is not read


class _PagingClient(Protocol):
    def pages(self, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]: ...


def repository_name(project: str, region: str, repository: str) -> str:
    return f"projects/{project}/locations/{region}/repositories/{repository}"


def list_docker_images(
    client: _PagingClient, project: str, region: str, repository: str
) -> list[dict[str, Any]]:
    """The repository's DockerImages as the API gives them (`uri`, `tags`, `uploadTime`, ...):
    the first MAX_PAGES pages, the rest is not read. ApiError propagates (404: no repository)."""
    path = f"v1/{repository_name(project, region, repository)}/dockerImages"
    images: list[dict[str, Any]] = []
    pages = client.pages(path, page_size=PAGE_SIZE, max_pages=MAX_PAGES + 1)
    for number, page in enumerate(pages, start=1):
        images += [item for item in page.get("dockerImages") or [] if isinstance(item, dict)]
        if number == MAX_PAGES:
            break
    return images
