"""Where the image build takes its layer cache from (`buildCacheFrom`), settled before declaring.

`previous` (the default) asks the Artifact Registry API for the repository's images and takes
the newest other than the one this run builds (infra/rules/build_cache.py decides); `none`
builds without; anything else is an image of the stack's repository, used as given. The cache
only saves time and upload: when the images cannot be listed (no permission, no repository yet,
the API unreachable) the program says so in one line and builds without it; it never stops a
deploy. Needs `artifactregistry.dockerimages.list` (roles/artifactregistry.reader, also in
roles/artifactregistry.writer, which pushing needs anyway).

The mock engine stands in the registry (`assumed`), so evaluations never call Google.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pulumi

from infra.config import CACHE_FROM_NONE, CACHE_FROM_PREVIOUS, KEYS_BY_NAME, Settings
from infra.google import client as gcp_api
from infra.google.artifact_registry import list_docker_images
from infra.google.client import ApiError, GcpApiError, GoogleApiClient
from infra.rules.build_cache import RegistryImage, image_from_api, parse_time, previous_image

KEY = KEYS_BY_NAME["buildCacheFrom"].full


@dataclass
class _Assumption:
    active: bool = False
    tags: tuple[tuple[str, str], ...] = ()  # (tag, upload time) of images in the repository
    failure: str = ""  # the lookup fails with this message


_ASSUMED = _Assumption()


@contextlib.contextmanager
def assumed(tags: Sequence[tuple[str, str]] = (), *, failure: str = "") -> Iterator[None]:
    """Within the block the repository holds one image per (tag, RFC 3339 upload time), or the
    lookup fails with `failure`; no request is sent."""
    saved = (_ASSUMED.active, _ASSUMED.tags, _ASSUMED.failure)
    _ASSUMED.active, _ASSUMED.tags, _ASSUMED.failure = True, tuple(tags), failure
    try:
        yield
    finally:
        _ASSUMED.active, _ASSUMED.tags, _ASSUMED.failure = saved


def _assumed_images(settings: Settings) -> list[RegistryImage]:
    if _ASSUMED.failure:
        raise GcpApiError(_ASSUMED.failure)
    return [
        RegistryImage(settings.image_repository, f"sha256:{index:064x}", (tag,), parse_time(time))
        for index, (tag, time) in enumerate(_ASSUMED.tags, start=1)
    ]


def _listed_images(
    settings: Settings, factory: Callable[[], GoogleApiClient]
) -> list[RegistryImage]:
    with factory() as client:
        items = list_docker_images(
            client, settings.project, settings.region, settings.registry.repository_id
        )
    return [image for image in map(image_from_api, items) if image is not None]


def cache_source(
    settings: Settings,
    tag: str,
    *,
    client_factory: Callable[[], GoogleApiClient] | None = None,
    log=pulumi.log,
) -> tuple[str, ...]:
    """The images to give the build as `cache_from` (empty: build without a cache)."""
    setting = settings.image.cache_from
    if setting == CACHE_FROM_NONE:
        return ()
    if setting != CACHE_FROM_PREVIOUS:
        return (setting,)
    try:
        if _ASSUMED.active:
            images = _assumed_images(settings)
        else:
            images = _listed_images(settings, client_factory or gcp_api.artifact_registry_client)
    except GcpApiError as err:
        if isinstance(err, ApiError) and err.status == "NOT_FOUND":
            log.info(
                f"build cache: repository {settings.registry.repository_id} does not exist "
                "yet (first deploy): the build starts cold"
            )
        else:
            log.warn(
                f"build cache: could not list the images of {settings.image_repository}: "
                f"{gcp_api.describe(err)}; the build goes on without a layer cache "
                f"({KEY}=none silences this)"
            )
        return ()
    ref = previous_image(images, settings.image_repository, tag)
    if ref is None:
        log.info(
            f"build cache: no earlier image in {settings.image_repository}: the build starts cold"
        )
        return ()
    log.info(f"build cache: layers from {ref}")
    return (ref,)
