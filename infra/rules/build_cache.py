"""Which image a fresh builder takes its layer cache from: data in, a reference out (no I/O).

`buildCacheFrom: previous` (the default): the newest image of the stack's repository, by upload
time, other than the one this run builds. Leaving out the image being built keeps the choice
stable: deploying the same commit again finds the same previous image, so the image resource
has no diff and nothing is rebuilt, pushed or rolled out. The reference is `<image>:<tag>` (a
`deploy-` tag first), readable in the plan and immutable in practice (each deploy has its own
tag). infra/preflight/cache.py asks the Artifact Registry API for the images.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RegistryImage:
    repository: str  # <host>/<project>/<repository>/<image>, without tag or digest
    digest: str
    tags: tuple[str, ...]
    uploaded: datetime


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time as Google writes it (up to nanoseconds); the epoch when unreadable."""
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match:
        return _EPOCH
    seconds, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(f"{seconds}.{micros}{zone}")
    except ValueError:
        return _EPOCH


def image_from_api(item: Mapping[str, Any]) -> RegistryImage | None:
    """A DockerImage (`uri` `<repository>@sha256:...`, `tags`, `uploadTime`), or None."""
    uri = item.get("uri")
    if not isinstance(uri, str) or "@sha256:" not in uri:
        return None
    repository, digest = uri.split("@", 1)
    tags = tuple(t for t in item.get("tags") or () if isinstance(t, str) and t)
    return RegistryImage(repository, digest, tags, parse_time(item.get("uploadTime")))


def previous_image(
    images: Iterable[RegistryImage], image_repository: str, current_tag: str
) -> str | None:
    """`<image_repository>:<tag>` of the newest tagged image other than `current_tag`'s."""
    candidates = [
        image
        for image in images
        if image.repository == image_repository and image.tags and current_tag not in image.tags
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda image: (image.uploaded, image.digest))
    deploy = sorted(t for t in newest.tags if t.startswith("deploy-"))
    tag = deploy[-1] if deploy else sorted(newest.tags)[-1]
    return f"{image_repository}:{tag}"
