"""The README's `python -m infra` commands exist, with the flags it shows.

Every occurrence (code blocks, inline code, the commands table) is parsed by the CLI's own parser,
so a renamed command or flag cannot leave the README behind. Outputs shown in the README are pinned
where they are produced: tests/cli/test_phase2.py (the Phase 2 example), tests/policy/test_pack.py
(the policy tables and config), tests/settings/test_config.py (the settings table).
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


def test_where_things_are_lists_every_module_of_infra_in_its_folder():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Where things are\n", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for row in (line for line in section.splitlines() if line.startswith("| `infra/")):
        where, _role, modules = (cell.strip() for cell in row.strip("|").split("|"))
        places = re.findall(r"`(infra/[\w/.]*)`", where)
        for name in re.findall(r"`(\w+)`", modules):
            paths = [
                PROJECT_ROOT / place / f"{name}.py" if place.endswith("/") else PROJECT_ROOT / place
                for place in places
            ]
            if name == places[0].rstrip("/").rsplit("/", 1)[-1]:  # the package itself
                paths.append(PROJECT_ROOT / places[0] / "__init__.py")
            found = [p for p in paths if p.is_file() and p.stem in (name, "__init__")]
            assert found, f"README lists `{name}` in {where}, but no such module is there"
            listed.update(str(p.relative_to(PROJECT_ROOT)) for p in found)
    modules = {
        str(p.relative_to(PROJECT_ROOT))
        for p in (PROJECT_ROOT / "infra").rglob("*.py")
        if p.name != "__init__.py" or p.parent.name == "preflight"
    } - {"infra/__main__.py"}
    assert modules - listed == set(), "modules missing from README's 'Where things are'"
