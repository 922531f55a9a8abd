"""Every command that reads a stack file refuses a hostile or mistyped one the same way: one
line naming the key (or the file) and the fix, exit 2, no traceback, nothing touched."""

from __future__ import annotations

import os
import time

import pytest

from infra.cli import main
from infra.config import PROJECT_DIR
from tests.settings.test_stack_file import billion_laughs

STACK = f"tst-hostile-{os.getpid()}"
PROD = (PROJECT_DIR / "Pulumi.prod.yaml").read_text(encoding="utf-8")

COMMANDS = [
    ["plan"],
    ["plan", "--json"],
    ["verify", "http://127.0.0.1:9", "--no-admin"],
    ["revisions"],
    ["phase2", "--file", "tests/data/phase2/before.jsonl"],
    ["adopt"],
    ["local"],
]
CASES = {
    "typo": (
        "  emergence-cloudrun:smtpPasword: x\n",
        "did you mean emergence-cloudrun:smtpPassword?",
    ),
    "billion-laughs": (billion_laughs(), "uses a YAML anchor or alias"),
    "binary": ("  emergence-cloudrun:buildTarget: !!binary aGVsbG8=\n", "holds a !!binary value"),
    "set": ("  emergence-cloudrun:buildTarget: !!set {a, b}\n", "holds a !!set value"),
    "null": ("  emergence-cloudrun:buildTarget:\n", "emergence-cloudrun:buildTarget: has no value"),
    "duplicate": ("  gcp:region: europe-west4\n", "writes the key 'gcp:region' twice"),
    "malformed-secure": (
        "  emergence-cloudrun:smtpPassword:\n    secure: tst-typed-Pw-1\n",
        "is not a ciphertext the Pulumi CLI writes",
    ),
}


@pytest.fixture(params=sorted(CASES))
def hostile_stack(request):
    """A stack file beside Pulumi.prod.yaml: prod's settings plus one hostile line."""
    extra, expected = CASES[request.param]
    path = PROJECT_DIR / f"Pulumi.{STACK}.yaml"
    path.write_text(PROD + extra, encoding="utf-8")
    try:
        yield expected
    finally:
        path.unlink()


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_every_command_refuses_it_in_one_line_naming_the_fix(hostile_stack, argv, capsys):
    started = time.monotonic()
    code = main([*argv, "--stack", STACK])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: invalid setting for stack '{STACK}'")
    assert hostile_stack in err
    assert "Traceback" not in err and "tst-typed-Pw-1" not in err
    assert "--stack" in err or "Fix: correct" in err
    assert elapsed < 60  # a guard against a hang, not a speed goal (bench/ measures speed)
