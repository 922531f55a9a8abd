"""`python -m infra local`: the stack's image, built and checked on this machine.

Builds with the build spec `pulumi up` uses (infra/local/build_spec.py), runs the container with the
stack's environment and the SMTP password given at run time, waits for it like Cloud Run's
startup probe, runs the post-deploy checks and prints a report. Exit status: 0 all checks
passed, 1 the instance never became healthy or a check failed, 2 bad input or no Docker,
130 Ctrl-C, 143 SIGTERM. The container is removed on every way out unless --keep.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from infra.cli import CommandError
from infra.config import PROJECT_DIR, SettingsError, load_stack_settings
from infra.local.run import (
    SECRET_ENV,
    LocalRunError,
    LocalRunOptions,
    Terminated,
    read_password,
    run_local,
)
from infra.preflight.git import read_git_info
from infra.rules.deploy_source import image_tag

HELP = "Build the stack's image, run it like Cloud Run on this machine and check it."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="prod", help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port on 127.0.0.1 to serve on (default 8080; 0 picks a free one)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the container running after the checks (default: remove it)",
    )
    parser.add_argument(
        "--smtp-password-file",
        type=Path,
        metavar="FILE",
        help=f"file holding the SMTP password (default: ${SECRET_ENV} from the environment)",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=PROJECT_DIR,
        help="directory holding Pulumi.<stack>.yaml (default: this checkout)",
    )


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port {args.port} is not a port (use 1-65535, or 0 for any)")
    try:
        password = read_password(os.environ, args.smtp_password_file)
        # The password is supplied here rather than decrypted from the stack's secrets.
        settings = load_stack_settings(
            args.stack, args.project_dir.resolve(), supplied_secrets=("smtpPassword",)
        )
    except (LocalRunError, SettingsError) as exc:
        raise CommandError(str(exc)) from None
    if settings.smtp.enabled and password is None:
        raise CommandError(
            f"e-mail is enabled for stack '{args.stack}' (emergence-cloudrun:emailEnabled) and "
            f"the app refuses to start without SMTP_PASSWORD. Fix: export {SECRET_ENV}=... or "
            "pass --smtp-password-file FILE (or set emailEnabled false for the stack)"
        )
    tag = image_tag(read_git_info(args.project_dir.resolve()))
    options = LocalRunOptions(
        settings=settings,
        tag=tag,
        port=args.port,
        keep=args.keep,
        password=password if settings.smtp.enabled else None,
        network=os.environ.get("DOCKER_SANDBOX_NETWORK") or None,
    )
    try:
        outcome = run_local(options)
    except LocalRunError as exc:
        raise CommandError(str(exc)) from None
    except Terminated:
        print("terminated", flush=True)
        return 143
    return 0 if outcome.ok else 1
