"""The one description of how the app image is built.

The Pulumi image resource (infra/components/image.py), the local run (`python -m infra local`)
and `bench/real_app.py` all use it, so what runs on a laptop is what `pulumi up` pushes: the
build context staged from the app's source (infra/preflight/source.py: only the allow-list),
the Dockerfile, `linux/amd64`, the stack's `buildArgs` and target.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import PROJECT_DIR, ImageSettings


@dataclass(frozen=True)
class BuildSpec:
    context: Path  # absolute
    dockerfile: Path  # absolute
    platform: str = "linux/amd64"
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)

    def relative(self, path: Path, root: Path = PROJECT_DIR) -> str:
        """Paths as pulumi-docker wants them: relative to Pulumi.yaml, so state is portable."""
        return os.path.relpath(path, root)

    def docker_build_command(
        self, tag: str, *, network: str | None = None, progress: str = "plain"
    ) -> list[str]:
        """`docker build` (BuildKit) arguments equivalent to what pulumi-docker runs."""
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


def build_spec(image: ImageSettings, context: Path | None = None) -> BuildSpec:
    """The spec for `image`; `context` is the staged build context (default: the setting's
    path, as a preview without the app's checkout declares it)."""
    return BuildSpec(
        context=context or image.context,
        dockerfile=image.dockerfile,
        platform=image.platform,
        target=image.target or None,
        build_args=image.args,
    )
