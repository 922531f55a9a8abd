"""The cold-deploy steps on a BuildKit builder of its own, with a registry cache
(`bench/cold_deploy.py --builder NAME`; infra/local/build_spec.BuildSpec.buildx_build_command).

The builder is any `docker buildx` builder that can export a registry cache: on a GitHub
runner, `docker buildx create --name ci --driver docker-container` (docker/setup-buildx-action);
on a machine without Docker Hub, a BuildKit daemon started by hand and added with `docker buildx
create --name ci --driver remote unix:///path/buildkitd.sock`. Its buildkitd.toml must let it
speak plain HTTP to the bench's registry (`[registry."127.0.0.1:5123"] http = true`, with
`--registry-port 5123`). With `DOCKER_SANDBOX_NETWORK=host` the builds run on the host network,
which the daemon must allow (`buildkitd --allow-insecure-entitlement network.host`;
docker-container: `--buildkitd-flags`).

A fresh runner is a builder whose cache is pruned (`docker buildx prune --all --force`): the
base image is pulled again, as a new docker-container builder pulls it. The image is pushed
from the builder, so a deploy's time is its build and push together. The base must be in a
registry the builder reaches: the bench pushes the stack's base, with a layer of its own, to
the local registry first.
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


def fresh_builder(builder: str) -> None:
    """A new runner's builder: no cache record, no layer, no base image."""
    docker("buildx", "prune", "--builder", builder, "--all", "--force", timeout=600)


def check_builder(builder: str) -> str | None:
    """Why `builder` cannot run the bench (None: it can)."""
    try:
        out = docker("buildx", "inspect", builder, "--bootstrap", timeout=300)
    except RuntimeError as exc:
        return f"docker buildx builder {builder!r}: {str(exc).splitlines()[-1]}"
    driver = re.search(r"^Driver:\s*(\S+)", out, re.MULTILINE)
    if driver and driver.group(1) == "docker":
        return (
            f"builder {builder!r} uses the docker driver, which exports no registry cache: "
            "create one with --driver docker-container (or remote)"
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
    builder: str,
    cache_ref: str | None,
    export_cache: bool = True,
    network: str | None,
    steps: dict[str, str],
    log: Path,
) -> Deploy:
    argv = spec.buildx_build_command(
        registry.ref(name, tag), builder=builder, cache_ref=cache_ref,
        export_cache=export_cache, network=network,
    )  # fmt: skip
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
