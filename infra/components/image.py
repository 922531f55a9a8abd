"""The app image: built from the shared build spec with BuildKit, pushed to Artifact Registry.

Cloud Run gets `repo_digest` (`...@sha256:...`), never the tag: a tag is mutable and gives no
diff, the digest changes exactly when the image does.

The layer cache comes from the registry: the build records BuildKit's inline cache in the image
and takes it from `spec.cache_from` (the repository's previous image, infra/preflight/cache.py).
pulumi-docker pulls those images with the registry credentials below before building, so a fresh
CI runner rebuilds and pushes only the layers whose inputs changed. With a cache the build runs
twice, as `BuildSpec.build_passes` says: `<name>-cache-pass` (not pushed), then `<name>-image`,
all steps cached locally, whose image records every step for the next deploy. A preview builds
nothing (`build_on_preview=False`): nothing it could push, no registry traffic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.components.options import child_options
from infra.config import Settings
from infra.local.build_spec import BuildSpec, build_spec

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")


@dataclass
class AppImageArgs:
    spec: BuildSpec
    registry_server: str  # <region>-docker.pkg.dev
    repository_url: pulumi.Input[str]  # <region>-docker.pkg.dev/<project>/<repository>
    image_name: str  # emergence-app
    tag: str
    registry_password: pulumi.Input[str] = field(repr=False)  # an OAuth token, as a secret

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        repository_url: pulumi.Input[str],
        tag: str,
        registry_password: pulumi.Input[str],
        *,
        context: Path | None = None,
        cache_from: tuple[str, ...] = (),
    ) -> AppImageArgs:
        """`context`: the build context staged from the app's source; `cache_from`: the images
        to take the layer cache from (both settled by infra/preflight)."""
        return cls(
            spec=build_spec(settings.image, context, cache_from),
            registry_server=settings.registry_host,
            repository_url=repository_url,
            image_name=settings.image.image_name,
            tag=tag,
            registry_password=registry_password,
        )


class AppImage(pulumi.ComponentResource):
    image: docker.Image
    repo_digest: pulumi.Output[str]
    image_name: pulumi.Output[str]

    def __init__(self, name: str, args: AppImageArgs, opts: pulumi.ResourceOptions | None = None):
        if not _TAG.match(args.tag):
            raise ValueError(f"AppImage: {args.tag!r} is not a valid Docker tag")
        if args.spec.platform != "linux/amd64":
            raise ValueError("AppImage: Cloud Run runs linux/amd64 images")
        if not _IMAGE_NAME.match(args.image_name):
            raise ValueError(f"AppImage: {args.image_name!r} is not a Docker image name")
        if not args.registry_server.endswith("-docker.pkg.dev"):
            raise ValueError(f"AppImage: {args.registry_server!r} is not Artifact Registry")
        for ref in args.spec.cache_from:
            if not ref.startswith(args.registry_server + "/"):
                raise ValueError(
                    f"AppImage: cache image {ref!r} is not in {args.registry_server} (the build "
                    "has credentials for that registry only)"
                )
        super().__init__("emergence:image:AppImage", name, None, opts)
        image_name = pulumi.Output.concat(args.repository_url, "/", args.image_name, ":", args.tag)
        build = docker.DockerBuildArgs(
            context=args.spec.relative(args.spec.context),
            dockerfile=args.spec.relative(args.spec.dockerfile),
            platform=args.spec.platform,
            target=args.spec.target,
            args=args.spec.all_build_args,
            builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
            cache_from=(
                docker.CacheFromArgs(images=list(args.spec.cache_from))
                if args.spec.cache_from
                else None
            ),
        )
        registry = docker.RegistryArgs(
            server=args.registry_server,
            username="oauth2accesstoken",
            password=pulumi.Output.secret(args.registry_password),
        )
        # With a registry cache the build runs twice (BuildSpec.build_passes): this first pass
        # takes the layers from the registry and stays local; the pushed build below finds every
        # step in the local cache and records all of them in its inline cache.
        # Both passes build the same thing, so the second finds every step in the local cache.
        same = {
            "image_name": image_name,
            "build": build,
            "build_on_preview": False,
            "registry": registry,
        }
        self.cache_pass: docker.Image | None = None
        if args.spec.build_passes > 1:
            self.cache_pass = docker.Image(
                f"{name}-cache-pass", **same, skip_push=True, opts=child_options(self, opts)
            )
        self.image = docker.Image(
            f"{name}-image",
            **same,
            opts=child_options(self, opts).merge(
                pulumi.ResourceOptions(depends_on=[self.cache_pass] if self.cache_pass else None)
            ),
        )
        self.repo_digest = self.image.repo_digest
        self.image_name = self.image.image_name
        self.register_outputs({"repo_digest": self.repo_digest, "image_name": self.image_name})
