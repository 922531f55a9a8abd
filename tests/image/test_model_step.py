"""The Dockerfile's model step (app_image/image/model.py), run as the build runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.image_helpers import APP_IMAGE

SCRIPT = APP_IMAGE / "image" / "model.py"
REV = "0123456789abcdef0123456789abcdef01234567"


def run(cache, **env):
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(cache)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=60,
        check=False,
    )


def make_cache(root, model="org/name", refs=("main",)):
    repo = root / ("models--" + model.replace("/", "--"))
    (repo / "snapshots" / REV).mkdir(parents=True)
    (repo / "snapshots" / REV / "config.json").write_text("{}")
    for ref in refs:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(REV)
    return repo


def test_no_model_is_nothing_to_do(tmp_path):
    proc = run(tmp_path / "hub")
    assert proc.returncode == 0 and proc.stdout == ""
    assert (tmp_path / "hub").is_dir()


def test_a_copied_cache_holding_the_model_is_accepted(tmp_path):
    make_cache(tmp_path)
    proc = run(tmp_path, HF_MODEL="org/name", HF_CACHE_DIR=".hf-cache")
    assert proc.returncode == 0, proc.stderr
    assert f"org/name@main baked in at {tmp_path}/models--org--name/snapshots/{REV}" in proc.stdout


@pytest.mark.parametrize(
    ("model", "refs", "message"),
    [
        ("org/other", ("main",), "holds no snapshot of org/other@main"),
        ("org/name", (), "holds no snapshot of org/name@main (want models--org--name"),
        ("no-org", ("main",), "HF_MODEL='no-org' is not a hub repository id"),
    ],
)
def test_a_cache_without_the_model_fails_the_build_with_one_line(tmp_path, model, refs, message):
    make_cache(tmp_path, refs=refs)
    proc = run(tmp_path, HF_MODEL=model, HF_CACHE_DIR=".hf-cache")
    assert proc.returncode == 1
    assert proc.stderr.startswith("model: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_pinned_commit_is_what_the_app_loads_as_main(tmp_path):
    repo = make_cache(tmp_path, refs=())
    proc = run(tmp_path, HF_MODEL="org/name", HF_MODEL_REVISION=REV, HF_CACHE_DIR="c")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "refs" / "main").read_text() == REV
