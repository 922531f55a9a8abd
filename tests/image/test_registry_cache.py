"""The registry cache, for real: a fresh CI runner (no layer cache) rebuilding the reference app
after a code-only change takes every dependency layer from the previous image in the registry
(`--cache-from`, the inline cache the build spec records) and pushes only the source layer.

A throwaway registry (Debian's docker-registry) serves on loopback; the builds go through the
reference stack's build spec on a base of their own (the stack's base plus a layer of its own), so
no cache record of another build, another test's or a previous run's, can stand in for the
registry's. A control build without `--cache-from` on the same fresh runner shows that the
reuse does come from the registry: it runs the pip step again. A third deploy, a requirements
change on another fresh runner with `--cache-from` the second image, shows that an image built
from the cache is a cache in turn (BuildKit's every-other-build miss, moby/buildkit#1981, is
why the spec pulls cache images first) and that only the steps from the requirements on run.
The image built from the cache is the build's second pass (BuildSpec.build_passes): it ran no
step, and its inline cache records every step above the base, where a single pass records a
random subset of them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from bench._registry import (
    RegistryError,
    build,
    dangling_images,
    layer_count,
    new_blobs,
    prune_since,
    push,
    recorded_layers,
    registry_binary,
    remove_images,
    start_registry,
    step_cached,
    steps_run,
    unique_base,
)
from infra.local.build_spec import build_spec
from infra.local.run import Docker
from infra.preflight import source as app_source
from tests.image.conftest import REFERENCE
from tests.image_helpers import unique

pytestmark = pytest.mark.docker

REPOSITORY = "emergence/app"  # the image's name in the throwaway registry
PIP_STEP = "pip --python /opt/venv/bin/python install -r /tmp/requirements.txt"
BEFORE_PIP = ("useradd --system", "install --index-url")  # the system layer, CPU torch
SOURCE_STEP = "COPY app/ /app/"
SMALL = 1_000_000  # bytes: a manifest and an image config are a few KB


@pytest.fixture
def registry(docker_engine, tmp_path):
    """A registry on 127.0.0.1:<free port>, stopped and its store removed after the test."""
    if registry_binary() is None:
        message = (
            "the registry cache test needs Debian's docker-registry (/usr/bin/docker-registry): "
            "apt-get install docker-registry (.ci/run installs it)"
        )
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (REQUIRE_DOCKER=1: Docker tests must run here)")
        pytest.skip(message)
    try:
        started = start_registry(tmp_path / "registry")
    except RegistryError as exc:
        pytest.fail(str(exc))
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(started.root, ignore_errors=True)


def test_a_fresh_runner_takes_the_dependency_layers_from_the_registry(
    registry, docker_engine, image_build_cache, tmp_path
):
    network = docker_engine["network"] or None
    engine = Docker(network=network)
    before = engine.build_cache_ids()
    dangling = dangling_images()  # a second build pass leaves the first one's image untagged
    run = unique("emergence-test-regcache")
    base, one, two, three = (
        f"{run}-base:1",
        registry.ref(REPOSITORY, "one"),
        registry.ref(REPOSITORY, "two"),
        registry.ref(REPOSITORY, "three"),
    )
    control = f"{run}:control"
    try:
        unique_base(REFERENCE.args.get("BASE_IMAGE", "python:3.11-slim"), base, network)
        base_count = layer_count(base)
        context = tmp_path / "context"
        shutil.copytree(app_source.stage(REFERENCE).context, context)
        spec = build_spec(REFERENCE, context)
        spec = dataclasses.replace(spec, build_args={**spec.build_args, "BASE_IMAGE": base})

        # The first deploy: a cold build, pushed.
        _, log, _ = build(spec, one, network, tmp_path / "one.log", timeout=900)
        assert not step_cached(log, PIP_STEP), "the first build found its steps cached"
        push(one)
        layers_one = registry.layers(REPOSITORY, "one")

        # A fresh runner: no image, no cache record of this build; the base stays (pulled).
        remove_images(one)
        prune_since(engine, before)
        source = sorted((context / "app").rglob("*.py"))[0]
        source.write_text(source.read_text() + f"\n# code-only change {run}\n")

        # Control: without --cache-from the fresh runner installs the requirements again.
        _, log, _ = build(spec, control, network, tmp_path / "control.log", timeout=900)
        assert not step_cached(log, PIP_STEP), "cached without --cache-from: not a fresh runner"
        remove_images(control)
        prune_since(engine, before)

        # With --cache-from the previous image: everything but the source comes from it.
        cached = dataclasses.replace(spec, cache_from=(one,))
        _, log_two, second_pass = build(cached, two, network, tmp_path / "two.log", timeout=900)
        assert f"importing cache manifest from {one}" in log_two
        assert step_cached(log_two, PIP_STEP), "the pip step ran again despite the registry cache"
        assert not step_cached(log_two, SOURCE_STEP)
        blobs = registry.blobs()
        pushed = push(two)
        layers_two = registry.layers(REPOSITORY, "two")
        recorded_two = recorded_layers(registry.config(REPOSITORY, "two"))
        growth = new_blobs(blobs, registry.blobs())

        # The next deploy, a requirements change, on another fresh runner, from image two.
        remove_images(two, *(dangling_images() - dangling))
        prune_since(engine, before)
        requirements = context / "requirements.txt"
        requirements.write_text(requirements.read_text() + f"\n# requirements change {run}\n")
        newest = dataclasses.replace(spec, cache_from=(two,))
        _, log, _ = build(newest, three, network, tmp_path / "three.log", timeout=900)
        fresh = "Pull complete" in log  # the pull of two downloaded layers: none were left here
        reused_before_pip = [step_cached(log, step) for step in BEFORE_PIP]
        pip_ran, source_ran = not step_cached(log, PIP_STEP), not step_cached(log, SOURCE_STEP)
    finally:
        remove_images(one, two, three, control, *(dangling_images() - dangling), base)
        prune_since(engine, before)

    digests_one, digests_two = [d for d, _ in layers_one], [d for d, _ in layers_two]
    assert len(digests_two) == len(digests_one)
    assert digests_two[:-1] == digests_one[:-1], "a dependency layer was rebuilt"
    assert digests_two[-1] != digests_one[-1], "the source layer did not change"
    assert len(pushed.pushed) == 1, f"pushed {pushed.pushed}, expected the source layer only"
    assert growth <= layers_two[-1][1] + SMALL, f"the registry grew by {growth} bytes"
    assert any(SOURCE_STEP in step for step in steps_run(log_two)), "the first pass ran no step"
    assert steps_run(second_pass) == [], "the second pass must find every step cached"
    above_base = set(range(base_count, len(layers_two)))
    assert above_base <= recorded_two, f"steps unrecorded: layers {above_base - recorded_two}"
    assert fresh, "the third runner still held image two's layers: not a fresh runner"
    assert reused_before_pip == [True, True], "an image built from the cache was no cache"
    assert pip_ran and source_ran, "a requirements change must rebuild from the pip step on"
