"""A throwaway Docker registry on loopback, for the registry-cache test and bench/cold_deploy.py.

Debian's `docker-registry` package (distribution 2.8: `docker-registry serve CONFIG`) serves a
filesystem store on 127.0.0.1:<free port>. Docker treats registries on 127.0.0.0/8 as insecure
(plain HTTP) without any daemon configuration, so `docker push 127.0.0.1:PORT/name:tag` and
`docker build --cache-from 127.0.0.1:PORT/name:tag` work as they would against Artifact
Registry. What a push uploaded is read two ways: from the push's own output (which layers it
pushed, and their compressed sizes from the manifest), and from the registry's store (the blobs
that appeared under docker/registry/v2/blobs).

Also here: a throwaway base image (the stack's base plus a unique LABEL), which gives every
build step a cache key no other build shares, and a reader of BuildKit's plain progress log.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.real_app import pass_log, timed_build_parts
from infra.local.build_spec import BuildSpec
from infra.local.run import Docker, free_port

REGISTRY_BINARY = "docker-registry"
INLINE_CACHE_KEY = "moby.buildkit.cache.v0"  # where BuildKit writes it in the image config
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class RegistryError(RuntimeError):
    """The registry did not start, or answered something unexpected."""


def registry_binary() -> str | None:
    """The registry's executable (Debian: /usr/bin/docker-registry), or None."""
    return shutil.which(REGISTRY_BINARY) or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").is_file() else None
    )


@dataclass
class Registry:
    """A running registry: its address, its store, and the API calls the checks need."""

    port: int
    root: Path  # storage.filesystem.rootdirectory
    process: subprocess.Popen
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ref(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"

    def _get(self, path: str, accept: str | None = None) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        response = self.session.get(f"http://{self.host}{path}", headers=headers, timeout=30)
        if response.status_code != 200:
            raise RegistryError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
        return response

    def manifest(self, name: str, tag: str) -> dict:
        """The image manifest of name:tag (schema 2 or OCI, as pushed)."""
        return self._get(f"/v2/{name}/manifests/{tag}", ", ".join(MANIFEST_TYPES)).json()

    def layers(self, name: str, tag: str) -> list[tuple[str, int]]:
        """(compressed digest, compressed size) of each layer of name:tag, base first."""
        return [(layer["digest"], layer["size"]) for layer in self.manifest(name, tag)["layers"]]

    def config(self, name: str, tag: str) -> dict:
        """The image config of name:tag (rootfs.diff_ids: the layers' uncompressed digests)."""
        digest = self.manifest(name, tag)["config"]["digest"]
        return self._get(f"/v2/{name}/blobs/{digest}").json()

    def pushed_bytes(self, name: str, tag: str, result: Push) -> int:
        """Compressed bytes of the layers `result` (the push of name:tag) says it uploaded:
        docker names a layer by the start of its uncompressed digest (the config's diff_ids)."""
        diff_ids = self.config(name, tag)["rootfs"]["diff_ids"]
        return sum(
            size
            for (_, size), diff_id in zip(self.layers(name, tag), diff_ids, strict=True)
            if any(diff_id.split(":")[-1].startswith(short) for short in result.pushed)
        )

    def blobs(self) -> dict[str, int]:
        """Every blob in the store: digest -> bytes (layers, configs and manifests)."""
        found: dict[str, int] = {}
        base = self.root / "docker" / "registry" / "v2" / "blobs"
        for data in base.glob("*/*/*/data"):
            found[f"{data.parent.parent.parent.name}:{data.parent.name}"] = data.stat().st_size
        return found

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self.session.close()


def start_registry(
    workdir: Path, *, timeout: float = 30, attempts: int = 3, port: int | None = None
) -> Registry:
    """Start a registry storing under workdir/store, on `port` or a free loopback port; it
    answers GET /v2/ when this returns. RegistryError if it does not within `timeout` s."""
    binary = registry_binary()
    if binary is None:
        raise RegistryError(f"{REGISTRY_BINARY} is not installed (Debian: apt-get install it)")
    root = workdir / "store"
    root.mkdir(parents=True, exist_ok=True)
    problem = ""
    for _ in range(attempts):  # another process may take the free port first
        chosen = port or free_port()
        config = workdir / "config.yml"
        config.write_text(CONFIG.format(root=root, port=chosen))
        log = workdir / "registry.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C reaches the caller, which stops it
            )
        registry = Registry(chosen, root, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.RequestException):
                if registry.session.get(f"http://{registry.host}/v2/", timeout=2).ok:
                    return registry
            time.sleep(0.1)
        registry.stop()
        problem = log.read_text(errors="replace")[-1000:]
    raise RegistryError(f"the registry did not answer within {timeout:g} s:\n{problem}")


@contextlib.contextmanager
def local_registry(
    workdir: Path, *, timeout: float = 30, port: int | None = None
) -> Iterator[Registry]:
    """A registry for the duration of the block; stopped and its store removed after."""
    registry = start_registry(workdir, timeout=timeout, port=port)
    try:
        yield registry
    finally:
        registry.stop()
        shutil.rmtree(registry.root, ignore_errors=True)


# --------------------------------------------------------------------------- docker


def docker(*args: str, timeout: float = 1800, stdin: str | None = None) -> str:
    """One docker CLI call (BuildKit on); RuntimeError with its stderr on failure."""
    try:
        proc = subprocess.run(
            ["docker", *args],
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"docker {' '.join(args[:2])} took over {timeout:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def build(
    spec: BuildSpec, tag: str, network: str | None, log: Path, timeout: float = 3600
) -> tuple[float, str, str]:
    """Build `tag` through the build spec as the bench does (bench/real_app.timed_build_parts:
    cache images pulled first, every build pass): (seconds, the pulls' and the first pass's
    plain progress log, the last pass's log)."""
    timed = timed_build_parts(spec, tag, network, log, timeout=timeout)
    last = pass_log(log, spec.build_passes)
    return timed.total_s, log.read_text(errors="replace"), last.read_text(errors="replace")


def unique_base(base: str, tag: str, network: str | None) -> str:
    """`base` plus a layer of its own (a 33-byte file naming the run), tagged `tag`: every step
    built on it has a cache key no other build shares. A LABEL alone is not enough: it changes
    the config digest but not the layers, and an engine that already built the same steps on
    `base` (the image tests' session image) found them CACHED."""
    argv = ["build", "--quiet", "--tag", tag]
    if network:
        argv += ["--network", network]
    run = uuid.uuid4().hex
    dockerfile = f"FROM {base}\nLABEL run={run}\nRUN echo {run} > /etc/emergence-bench-run\n"
    docker(*argv, "-", stdin=dockerfile, timeout=300)
    return tag


@dataclass(frozen=True)
class Push:
    """What `docker push` said: the layers it uploaded and those the registry already had
    (short ids as printed), and the digest of the manifest."""

    pushed: tuple[str, ...]
    existed: tuple[str, ...]
    digest: str


def push(ref: str, timeout: float = 1800) -> Push:
    out = docker("push", ref, timeout=timeout)
    pushed = tuple(re.findall(r"^(\w+): Pushed$", out, re.MULTILINE))
    existed = tuple(re.findall(r"^(\w+): Layer already exists$", out, re.MULTILINE))
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    return Push(pushed, existed, match.group(1) if match else "")


def prune_since(engine: Docker, before: set[str]) -> int:
    """Remove the build cache records created since `before`; returns how many are left (in
    use): the bench checks a fresh runner is fresh."""
    engine.prune_build_cache_since(before)
    return len(engine.build_cache_ids() - before)


def dangling_images() -> set[str]:
    """The ids of the untagged images: a build pass whose tag the next pass took leaves one, and
    it holds every layer a fresh runner must not have."""
    out = docker("images", "--filter", "dangling=true", "--quiet", "--no-trunc", timeout=120)
    return set(out.split())


def remove_images(*refs: str) -> None:
    for ref in refs:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            docker("image", "rm", "--force", ref, timeout=300)


# --------------------------------------------------------------------------- build logs


def step_cached(progress: str, needle: str) -> bool:
    """Whether the Dockerfile step whose line in a BuildKit `--progress=plain` log contains
    `needle` was CACHED; AssertionError if no step does (a renamed step must not pass a check
    silently)."""
    numbers = {
        match.group(1)
        for match in re.finditer(r"^#(\d+) \[[^\]]+\] (.*)$", progress, re.MULTILINE)
        if needle in " ".join(match.group(2).split())
    }
    if not numbers:
        raise AssertionError(f"no step containing {needle!r} in the build log")
    return all(re.search(rf"^#{number} CACHED$", progress, re.MULTILINE) for number in numbers)


def steps_run(progress: str) -> list[str]:
    """The Dockerfile steps a BuildKit `--progress=plain` log shows run, not CACHED (its FROM and
    BuildKit's [internal] steps aside): what a build pass did besides exporting."""
    ran = []
    for match in re.finditer(r"^#(\d+) \[([^\]]+)\] (.*)$", progress, re.MULTILINE):
        number, stage, line = match.groups()
        if stage == "internal" or line.startswith("FROM "):
            continue
        if not re.search(rf"^#{number} CACHED$", progress, re.MULTILINE) and line not in ran:
            ran.append(line)
    return ran


def recorded_layers(config: Mapping) -> set[int]:
    """The layers (positions in the image, base first) whose build step the image's inline
    cache records: the steps a build that takes its cache from this image can reuse."""
    raw = config.get(INLINE_CACHE_KEY)
    if not raw:
        return set()
    records = json.loads(base64.b64decode(raw))
    return {entry["layer"] for record in records for entry in record.get("layers") or []}


def layer_count(ref: str) -> int:
    """How many layers the local image `ref` has."""
    out = docker("image", "inspect", ref, "--format", "{{json .RootFS.Layers}}", timeout=120)
    return len(json.loads(out))


def new_blobs(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """Bytes of the blobs in `after` that were not in `before`."""
    return sum(size for digest, size in after.items() if digest not in before)
