"""A throwaway Docker registry on loopback, for the registry-cache test and bench/cold_deploy.py.

Debian's `docker-registry` package (distribution 2.8: `docker-registry serve CONFIG`) serves a
filesystem store on 127.0.0.1:<free port>. Docker treats registries on 127.0.0.0/8 as insecure
(plain HTTP) without any daemon configuration, so a builder pushes images and a registry cache to
`127.0.0.1:PORT/name:tag` as it would to Artifact Registry. What a deploy uploaded is read from
the registry: the layers of the pushed manifest, and the blobs that appeared in its store
(docker/registry/v2/blobs).

Also here: a throwaway base image (the stack's base plus a unique LABEL), which gives every
build step a cache key no other build shares, and a reader of BuildKit's plain progress log.
"""

from __future__ import annotations

import contextlib
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

from infra.local.run import free_port

REGISTRY_BINARY = "docker-registry"
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


# --------------------------------------------------------------------------- build logs


def step_cached(progress: str, needle: str) -> bool:
    """Whether the Dockerfile step whose line in a BuildKit `--progress=plain` log contains
    `needle` was reused from a cache rather than run; AssertionError if no step does (a renamed
    step must not pass a check silently). Reused: the step printed CACHED, or, when a later
    step that runs needs its files, its cached layers were downloaded and extracted under its
    number with no output of a process of its own (`#8 sha256:... 15.7MB / 229.2MB`,
    `#8 extracting sha256:...`, where a step that runs prints `#8 0.442 <output>`)."""
    numbers = {
        match.group(1)
        for match in re.finditer(r"^#(\d+) \[[^\]]+\] (.*)$", progress, re.MULTILINE)
        if needle in " ".join(match.group(2).split())
    }
    if not numbers:
        raise AssertionError(f"no step containing {needle!r} in the build log")
    return all(_reused(progress, number) for number in numbers)


def _reused(progress: str, number: str) -> bool:
    if re.search(rf"^#{number} CACHED$", progress, re.MULTILINE):
        return True
    ran = re.search(rf"^#{number} \d+\.\d+ ", progress, re.MULTILINE)
    loaded = re.search(rf"^#{number} (?:extracting )?sha256:[0-9a-f]{{64}}", progress, re.MULTILINE)
    return bool(loaded) and not ran


def new_blobs(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """Bytes of the blobs in `after` that were not in `before`."""
    return sum(size for digest, size in after.items() if digest not in before)
