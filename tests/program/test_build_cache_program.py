"""The image's layer cache in the program: the repository's previous image, inline cache
recorded, a second build pass that records it whole, nothing built on preview, and a lookup
failure never stops a deploy."""

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
    return ev.pushed_image().inputs["build"]


def test_the_build_takes_its_cache_from_the_previous_image_and_records_its_own(prod):
    [(previous_tag, _)] = MOCK_REGISTRY_TAGS
    assert build(prod)["cacheFrom"] == {"images": [f"{REPO}:{previous_tag}"]}
    assert build(prod)["args"]["BUILDKIT_INLINE_CACHE"] == "1"
    # pulumi-docker pulls the cache image with the registry credentials it pushes with
    assert prod.pushed_image().inputs["registry"]["server"] == "europe-west1-docker.pkg.dev"


def test_with_a_cache_the_build_runs_twice_and_the_second_pass_is_pushed(prod):
    images = prod.of_type(IMAGE)
    assert len(images) == 2
    [first] = [r for r in images if r.inputs.get("skipPush") is True]
    pushed = prod.pushed_image()
    assert first.name == "app-cache-pass" and pushed.name == "app-image"
    # the same build, so the second pass finds every step in the local cache
    assert first.inputs["build"] == pushed.inputs["build"]
    assert first.inputs["imageName"] == pushed.inputs["imageName"]
    assert first.inputs["registry"] == pushed.inputs["registry"]  # it pulls the cache image
    assert first.urn in pushed.dependencies, "the pushed build must run after the first pass"
    service = prod.one("gcp:cloudrunv2/service:Service")
    assert service.inputs["template"]["containers"][0]["image"] == pushed.outputs["repoDigest"]


def test_a_preview_builds_nothing(prod_preview):
    for image in prod_preview.of_type(IMAGE):
        assert image.inputs["buildOnPreview"] is False


def test_redeploying_the_same_commit_keeps_the_same_cache_source_so_no_diff():
    first = evaluate("prod", secrets=SECRETS)
    tag = first.outputs["imageTag"]
    # after that deploy the repository also holds the image it pushed, the newest
    again = evaluate(
        "prod", secrets=SECRETS, registry_tags=(*MOCK_REGISTRY_TAGS, (tag, "2026-01-01T00:00:00Z"))
    )
    assert [r.inputs for r in again.of_type(IMAGE)] == [r.inputs for r in first.of_type(IMAGE)]


def test_a_first_deploy_builds_cold():
    ev = evaluate("prod", secrets=SECRETS, registry_tags=())
    assert "cacheFrom" not in build(ev)
    assert len(ev.of_type(IMAGE)) == 1, "no cache, no second pass"
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
    assert len(ev.of_type(IMAGE)) == 1
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
