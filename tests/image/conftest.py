"""The reference image, built once per session for every image test (Docker)."""

from __future__ import annotations

import os
import subprocess

import pytest

from infra.config import load_stack_settings
from infra.local.build_spec import build_spec
from infra.preflight import source as app_source
from tests.image_helpers import remove_images, unique

REFERENCE = load_stack_settings("reference", supplied_secrets=("smtpPassword",)).image


@pytest.fixture(scope="session")
def app_image(docker_engine, image_build_cache):
    """The app image, built with the reference stack's build spec (staged as `pulumi up`
    stages it); removed at the end."""
    staged = app_source.stage(REFERENCE)
    spec = build_spec(REFERENCE, staged.context)
    tag = unique("emergence-test") + ":image"
    argv = spec.docker_build_command(tag, network=docker_engine["network"] or None)
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    yield tag
    remove_images(tag)
