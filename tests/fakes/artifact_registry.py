"""A fake Artifact Registry API v1 (`dockerImages.list`) for tests: HTTP on 127.0.0.1, port 0.

Shapes follow the discovery document shipped in google-api-python-client
(`googleapiclient/discovery_cache/documents/artifactregistry.v1.json`): the answer is a
`ListDockerImagesResponse` (`dockerImages`, `nextPageToken`) of `DockerImage`s (`name`, `uri`,
`tags`, `uploadTime`, ...); `tests/google/test_fake_artifact_registry.py` checks them.

    with FakeArtifactRegistry("emergence-469005", "europe-west1", "app") as fake:
        fake.push("emergence-app", "deploy-1", "2025-10-06T05:41:07.123456789Z")
        os.environ["ARTIFACT_REGISTRY_API_ENDPOINT"] = fake.url

It serves one repository (`exists=False`: none yet). Behaviour, as Google documents it: an
unknown repository is 404 NOT_FOUND; `pageSize` defaults to
100 and is capped at 1000, a negative one or an unknown `pageToken` is 400 INVALID_ARGUMENT.
Faults: `deny = True` answers 403 PERMISSION_DENIED naming artifactregistry.dockerimages.list;
`fail_next(n, status)` answers the next n requests with that error. `requests` logs every path.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import Answer, FakeServer, google_error

_LIST = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/repositories/([^/]+)/dockerImages$")
PERMISSION = "artifactregistry.dockerimages.list"


class FakeArtifactRegistry(FakeServer):
    def __init__(self, project: str, region: str, repository: str, *, exists: bool = True):
        super().__init__()
        self._lock = threading.Lock()
        self.key = (project, region, repository)
        self.exists = exists
        self.images: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.deny = False
        self._faults: list[int] = []

    def push(self, image: str, tag: str | None, upload_time: str) -> str:
        """Add an image (a new digest) with `tag` (None: untagged); returns its uri."""
        project, region, repository = self.key
        digest = "sha256:" + hashlib.sha256(f"{image}{tag}{upload_time}".encode()).hexdigest()
        base = f"{region}-docker.pkg.dev/{project}/{repository}/{image}"
        for existing in self.images:  # a tag moves: it leaves the image it was on
            if tag in existing["tags"]:
                existing["tags"].remove(tag)
        self.images.append(
            {
                "name": f"projects/{project}/locations/{region}/repositories/{repository}"
                f"/dockerImages/{image}@{digest}",
                "uri": f"{base}@{digest}",
                "tags": [tag] if tag else [],
                "imageSizeBytes": "1024",
                "uploadTime": upload_time,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "buildTime": upload_time,
                "updateTime": upload_time,
            }
        )
        return f"{base}@{digest}"

    def fail_next(self, count: int, status: int) -> None:
        with self._lock:
            self._faults += [status] * count

    def handle(self, method: str, raw_path: str, body: Any, headers: Mapping[str, str]) -> Answer:
        parts = urlsplit(raw_path)
        with self._lock:
            self.requests.append(raw_path)
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return fault, google_error(fault, "injected fault"), {}
        match = _LIST.match(parts.path)
        if method != "GET" or not match:
            return 404, google_error(404, f"no method {method} {parts.path}"), {}
        if self.deny:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "metadata": {"permission": PERMISSION},
                }
            ]
            return 403, google_error(403, f"Permission '{PERMISSION}' denied", details=details), {}
        if match.groups() != self.key or not self.exists:
            return 404, google_error(404, f"Requested entity was not found: {match.group(3)}"), {}
        return self._page({k: v[-1] for k, v in parse_qs(parts.query).items()})

    def _page(self, query: dict[str, str]) -> Answer:
        try:
            size = min(int(query.get("pageSize", "100")), 1000)
            start = int(query.get("pageToken", "0"))
        except ValueError:
            size, start = -1, -1
        if size < 0 or not 0 <= start <= len(self.images):
            return 400, google_error(400, "invalid pageSize or pageToken"), {}
        size = size or 100
        chunk = self.images[start : start + size]
        page: dict[str, Any] = {"dockerImages": [dict(i, tags=list(i["tags"])) for i in chunk]}
        if start + size < len(self.images):
            page["nextPageToken"] = str(start + size)
        return 200, page, {}
