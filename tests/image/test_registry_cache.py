"""The registry cache, for real: a fresh CI runner (no layer cache) rebuilding the reference app
after a code-only change takes every dependency step from the registry cache the previous
deploy wrote (`type=registry,mode=max` in the repository's `buildcache` tag, the build spec's
`buildx_build_command`, which is what `pulumi up` builds) and uploads only the source layer.

The builder is the engine of scripts/buildx-engine.sh (Docker 26 on the containerd image store:
its own BuildKit exports registry caches; .ci/run starts it), buildx's current builder there, as
`pulumi up` uses the current builder. A throwaway registry (Debian's docker-registry) serves on
loopback; the builds go through the reference stack's build spec on a base of their own (the
stack's base plus a layer of its own, pushed to that registry), so no cache record of another
build can stand in for the registry's. A fresh runner is the builder pruned and the engine
emptied of what the run pushed. A control build without the cache on a fresh runner shows that
the reuse does come from the registry: it runs the pip step again. The unchanged commit uploads
nothing. A requirements change on another fresh runner, from the cache the cached build wrote
back, reuses the steps before the requirements and runs the rest: a cache written by a build
that took its steps from the cache is whole.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from bench import _buildx
from bench._registry import RegistryError, registry_binary, start_registry
from infra.local.build_spec import build_spec
from infra.preflight import source as app_source
from tests.image.conftest import REFERENCE
from tests.image_helpers import unique

pytestmark = pytest.mark.docker

REPOSITORY = "emergence/app"  # the image's name in the throwaway registry
STEPS = {
    "system": "useradd --system",
    "torch": "install --index-url",
    "pip": "pip --python /opt/venv/bin/python install -r /tmp/requirements.txt",
    "source": "COPY app/ /app/",
}
SMALL = 1_000_000  # bytes: manifests, an image config and a cache config are a few KB


def _unavailable(message: str) -> None:
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(message + " (REQUIRE_DOCKER=1: Docker tests must run here)")
    pytest.skip(message)


@pytest.fixture
def registry(docker_engine, tmp_path):
    """A registry on 127.0.0.1:<free port>, stopped and its store removed after the test."""
    if registry_binary() is None:
        _unavailable(
            "the registry cache test needs Debian's docker-registry (/usr/bin/docker-registry): "
            "apt-get install docker-registry (.ci/run installs it)"
        )
    try:
        started = start_registry(tmp_path / "registry")
    except RegistryError as exc:
        pytest.fail(str(exc))
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(started.root, ignore_errors=True)


@pytest.fixture
def builder_engine(docker_engine, monkeypatch):
    """The docker CLI pointed at scripts/buildx-engine.sh's engine for this test."""
    host, config, bin_dir = (
        os.environ.get(name, "")
        for name in ("BUILDX_ENGINE_HOST", "BUILDX_ENGINE_CONFIG", "BUILDX_ENGINE_BIN")
    )
    if not (host and config and bin_dir):
        _unavailable(
            "the registry cache test needs a builder that exports a registry cache: "
            ". scripts/buildx-engine.sh (.ci/run sources it)"
        )
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.setenv("DOCKER_CONFIG", config)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    if problem := _buildx.check_builder(None):
        pytest.fail(problem)
    return docker_engine["network"] or None


def test_a_fresh_runner_takes_the_dependency_layers_from_the_registry_cache(
    registry, builder_engine, tmp_path
):
    network = builder_engine
    run = unique("regcache")
    context = tmp_path / "context"
    shutil.copytree(app_source.stage(REFERENCE).context, context)
    cache = registry.ref(REPOSITORY, "buildcache")
    deployed: dict[str, _buildx.Deploy] = {}

    def deploy(tag: str, spec, **kw) -> dict[str, bool]:
        done = _buildx.deploy(
            spec, registry, kw.pop("name", REPOSITORY), tag, builder=None, network=network,
            steps=STEPS, log=tmp_path / f"{tag}.log", **kw,
        )  # fmt: skip
        deployed[tag] = done
        return done.steps_cached

    try:
        base = _buildx.registry_base(
            registry, REFERENCE.args.get("BASE_IMAGE", "python:3.11-slim"), run, network
        )
        spec = dataclasses.replace(
            build_spec(REFERENCE, context),
            build_args={**REFERENCE.args, "BASE_IMAGE": base},
            cache_ref=cache,
        )
        # The first deploy: a cold builder, no cache yet (BuildKit warns and builds).
        _buildx.fresh_builder(None, registry)
        one = deploy("one", spec)
        assert not any(one.values()), f"the first build found steps cached: {one}"

        # A fresh runner and a code-only change; the control builds without the cache.
        _buildx.fresh_builder(None, registry)
        source = sorted((context / "app").rglob("*.py"))[0]
        source.write_text(source.read_text() + f"\n# code-only change {run}\n")
        control = deploy("control", dataclasses.replace(spec, cache_ref=None), name="control")
        assert not control["pip"], "cached without the registry cache: not a fresh runner"

        # Another fresh runner, with the cache: everything but the source comes from it.
        _buildx.fresh_builder(None, registry)
        two = deploy("two", spec)

        # The unchanged commit, the cache read only: nothing runs, nothing is uploaded.
        again = deploy("again", spec, export_cache=False)

        # The next deploy, a requirements change, on a fresh runner, from the cache two wrote.
        _buildx.fresh_builder(None, registry)
        requirements = context / "requirements.txt"
        requirements.write_text(requirements.read_text() + f"\n# requirements change {run}\n")
        three = deploy("three", spec)
    finally:
        _buildx.fresh_builder(None, registry)

    log_two = (tmp_path / "two.log").read_text()
    assert f"importing cache manifest from {cache}" in log_two
    assert two == {"system": True, "torch": True, "pip": True, "source": False}, two
    layers_one, layers_two = deployed["one"].layers, deployed["two"].layers
    assert len(layers_two) == len(layers_one)
    assert layers_two[:-1] == layers_one[:-1], "a dependency layer was rebuilt"
    assert layers_two[-1] != layers_one[-1], "the source layer did not change"
    # what the push sent: the source layer, the manifests and the cache's config
    assert deployed["two"].growth <= layers_two[-1][1] + SMALL, deployed["two"].growth
    assert all(again.values()), f"the unchanged commit ran steps: {again}"
    assert deployed["again"].growth <= SMALL and deployed["again"].layers == layers_two
    assert three == {"system": True, "torch": True, "pip": False, "source": False}, three
