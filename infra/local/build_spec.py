"""The one description of how the app image is built.

The Pulumi image resource (infra/components/image.py), the local run (`python -m infra local`)
and `bench/real_app.py` all use it, so what runs on a laptop is what `pulumi up` pushes: the
build context staged from the app's source (infra/preflight/source.py: only the allow-list),
the Dockerfile, `linux/amd64`, the stack's `buildArgs` and target, and the registry cache.

The cache: every build records BuildKit's inline cache in the image (`BUILDKIT_INLINE_CACHE=1`:
the cache keys of the final stage's layers, a few KB in the image config), and `cache_from`
names images to take it from. A fresh CI runner has no layer cache; given the previous image
of the repository it reuses every layer whose inputs did not change (the Dockerfile builds
everything in its final stage for this) and pushes only the new ones. The cache images are
pulled before the build, as pulumi-docker does: BuildKit's lazy use of a remote inline cache
writes an inline cache without the reused layers into the new image, so every other deploy
would miss (moby/buildkit#1981, #3730; bench/cold_deploy.py measured it here), while a build
from the pulled image records a cache the next one hits.

A build that took steps from a registry cache runs a second time (`build_passes`): the first
pass writes an inline cache that records a random subset of the steps it reused (Docker
20.10's BuildKit: 13 of 15 such builds measured here, vfs and overlay2, recorded only 4 to 6 of
the 7 steps), so a later change in the middle of the Dockerfile, a requirements change, would
rebuild CPU torch too when torch's record is the one missing. The second pass, with every step
now in the local cache, takes a fraction of a second and writes the same layers with every
step recorded (7 of 7 in each of the 28 measured); that image is the one pushed.

The other route (`buildx_build_command`, measured by `bench/cold_deploy.py --builder`, not yet
what `pulumi up` runs): a BuildKit builder of its own (`docker buildx create --driver
docker-container`, what a GitHub runner's docker/setup-buildx-action makes) with a registry
cache (`type=registry,mode=max`: every step's layer, in a tag of the repository) and the image
pushed from the builder. Docker 20.10's own BuildKit can neither export that cache nor push
without loading the image into Docker's store first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import PROJECT_DIR, ImageSettings

# BuildKit's built-in build argument: write the cache metadata into the image (no ARG needed).
INLINE_CACHE_ARG = "BUILDKIT_INLINE_CACHE"


@dataclass(frozen=True)
class BuildSpec:
    context: Path  # absolute
    dockerfile: Path  # absolute
    platform: str = "linux/amd64"
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    cache_from: tuple[str, ...] = ()  # images whose inline cache the build may reuse

    @property
    def all_build_args(self) -> dict[str, str]:
        """The stack's build arguments and the one that records the inline cache."""
        return {**self.build_args, INLINE_CACHE_ARG: "1"}

    def relative(self, path: Path, root: Path = PROJECT_DIR) -> str:
        """Paths as pulumi-docker wants them: relative to Pulumi.yaml, so state is portable."""
        return os.path.relpath(path, root)

    @property
    def build_passes(self) -> int:
        """How many times the build runs: twice when it takes a registry cache (the second
        pass, all cached, writes the complete inline cache; see the module's docstring)."""
        return 2 if self.cache_from else 1

    def cache_pull_commands(self) -> list[list[str]]:
        """`docker pull` of each cache image, run before the build (a failure is not fatal:
        the build then starts cold), as pulumi-docker pulls its cacheFrom images."""
        return [["docker", "pull", "--platform", self.platform, ref] for ref in self.cache_from]

    def docker_build_command(
        self, tag: str, *, network: str | None = None, progress: str = "plain"
    ) -> list[str]:
        """`docker build` (BuildKit) arguments equivalent to what pulumi-docker runs."""
        argv = ["docker", "build", f"--progress={progress}", "--platform", self.platform]
        argv += ["--file", str(self.dockerfile), "--tag", tag]
        if self.target:
            argv += ["--target", self.target]
        for name, value in sorted(self.all_build_args.items()):
            argv += ["--build-arg", f"{name}={value}"]
        for image in self.cache_from:
            argv += ["--cache-from", image]
        if network:
            argv += ["--network", network]
        argv.append(str(self.context))
        return argv

    def buildx_build_command(
        self,
        tag: str,
        *,
        builder: str,
        cache_ref: str | None,
        export_cache: bool = True,
        network: str | None = None,
        progress: str = "plain",
    ) -> list[str]:
        """`docker buildx build` of the same inputs on `builder`, pushed from the builder, with
        the registry cache at `cache_ref` read and, with `export_cache`, rewritten (None: no
        cache; a ref that does not exist yet, the first deploy, only warns). No provenance
        attestation (buildx adds one by default): the pushed manifest stays one linux/amd64
        image, as `docker push` makes it."""
        argv = ["docker", "buildx", "build", "--builder", builder, f"--progress={progress}"]
        argv += ["--platform", self.platform, "--file", str(self.dockerfile), "--tag", tag]
        if self.target:
            argv += ["--target", self.target]
        for name, value in sorted(self.build_args.items()):
            argv += ["--build-arg", f"{name}={value}"]
        if cache_ref:
            argv += ["--cache-from", f"type=registry,ref={cache_ref}"]
            if export_cache:
                argv += ["--cache-to", f"type=registry,ref={cache_ref},mode=max"]
        if network:
            argv += ["--network", network]
        argv += ["--provenance=false", "--push", str(self.context)]
        return argv


def build_spec(
    image: ImageSettings, context: Path | None = None, cache_from: tuple[str, ...] = ()
) -> BuildSpec:
    """The spec for `image`; `context` is the staged build context (default: the setting's
    path, as a preview without the app's checkout declares it); `cache_from` the images to
    take the layer cache from (infra/preflight/cache.py finds the previous one)."""
    return BuildSpec(
        context=context or image.context,
        dockerfile=image.dockerfile,
        platform=image.platform,
        target=image.target or None,
        build_args=image.args,
        cache_from=tuple(cache_from),
    )
