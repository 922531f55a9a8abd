"""Command line entry point: `python -m infra <command> [options]`.

Each command lives in its own module `infra/cli/<name>.py` exposing:

    HELP: str                                   one line for `--help`
    def add_arguments(parser) -> None           declares its options
    def run(args) -> int                        does the work, returns the exit code

Modules are imported only when their command runs, so `plan` never pays for Docker or
HTTP imports. To add a command, add one line to COMMANDS.

An error is one line on stderr, `error: ...`, exit status 2. It may quote what a server, a file
or a log said, so it goes through infra.rules.terminal.printable (no escape sequence reaches the
terminal) and infra.rules.redaction.hide_url_credentials (no `user:password@` is shown).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

COMMANDS: dict[str, str] = {
    "plan": "infra.cli.plan",
    "local": "infra.cli.local",
    "phase2": "infra.cli.phase2",
    "adopt": "infra.cli.adopt",
    "revisions": "infra.cli.revisions",
    "verify": "infra.cli.verify",
}


class CommandError(Exception):
    """An expected failure: printed as one clear line, never as a traceback."""


def error_line(message: object) -> str:
    """What `main` prints for a CommandError: one line, terminal-safe, no URL credential."""
    from infra.rules.redaction import hide_url_credentials  # noqa: PLC0415 - light, pure
    from infra.rules.terminal import printable  # noqa: PLC0415

    return "error: " + printable(hide_url_credentials(str(message)))


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag or value reported in one line (not the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, error_line(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def _parser(selected: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m infra",
        description="Deploy and check emergence-app on Cloud Run.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        if selected is not None and name != selected:
            # Only the selected command's module is imported; the others are listed by name.
            sub.add_parser(name)
            continue
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = argv[0] if argv and argv[0] in COMMANDS else None
    args = _parser(selected).parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except CommandError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`python -m infra plan --json | head`): stop quietly, like any
        # shell tool, and keep Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for such a pipeline
