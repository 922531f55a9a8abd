"""What every `python -m infra` command does with bad input: one line naming the input and
the fix, a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.cli import main
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--stack", "nope"],
        ["plan", "--json", "--stack", "nope"],
        ["verify", "http://127.0.0.1:9", "--stack", "nope"],
        ["revisions", "--stack", "nope"],
        ["phase2", "--stack", "nope", "--file", "tests/data/phase2/before.jsonl"],
        ["adopt", "--stack", "nope"],
    ],
)
def test_a_missing_stack_is_one_line_naming_the_file_and_the_fix(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Pulumi.nope.yaml" in err
    assert "stacks here: prod" in err
    assert "pulumi stack init nope" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--json"],
        ["phase2", "--file", "tests/data/phase2/before.jsonl"],
    ],
)
def test_a_reader_that_goes_away_is_no_traceback(argv):
    """`python -m infra plan --json | head -1`: the pipe closes before the output is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", *argv],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err.decode(), err.decode()
    assert "BrokenPipe" not in err.decode()
    assert proc.returncode == 141
