"""The image's layer cache in the program: the repository's previous image, inline cache
recorded, nothing built on preview, and a lookup failure never stops a deploy."""

from __future__ import annotations

import logging

import pytest

from infra.config import SettingsError
from infra.mockrun import MOCK_REGISTRY_TAGS, attempt, evaluate
from tests.conftest import TEST_SMTP_PASSWORD

SECRETS = {"smtpPassword": TEST_SMTP_PASSWORD}
IMAGE = "docker:index/image:Image"
REPO = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app"


def build(ev):
    return ev.one(IMAGE).inputs["build"]


def test_the_build_takes_its_cache_from_the_previous_image_and_records_its_own(prod):
    [(previous_tag, _)] = MOCK_REGISTRY_TAGS
    assert build(prod)["cacheFrom"] == {"images": [f"{REPO}:{previous_tag}"]}
    assert build(prod)["args"]["BUILDKIT_INLINE_CACHE"] == "1"
    # pulumi-docker pulls the cache image with the registry credentials it pushes with
    assert prod.one(IMAGE).inputs["registry"]["server"] == "europe-west1-docker.pkg.dev"


def test_a_preview_builds_nothing(prod_preview):
    assert prod_preview.one(IMAGE).inputs["buildOnPreview"] is False


def test_redeploying_the_same_commit_keeps_the_same_cache_source_so_no_diff():
    first = evaluate("prod", secrets=SECRETS)
    tag = first.outputs["imageTag"]
    # after that deploy the repository also holds the image it pushed, the newest
    again = evaluate(
        "prod", secrets=SECRETS, registry_tags=(*MOCK_REGISTRY_TAGS, (tag, "2026-01-01T00:00:00Z"))
    )
    assert again.one(IMAGE).inputs == first.one(IMAGE).inputs


def test_a_first_deploy_builds_cold():
    ev = evaluate("prod", secrets=SECRETS, registry_tags=())
    assert "cacheFrom" not in build(ev)
    assert build(ev)["args"]["BUILDKIT_INLINE_CACHE"] == "1"  # the next deploy's cache


def test_a_failed_lookup_warns_once_and_the_deploy_goes_on(caplog):
    with caplog.at_level(logging.WARNING):
        ev, error = attempt("prod", secrets=SECRETS, registry_tags="403 PERMISSION_DENIED")
    assert error is None
    assert "cacheFrom" not in build(ev)
    warned = [r.getMessage() for r in caplog.records if "build cache" in r.getMessage()]
    assert len(warned) == 1 and "403 PERMISSION_DENIED" in warned[0]


def test_none_and_an_explicit_image():
    ev = evaluate("prod", {"buildCacheFrom": "none"}, SECRETS)
    assert "cacheFrom" not in build(ev)
    explicit = f"{REPO}:deploy-pinned"
    ev = evaluate("prod", {"buildCacheFrom": explicit}, SECRETS)
    assert build(ev)["cacheFrom"] == {"images": [explicit]}


@pytest.mark.parametrize(
    "value",
    ["docker.io/library/python:3.11", "latest", f"{REPO}", "europe-west1-docker.pkg.dev/x/app/e:1"],
)
def test_a_cache_image_outside_the_stacks_repository_is_refused_naming_the_key(value):
    ev, error = attempt("prod", {"buildCacheFrom": value}, SECRETS)
    assert isinstance(error, SettingsError)
    assert "emergence-cloudrun:buildCacheFrom" in str(error)
    assert "Fix: pulumi config set emergence-cloudrun:buildCacheFrom previous" in str(error)
    assert ev.custom() == []
