"""The build's cache source (infra/preflight/cache.py), against a fake Artifact Registry API."""

from __future__ import annotations

import dataclasses

import pytest

from infra.config import load_stack_settings
from infra.google.client import GoogleApiClient, RetryPolicy
from infra.preflight.cache import cache_source
from tests.fakes.artifact_registry import FakeArtifactRegistry

REPO = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app"


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warn(self, message: str) -> None:
        self.lines.append(("warn", message))


@pytest.fixture(scope="module")
def prod():
    return load_stack_settings("prod", supplied_secrets=["smtpPassword"])


def with_cache(settings, value):
    return dataclasses.replace(
        settings, image=dataclasses.replace(settings.image, cache_from=value)
    )


@pytest.fixture
def registry(monkeypatch):
    with FakeArtifactRegistry("emergence-469005", "europe-west1", "app") as fake:
        monkeypatch.setenv("ARTIFACT_REGISTRY_API_ENDPOINT", fake.url)
        yield fake


def test_previous_is_the_newest_other_image_of_the_repository(prod, registry):
    registry.push("emergence-app", "deploy-1", "2025-10-01T00:00:00Z")
    registry.push("emergence-app", "deploy-2", "2025-10-02T00:00:00Z")
    registry.push("other-image", "deploy-9", "2025-10-09T00:00:00Z")
    log = Log()
    assert cache_source(prod, "deploy-3", log=log) == (f"{REPO}:deploy-2",)
    assert log.lines == [("info", f"build cache: layers from {REPO}:deploy-2")]
    # the same commit again, after its push: still deploy-2, so the image has no diff
    registry.push("emergence-app", "deploy-3", "2025-10-03T00:00:00Z")
    assert cache_source(prod, "deploy-3", log=Log()) == (f"{REPO}:deploy-2",)


def test_an_empty_or_missing_repository_builds_cold_and_says_so(prod, registry):
    log = Log()
    assert cache_source(prod, "deploy-1", log=log) == ()
    assert log.lines[0][0] == "info" and "starts cold" in log.lines[0][1]
    registry.exists = False
    log = Log()
    assert cache_source(prod, "deploy-1", log=log) == ()
    assert log.lines == [
        (
            "info",
            "build cache: repository app does not exist yet (first deploy): the build starts cold",
        )
    ]


def test_a_refusal_is_one_warning_and_the_deploy_goes_on(prod, registry):
    registry.deny = True
    log = Log()
    assert cache_source(prod, "deploy-1", log=log) == ()
    [(level, line)] = log.lines
    assert level == "warn"
    assert "artifactregistry.dockerimages.list" in line
    assert "emergence-cloudrun:buildCacheFrom=none" in line
    assert "\n" not in line and "Traceback" not in line


def test_an_unreachable_api_is_bounded_and_not_fatal(prod):
    slept: list[float] = []

    def factory():
        return GoogleApiClient(
            "http://127.0.0.1:9",  # nothing listens
            retry=RetryPolicy(max_attempts=3),
            sleep=slept.append,
            timeout=(1, 1),
        )

    log = Log()
    assert cache_source(prod, "deploy-1", client_factory=factory, log=log) == ()
    assert len(slept) <= 2
    assert log.lines[0][0] == "warn"


def test_none_and_an_explicit_image_ask_no_api(prod, registry):
    assert cache_source(with_cache(prod, "none"), "deploy-1", log=Log()) == ()
    explicit = f"{REPO}:deploy-0"
    assert cache_source(with_cache(prod, explicit), "deploy-1", log=Log()) == (explicit,)
    assert registry.requests == []
