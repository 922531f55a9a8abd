"""The deploy steps on a BuildKit builder with a registry cache, as `pulumi up` builds
(infra/local/build_spec.BuildSpec.buildx_build_command): bench/cold_deploy.py and
tests/image/test_registry_cache.py.

The builder is any `docker buildx` builder that can export a registry cache (None: buildx's
current one):
- here, the engine of scripts/buildx-engine.sh (Docker 26 on the containerd image store, its
  `default` builder, the docker driver): `DOCKER_HOST=$BUILDX_ENGINE_HOST
  DOCKER_CONFIG=$BUILDX_ENGINE_CONFIG PATH=$BUILDX_ENGINE_BIN:$PATH`; it treats the bench's
  registry on 127.0.0.1 as plain HTTP, as every Docker engine does;
- on a GitHub runner, a docker-container builder (docker/setup-buildx-action);
- a BuildKit daemon started by hand and added with `docker buildx create --name ci --driver
  remote unix:///path/buildkitd.sock`, whose buildkitd.toml lets it speak plain HTTP to the
  bench's registry (`[registry."127.0.0.1:5123"] http = true`, with `--registry-port 5123`) and
  allows the host network (`--allow-insecure-entitlement network.host`).

A fresh runner is a builder whose cache is pruned (`docker buildx prune --all --force`) and, on
the docker driver, whose engine holds none of the images the run pushed: the base image is
pulled again, as a new runner pulls it. The image is pushed from the builder, so a deploy's time
is its build and push together. The base must be in a registry the builder reaches: the bench
pushes the stack's base, with a layer of its own, to the local registry first.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
from pathlib import Path

from bench._registry import Registry, docker, new_blobs, step_cached, unique_base
from infra.local.build_spec import BuildSpec

EXTRACTING = re.compile(r"extracting sha256:[0-9a-f]{64} ([\d.]+)s done")


def link_source(dockerfile: str) -> str:
    """app_image/Dockerfile with its last two COPYs (the entry point, the source) as `COPY
    --link` and `WORKDIR /app` moved up to follow the first RUN: what the Dockerfile would need
    so that BuildKit never lays down the reused layers. A linked COPY is a layer of its own,
    made without its parent's files, and WORKDIR is the only other step after the dependencies
    that needs them; a fresh builder then only resolves the cache's layers and the push finds
    them in the registry. Docker 20.10's own frontend refuses `--link` (`Unknown flag: link`),
    so the Dockerfile itself does not use it yet. AssertionError if the steps moved."""
    serve, source = "COPY image/serve.py", "COPY app/ /app/"
    venv = " && python3 -m venv --without-pip /opt/venv\n"
    assert dockerfile.count("\nWORKDIR /app\n") == 1 and dockerfile.count(venv) == 1
    assert dockerfile.count(serve) == 1 and dockerfile.count(source) == 1
    text = dockerfile.replace("\nWORKDIR /app\n", "\n").replace(venv, venv + "WORKDIR /app\n")
    return text.replace(serve, "COPY --link image/serve.py").replace(
        source, "COPY --link app/ /app/"
    )


def _builder(builder: str | None) -> list[str]:
    return ["--builder", builder] if builder else []


def fresh_builder(builder: str | None, registry: Registry) -> None:
    """A new runner's builder (None: buildx's current one): no cache record, no layer, no base
    image. On the docker driver the engine's image store also keeps what the builder pushed
    (the containerd store holds the layers): the images of the bench's registry go too."""
    docker("buildx", "prune", *_builder(builder), "--all", "--force", timeout=600)
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", timeout=300)
    refs = [ref for ref in listed.split() if ref.startswith(registry.host + "/")]
    if refs:
        docker("image", "rm", "--force", *refs, timeout=600)


def check_builder(builder: str | None) -> str | None:
    """Why `builder` (None: buildx's current one) cannot build with a registry cache (None: it
    can)."""
    name = builder or "the current builder"
    try:
        out = docker(
            "buildx", "inspect", *([builder] if builder else []), "--bootstrap", timeout=300
        )
    except RuntimeError as exc:
        return f"docker buildx, {name}: {str(exc).strip().splitlines()[-1]}"
    driver = re.search(r"^Driver:\s*(\S+)", out, re.MULTILINE)
    if driver and driver.group(1) == "docker":
        # the engine's own BuildKit exports a registry cache with the containerd image store
        # only (Docker 24 and newer, `"features": {"containerd-snapshotter": true}`)
        store = docker("info", "--format", "{{json .DriverStatus}}", timeout=60)
        if "io.containerd.snapshotter" not in store:
            return (
                f"{name} uses the docker driver on the classic image store, which exports no "
                "registry cache: enable the containerd image store, or create a builder with "
                "--driver docker-container (or remote)"
            )
    return None


def registry_base(registry: Registry, base: str, run_id: str, network: str | None) -> str:
    """The stack's base plus a layer of its own, pushed to the local registry: the ref a builder
    pulls (every step on it has a cache key no other build shares)."""
    ref = registry.ref("bench/base", run_id)
    unique_base(base, ref, network)
    docker("push", ref, timeout=900)
    docker("image", "rm", ref, timeout=300)
    return ref


@dataclasses.dataclass
class Deploy:
    build_s: float  # build and push, from the builder
    growth: int  # bytes of the blobs the registry store gained
    layers: list[tuple[str, int]]
    steps_cached: dict[str, bool]
    extract_s: float  # BuildKit's `extracting ... done` lines: laying down pulled layers
    log: str


def deploy(
    spec: BuildSpec,
    registry: Registry,
    name: str,
    tag: str,
    *,
    builder: str | None,
    export_cache: bool = True,
    network: str | None,
    steps: dict[str, str],
    log: Path,
) -> Deploy:
    """Build `spec` (its registry cache, if any, read and, with `export_cache`, rewritten) and
    push it from the builder as `registry`'s `name:tag`."""
    argv = spec.buildx_build_command(
        registry.ref(name, tag), builder=builder, export_cache=export_cache, network=network
    )
    before = registry.blobs()
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=7200, check=False)
    build_s = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"buildx build of {tag} failed (log {log}):\n{text[-3000:]}")
    return Deploy(
        build_s=build_s,
        growth=new_blobs(before, registry.blobs()),
        layers=registry.layers(name, tag),
        steps_cached={label: step_cached(text, needle) for label, needle in steps.items()},
        extract_s=sum(float(x) for x in EXTRACTING.findall(text)),
        log=str(log),
    )
