"""scripts/policy-venv.sh: the policy pack's requirements go where `--policy-pack` will run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "policy-venv.sh"


def _run(pack: Path, path_prefix: Path | None = None) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash
    path = os.environ.get("PATH", "")
    if path_prefix is not None:
        path = f"{path_prefix}{os.pathsep}{path}"
    return subprocess.run(
        [bash, str(SCRIPT), str(pack)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=path, PYTHON=sys.executable),
        timeout=300,
        check=False,
    )


def _pack(tmp_path: Path, policy_yaml: str, requirements: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(policy_yaml)
    (pack / "requirements.txt").write_text(requirements)
    return pack


def test_installs_into_the_virtualenv_the_pack_names(tmp_path):
    # PyYAML at the program's own pin: already in the local pip cache, so no download.
    pin = next(
        line
        for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
        if line.lower().startswith("pyyaml==")
    )
    pack = _pack(
        tmp_path,
        "runtime:\n  name: python\n  options:\n    virtualenv: venv\nversion: 0.1.0\n",
        pin + "\n",
    )
    proc = _run(pack)
    assert proc.returncode == 0, proc.stderr
    python = pack / "venv" / "bin" / "python"
    assert python.exists()
    check = subprocess.run(
        [str(python), "-c", "import sys, yaml; print(sys.prefix, yaml.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    prefix, version = check.stdout.split()
    assert Path(prefix).resolve() == (pack / "venv").resolve()
    assert version == pin.split("==")[1]
    # A second run reuses the venv (safe to run again).
    again = _run(pack)
    assert again.returncode == 0, again.stderr


def test_without_a_virtualenv_installs_for_the_python3_pulumi_will_run(tmp_path):
    pack = _pack(tmp_path, "runtime: python\nversion: 0.1.0\n", "pulumi-policy==1.21.0\n")
    shims = tmp_path / "bin"
    shims.mkdir()
    log = tmp_path / "python3.log"
    shim = shims / "python3"
    shim.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    shim.chmod(0o755)
    proc = _run(pack, path_prefix=shims)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().split() == [
        "-m",
        "pip",
        "install",
        "--quiet",
        "-r",
        f"{pack}/requirements.txt",
    ]
    assert "names no virtualenv" in proc.stderr


def test_refuses_a_directory_that_is_not_a_policy_pack(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 1
    assert f"{tmp_path}/PulumiPolicy.yaml not found" in proc.stderr


def test_refuses_a_pack_without_requirements(tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n")
    proc = _run(pack)
    assert proc.returncode == 1
    assert "requirements.txt not found" in proc.stderr
