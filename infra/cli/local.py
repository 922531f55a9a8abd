"""`python -m infra local`: the stack's image, built and checked on this machine.

Builds with the build spec `pulumi up` uses (infra/local/build_spec.py) from the build context
staged from the app's source (infra/preflight/source.py: only the allow-list), runs the container
with the stack's environment and the service's secret env vars given at run time (from the
caller's environment variables of the same names, or --env-file), waits for it like Cloud Run's
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
    read_secret_env,
    run_local,
)
from infra.preflight import source as app_source
from infra.preflight.git import read_git_info
from infra.rules.deploy_source import image_tag, missing_source_message

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
        "--env-file",
        type=Path,
        metavar="FILE",
        help="NAME=value lines for the service's secret env vars (default: the environment "
        "variables of the same names)",
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
    project_dir = args.project_dir.resolve()
    try:
        password = read_password(os.environ, args.smtp_password_file)
        # The secrets are supplied here rather than decrypted from the stack's secrets.
        settings = load_stack_settings(args.stack, project_dir, supplied_secrets=("smtpPassword",))
        secrets, missing = read_secret_env(settings.secret_env_names, os.environ, args.env_file)
    except (LocalRunError, SettingsError) as exc:
        raise CommandError(str(exc)) from None
    if password is not None and SECRET_ENV in missing:  # --smtp-password-file
        missing.remove(SECRET_ENV)
    password = password or secrets.pop(SECRET_ENV, None)
    secrets.pop(SECRET_ENV, None)
    if settings.smtp.enabled and password is None:
        raise CommandError(
            f"e-mail is enabled for stack '{args.stack}' (emergence-cloudrun:emailEnabled) and "
            f"the app refuses to start without SMTP_PASSWORD. Fix: export {SECRET_ENV}=... or "
            "pass --smtp-password-file FILE (or set emailEnabled false for the stack)"
        )
    if missing:
        raise CommandError(
            f"the service reads {', '.join(missing)} from Secret Manager and no value was "
            f"given. Fix: export {missing[0]}=... (each under its own name), or list them as "
            "NAME=value lines in a file passed with --env-file FILE"
        )
    source = app_source.read_source(settings.image, project_dir)
    if not source.exists:
        raise CommandError(missing_source_message(source))
    try:
        staged = app_source.stage(settings.image, project_dir)
    except app_source.SourceError as exc:
        raise CommandError(str(exc)) from None
    tag = image_tag(read_git_info(project_dir), source)
    options = LocalRunOptions(
        settings=settings,
        tag=tag,
        port=args.port,
        keep=args.keep,
        password=password if settings.smtp.enabled else None,
        network=os.environ.get("DOCKER_SANDBOX_NETWORK") or None,
        secrets=secrets,
        context=staged.context,
    )
    listed_by = staged.allow.source if staged.allow else "-"
    print(
        f"==> source {settings.image.context_setting}: {len(staged.shipped)} files "
        f"({staged.size / 1e6:.1f} MB) allow-listed by {listed_by}, {staged.left_out} left "
        f"out; build context {staged.context}",
        flush=True,
    )
    try:
        outcome = run_local(options)
    except LocalRunError as exc:
        raise CommandError(str(exc)) from None
    except Terminated:
        print("terminated", flush=True)
        return 143
    return 0 if outcome.ok else 1
