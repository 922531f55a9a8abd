"""The README's `python -m infra` commands exist, with the flags it shows.

Every occurrence (code blocks, inline code, the commands table) is parsed by the CLI's own
parser, so a renamed command or flag cannot leave the README behind. Outputs shown in the README
are pinned where they are produced: tests/test_cli_phase2.py (the Phase 2 example),
tests/test_policy_pack.py (the policy tables and config), tests/test_config.py (the settings
table).
"""

from __future__ import annotations

import re
import shlex

import pytest

from infra.cli import COMMANDS, _parser
from tests.conftest import PROJECT_ROOT

# Placeholders the README writes in usage lines, and a value of the right shape for each.
PLACEHOLDERS = {"URL": "https://emergence-app-x.a.run.app", "PATH": "x.json", "N": "3"}


def _readme_commands() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for match in re.finditer(r"python -m infra((?: [^`#;)\n]*)?)", text):
        args = re.sub(r"\[([^\]]*?) \\\| [^\]]*\]", r"[\1]", match.group(1))  # [a \| b] -> [a]
        args = args.replace("[", " ").replace("]", " ")
        args = re.sub(r"<[^>]*>", "x", args)  # https://<service url>/api/metrics
        if args.strip() not in ("", "..."):  # "python -m infra ...": any command
            found.append(" ".join(args.split()))
    return found


COMMAND_LINES = _readme_commands()


def test_the_readme_shows_every_command():
    shown = {line.split()[0] for line in COMMAND_LINES}
    assert shown == set(COMMANDS)


@pytest.mark.parametrize("line", sorted(set(COMMAND_LINES)))
def test_each_command_line_in_the_readme_parses(line):
    argv = [PLACEHOLDERS.get(word, word) for word in shlex.split(line)]
    try:
        _parser(argv[0]).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"README: `python -m infra {line}` is refused by the CLI (exit {exc.code})")
