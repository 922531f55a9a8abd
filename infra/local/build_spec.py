"""The one description of how the app image is built.

The Pulumi image resource (infra/components/image.py), the local run (`python -m infra local`)
and `bench/real_app.py` all use it, so what runs on a laptop is what `pulumi up` pushes: the
build context staged from the app's source (infra/preflight/source.py: only the allow-list),
the Dockerfile, `linux/amd64`, the stack's `buildArgs` and target, and the registry cache.

The cache is a registry cache (`cache_ref`, the repository's `buildcache` tag, see
`ImageSettings.cache_ref`): the builder reads it before building and writes it back after
(`mode=max`: every step's layer, as an OCI image manifest, which Artifact Registry stores like
any image). A fresh CI runner has no layer cache; given the registry cache it reuses every step
whose inputs did not change and pushes only the new layers, straight from the builder: a reused
layer is neither downloaded nor laid down unless a step that runs needs its files. That takes a
BuildKit builder that can export a registry cache: a docker-container builder (what a GitHub
runner's docker/setup-buildx-action makes) or Docker 24+ on the containerd image store. The
first deploy finds no cache (BuildKit warns and builds cold); a failed export only warns too
(`ignore-error`): the cache saves time and upload, it never stops a deploy.

Why not the inline cache (`BUILDKIT_INLINE_CACHE=1` and `--cache-from` the previous image, which
Docker's classic builder can do): the reused layers must be pulled and extracted into Docker's
image store before the build goes on, which bench/cold_deploy.py measured at 38-52 s for the
real app's 2.4 GB here, a cached deploy taking 0.35-0.45 of a cold one against 0.31 and less on
a builder with a registry cache; and Docker 20.10's BuildKit recorded a random subset of the
reused steps in the new image's inline cache, so every deploy built twice to keep it whole.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import PROJECT_DIR, ImageSettings

# The registry cache's export: every step (mode=max), as one OCI image manifest (registries
# that refuse an image index as a cache still take it), and a failed export only warns.
CACHE_TO = {"mode": "max", "image-manifest": True, "oci-mediatypes": True, "ignore-error": True}


@dataclass(frozen=True)
class BuildSpec:
    context: Path  # absolute
    dockerfile: Path  # absolute
    platform: str = "linux/amd64"
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    cache_ref: str | None = None  # the registry cache, read and written (None: no cache)

    def relative(self, path: Path, root: Path = PROJECT_DIR) -> str:
        """Paths as the Pulumi resource wants them: relative to Pulumi.yaml, so state is
        portable."""
        return os.path.relpath(path, root)

    def docker_build_command(
        self, tag: str, *, network: str | None = None, progress: str = "plain"
    ) -> list[str]:
        """`docker build` (BuildKit) of the same inputs into the local engine, no cache but the
        engine's own: what `python -m infra local` and the image tests run."""
        argv = ["docker", "build", f"--progress={progress}", "--platform", self.platform]
        argv += ["--file", str(self.dockerfile), "--tag", tag]
        if self.target:
            argv += ["--target", self.target]
        for name, value in sorted(self.build_args.items()):
            argv += ["--build-arg", f"{name}={value}"]
        if network:
            argv += ["--network", network]
        argv.append(str(self.context))
        return argv

    def buildx_build_command(
        self,
        tag: str,
        *,
        builder: str | None = None,
        export_cache: bool = True,
        network: str | None = None,
        progress: str = "plain",
    ) -> list[str]:
        """`docker buildx build` of what `pulumi up` builds (infra/components/image.py), on
        `builder` (None: buildx's current one), pushed from the builder, with the registry
        cache read and, with `export_cache`, rewritten. No provenance attestation (buildx adds
        one by default): the pushed manifest stays one linux/amd64 image, as Cloud Run takes
        it."""
        argv = ["docker", "buildx", "build"]
        if builder:
            argv += ["--builder", builder]
        argv += [f"--progress={progress}", "--platform", self.platform]
        argv += ["--file", str(self.dockerfile), "--tag", tag]
        if self.target:
            argv += ["--target", self.target]
        for name, value in sorted(self.build_args.items()):
            argv += ["--build-arg", f"{name}={value}"]
        if self.cache_ref:
            argv += ["--cache-from", f"type=registry,ref={self.cache_ref}"]
            if export_cache:
                attrs = ",".join(
                    f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                    for k, v in CACHE_TO.items()
                )
                argv += ["--cache-to", f"type=registry,ref={self.cache_ref},{attrs}"]
        if network:
            argv += ["--network", network]
        argv += ["--provenance=false", "--push", str(self.context)]
        return argv


def build_spec(image: ImageSettings, context: Path | None = None) -> BuildSpec:
    """The spec for `image`; `context` is the staged build context (default: the setting's
    path, as a preview without the app's checkout declares it). Its registry cache is the
    stack's (`buildCache`), as `pulumi up` builds."""
    return BuildSpec(
        context=context or image.context,
        dockerfile=image.dockerfile,
        platform=image.platform,
        target=image.target or None,
        build_args=image.args,
        cache_ref=image.cache_ref,
    )
