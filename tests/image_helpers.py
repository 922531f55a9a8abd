"""Helpers for the tests that build and run the image with a real Docker engine.

Names are unique per run (the engine is shared with other engineers); every helper that starts
something has a matching remover, called from fixtures' finalisers.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import subprocess
import tarfile
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from tests.conftest import PROJECT_ROOT

APP_IMAGE = PROJECT_ROOT / "app_image"
BROKEN_APPS = PROJECT_ROOT / "tests" / "data" / "broken_apps"


def app_smtp_env(password: str) -> dict[str, str]:
    """A complete set of the app's SMTP variables (EMAIL_ENABLED=1) with `password`."""
    return {
        "EMAIL_ENABLED": "1",
        "SMTP_HOST": "smtp.gmail.com",
        "SMTP_PORT": "587",
        "SMTP_USER": "sender@example.com",
        "SMTP_FROM_EMAIL": "sender@example.com",
        "SMTP_FROM_NAME": "ÉMERGENCE",
        "SMTP_USE_TLS": "1",
        "SMTP_PASSWORD": password,
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def docker(
    *args: str,
    check: bool = True,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "1", **(env or {})},
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed: {proc.stderr[-2000:]}")
    return proc


def build(
    context: Path,
    tag: str,
    *,
    network: str,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """`docker build` (BuildKit): (image id, the build's progress log)."""
    argv = ["build", "--progress=plain", "--tag", tag]
    if dockerfile is not None:
        argv += ["--file", str(dockerfile)]
    for name, value in (build_args or {}).items():
        argv += ["--build-arg", f"{name}={value}"]
    if network:
        argv += ["--network", network]
    proc = docker(*argv, str(context))
    return image_id(tag), proc.stdout + proc.stderr


def rebuilt_steps(progress: str) -> list[str]:
    """The Dockerfile steps a BuildKit `--progress=plain` log shows as run, not CACHED
    (FROM lines only resolve the base image: not steps)."""
    names: dict[str, str] = {}
    cached: set[str] = set()
    for line in progress.splitlines():
        match = re.match(r"^#(\d+) (\[[^\]]+\] .*)$", line)
        if match and not match.group(2).startswith("[internal]") and "] FROM " not in line:
            names.setdefault(match.group(1), match.group(2))
        match = re.match(r"^#(\d+) CACHED$", line)
        if match:
            cached.add(match.group(1))
    return [name for step, name in names.items() if step not in cached]


def image_id(ref: str) -> str:
    return docker("image", "inspect", ref, "--format", "{{.Id}}").stdout.strip()


def image_layers(ref: str) -> list[str]:
    return json.loads(docker("image", "inspect", ref, "--format", "{{json .RootFS.Layers}}").stdout)


def remove_images(*refs: str) -> None:
    for ref in refs:
        docker("image", "rm", "--force", ref, check=False)


def run_detached(
    image: str,
    name: str,
    *,
    network: str,
    port: int,
    env: Mapping[str, str],
    extra: Sequence[str] = (),
) -> None:
    """Start `image` serving on 127.0.0.1:`port` with `env` passed through the client's
    environment (`-e NAME`), as `infra local` does."""
    argv = ["run", "--detach", "--name", name, *extra]
    if network:
        argv += ["--network", network]
        env = {**env, "PORT": str(port)}
    else:
        argv += ["--publish", f"127.0.0.1:{port}:8080"]
        env = {**env, "PORT": "8080"}
    for key in env:
        argv += ["--env", key]
    docker(*argv, image, env=env)


def container_exists(name: str) -> bool:
    return docker("container", "inspect", name, check=False).returncode == 0


def container_state(name: str) -> dict:
    return json.loads(docker("container", "inspect", name, "--format", "{{json .State}}").stdout)


def remove_container(name: str) -> None:
    docker("rm", "--force", name, check=False)


def wait_healthy(base_url: str, name: str, timeout: float = 60) -> requests.Response:
    """First 200 from /api/health, or an AssertionError with the container's logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(base_url + "/api/health", timeout=2)
            if response.status_code == 200:
                return response
        except requests.RequestException:
            pass
        if not container_state(name).get("Running"):
            break
        time.sleep(0.1)
    logs = docker("logs", name, check=False)
    raise AssertionError(f"{name} never became healthy:\n{logs.stdout}{logs.stderr}")


# --------------------------------------------------------------------------- secret scans


def _scan_stream(stream, needle: bytes) -> bool:
    """Whether `needle` occurs in a byte stream (chunked, with overlap)."""
    tail = b""
    while chunk := stream.read(1 << 20):
        if needle in tail + chunk:
            return True
        tail = (tail + chunk)[-(len(needle) - 1) :] if len(needle) > 1 else b""
    return False


def _member_contains(data, needle: bytes) -> bool:
    """A member of `docker save`'s tar: raw (layer tars, JSON) or gzip/zstd-free compressed blob
    (OCI layouts from newer engines store gzipped layers): look inside either way."""
    head = data.read(2)
    if head == b"\x1f\x8b":  # gzip: decompress while scanning
        rest = _Prefixed(head, data)
        return _scan_stream(gzip.GzipFile(fileobj=rest), needle)
    return _scan_stream(_Prefixed(head, data), needle)


class _Prefixed:
    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head + self.stream.read(max(size - len(head), 0) if size > 0 else -1)
        return self.stream.read(size)


def where_image_holds(ref: str, value: str) -> list[str]:
    """Which parts of image `ref` contain `value`: its config (`docker image inspect`), its
    history (`docker history --no-trunc`, build args and commands) or any file of any layer
    (`docker save`, every member scanned, compressed ones decompressed). [] means nowhere."""
    needle = value.encode()
    found = []
    if value in docker("image", "inspect", ref).stdout:
        found.append("config")
    if value in docker("history", "--no-trunc", ref).stdout:
        found.append("history")
    proc = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                data = archive.extractfile(member)
                try:
                    if data is not None and _member_contains(data, needle):
                        found.append(f"layer file {member.name}")
                except (OSError, EOFError, zlib.error):
                    found.append(f"unreadable member {member.name}")
    finally:
        proc.stdout.close()
        rc = proc.wait(timeout=300)
    assert rc == 0, f"docker save {ref} failed ({rc})"
    return found


# --------------------------------------------------------------------------- fake packages


def make_wheel(directory: Path, name: str, version: str, module_source: str) -> Path:
    """A minimal pure-Python wheel `<name>-<version>-py3-none-any.whl` with one package."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}/__init__.py": module_source,
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
