"""What every `python -m infra` command does with bad input: one line naming the input and
the fix, a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from infra.cli import main


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
