"""The image's layer cache in the program: a registry cache in the repository's `buildcache`
tag, read and rewritten by the one image build (pulumi-docker-build), with the registry
credentials the push uses; nothing built on preview; `buildCache none` builds without."""

from __future__ import annotations

import pytest

from infra.config import SettingsError, load_stack_settings
from infra.local.build_spec import build_spec
from infra.mockrun import DOCKER_IMAGE, attempt, evaluate
from tests.conftest import TEST_SMTP_PASSWORD

SECRETS = {"smtpPassword": TEST_SMTP_PASSWORD}
REPO = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app"
CACHE = f"{REPO}:buildcache"


def test_the_one_build_reads_and_rewrites_the_registry_cache(prod):
    [image] = prod.of_type(DOCKER_IMAGE)
    assert image.name == "app-image" and image.inputs["push"] is True
    assert image.inputs["cacheFrom"] == [{"registry": {"ref": CACHE}}]
    [cache_to] = image.inputs["cacheTo"]
    wanted = {"ref": CACHE, "mode": "max", "imageManifest": True, "ociMediaTypes": True}
    assert {k: cache_to["registry"][k] for k in wanted} == wanted
    assert cache_to["registry"]["ignoreError"] is True  # a failed export never stops a deploy
    # no inline cache argument: the registry cache carries every step
    assert "BUILDKIT_INLINE_CACHE" not in image.inputs["buildArgs"]
    # the builder reads the cache with the credentials it pushes with
    [registry] = image.inputs["registries"]
    assert registry["address"] == "europe-west1-docker.pkg.dev"
    assert registry["username"] == "oauth2accesstoken"
    assert "registries" in image.secret_inputs or "registries.0.password" in image.secret_inputs


def test_the_resource_builds_what_the_build_spec_says(prod):
    """pulumi up, `local` and the bench build one spec: the resource's inputs are the spec's."""
    [image] = prod.of_type(DOCKER_IMAGE)
    spec = build_spec(load_stack_settings("prod", supplied_secrets=["smtpPassword"]).image)
    assert image.inputs["platforms"] == [spec.platform]
    assert image.inputs["buildArgs"] == dict(spec.build_args)
    assert image.inputs["dockerfile"] == {"location": spec.relative(spec.dockerfile)}
    assert image.inputs["cacheFrom"][0]["registry"]["ref"] == spec.cache_ref
    tag = prod.outputs["imageTag"]
    assert image.inputs["tags"] == [f"{REPO}:{tag}"]
    # Cloud Run runs the pushed digest
    service = prod.one("gcp:cloudrunv2/service:Service")
    assert service.inputs["template"]["containers"][0]["image"] == prod.image_digest()


def test_a_preview_builds_nothing(prod_preview):
    [image] = prod_preview.of_type(DOCKER_IMAGE)
    assert image.inputs["buildOnPreview"] is False


def test_redeploying_the_same_commit_changes_no_input_so_no_diff():
    first = evaluate("prod", secrets=SECRETS)
    again = evaluate("prod", secrets=SECRETS)
    assert [r.inputs for r in again.of_type(DOCKER_IMAGE)] == [
        r.inputs for r in first.of_type(DOCKER_IMAGE)
    ]


def test_none_builds_without_a_cache():
    ev = evaluate("prod", {"buildCache": "none"}, SECRETS)
    [image] = ev.of_type(DOCKER_IMAGE)
    assert "cacheFrom" not in image.inputs and "cacheTo" not in image.inputs


@pytest.mark.parametrize("value", ["previous", "inline", f"{REPO}:deploy-1", ""])
def test_anything_else_is_refused_naming_the_key_and_the_fix(value):
    ev, error = attempt("prod", {"buildCache": value}, SECRETS)
    assert isinstance(error, SettingsError)
    assert "emergence-cloudrun:buildCache" in str(error)
    assert "Fix: pulumi config set emergence-cloudrun:buildCache registry" in str(error)
    assert ev.custom() == []
