"""The app image: built from the shared build spec by a BuildKit builder, pushed to Artifact
Registry from the builder (pulumi-docker-build, the buildx library).

Cloud Run gets `repo_digest` (`...@sha256:...`), never the tag: a tag is mutable and gives no
diff, the digest changes exactly when the image does.

The layer cache lives in the registry (`spec.cache_ref`, the repository's `buildcache` tag): the
builder reads it before building and rewrites it after, every step's layer (`mode=max`), so a
fresh CI runner rebuilds and pushes only the layers whose inputs changed (infra/local/
build_spec.py says why not the inline cache). The builder is buildx's current one (on the
deploy runner, the docker-container builder docker/setup-buildx-action makes), which must be
able to export a registry cache: docker-container, or Docker 24+ on the containerd image store.
An unchanged commit has the same inputs and context hash: no diff, nothing built or pushed. A
preview builds nothing (`build_on_preview=False`): nothing it could push, no registry traffic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from infra.components.options import child_options
from infra.config import Settings
from infra.local.build_spec import CACHE_TO, BuildSpec, build_spec

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
    ) -> AppImageArgs:
        """`context`: the build context staged from the app's source (infra/preflight)."""
        return cls(
            spec=build_spec(settings.image, context),
            registry_server=settings.registry_host,
            repository_url=repository_url,
            image_name=settings.image.image_name,
            tag=tag,
            registry_password=registry_password,
        )


def cache_args(
    cache_ref: str | None,
) -> tuple[list[docker_build.CacheFromArgs] | None, list[docker_build.CacheToArgs] | None]:
    """The registry cache as pulumi-docker-build takes it: the same attributes as
    `BuildSpec.buildx_build_command` (CACHE_TO)."""
    if not cache_ref:
        return None, None
    cache_to = docker_build.CacheToRegistryArgs(
        ref=cache_ref,
        mode=docker_build.CacheMode(CACHE_TO["mode"]),
        image_manifest=CACHE_TO["image-manifest"],
        oci_media_types=CACHE_TO["oci-mediatypes"],
        ignore_error=CACHE_TO["ignore-error"],
    )
    return (
        [docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=cache_ref))],
        [docker_build.CacheToArgs(registry=cache_to)],
    )


class AppImage(pulumi.ComponentResource):
    image: docker_build.Image
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
        if args.spec.cache_ref and not args.spec.cache_ref.startswith(args.registry_server + "/"):
            raise ValueError(
                f"AppImage: cache {args.spec.cache_ref!r} is not in {args.registry_server} (the "
                "build has credentials for that registry only)"
            )
        super().__init__("emergence:image:AppImage", name, None, opts)
        repository = pulumi.Output.concat(args.repository_url, "/", args.image_name)
        image_name = pulumi.Output.concat(repository, ":", args.tag)
        cache_from, cache_to = cache_args(args.spec.cache_ref)
        self.image = docker_build.Image(
            f"{name}-image",
            tags=[image_name],
            context=docker_build.BuildContextArgs(location=args.spec.relative(args.spec.context)),
            dockerfile=docker_build.DockerfileArgs(
                location=args.spec.relative(args.spec.dockerfile)
            ),
            platforms=[docker_build.Platform(args.spec.platform)],
            target=args.spec.target,
            build_args=dict(args.spec.build_args),
            cache_from=cache_from,
            cache_to=cache_to,
            push=True,
            build_on_preview=False,
            registries=[
                docker_build.RegistryArgs(
                    address=args.registry_server,
                    username="oauth2accesstoken",
                    password=pulumi.Output.secret(args.registry_password),
                )
            ],
            opts=child_options(self, opts),
        )
        self.repo_digest = pulumi.Output.concat(repository, "@", self.image.digest)
        self.image_name = image_name
        self.register_outputs({"repo_digest": self.repo_digest, "image_name": self.image_name})
