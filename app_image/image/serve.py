"""The container's entry point: start the app named by APP_MODULE on $PORT, as PID 1.

- `APP_MODULE=package.module:attribute` (the real emergence-app: `backend.main:app`): uvicorn
  serves that ASGI app on 0.0.0.0:$PORT, with APP_DIR put first on sys.path (what
  `uvicorn --app-dir src backend.main:app` does). uvicorn handles SIGTERM itself: it stops
  accepting, lets in-flight requests finish for at most GRACEFUL_SHUTDOWN_SECONDS (default 8;
  Cloud Run kills 10 s after SIGTERM), runs the app's shutdown, and the process exits 0 at once
  (see `_exit_now`).
- `APP_MODULE=package` (the reference app: `app`): runs it like `python -m package`; the
  package starts its own server and handles SIGTERM.

The Dockerfile's ENTRYPOINT is exec form, so this process is PID 1 and gets SIGTERM directly
(a `sh -c` entry point would swallow it: Docker then kills after its timeout, exit 137).
Standard library and uvicorn only; nothing from the deploying project.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import runpy
import sys

DEFAULT_GRACE_SECONDS = 8


def _port(env: dict[str, str]) -> int:
    text = env.get("PORT", "8080").strip() or "8080"
    if not text.isdigit() or not 0 < int(text) < 65536:
        sys.exit(f"serve: PORT={text!r} is not a port number (1-65535)")
    return int(text)


def _grace(env: dict[str, str]) -> int:
    text = env.get("GRACEFUL_SHUTDOWN_SECONDS", str(DEFAULT_GRACE_SECONDS)).strip()
    if not text.isdigit():
        sys.exit(f"serve: GRACEFUL_SHUTDOWN_SECONDS={text!r} is not a whole number of seconds")
    return int(text)


def main() -> None:
    env = dict(os.environ)
    target = env.get("APP_MODULE", "").strip()
    if not target:
        sys.exit("serve: APP_MODULE is empty (set the build argument APP_MODULE)")
    app_dir = os.path.abspath(env.get("APP_DIR", ".") or ".")
    sys.path.insert(0, app_dir)
    if ":" not in target:
        sys.argv = [target]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
        return
    import uvicorn  # noqa: PLC0415 - only this branch needs it

    options = {
        "host": "0.0.0.0",  # noqa: S104 - the container's port is the service's only door
        "port": _port(env),
        "app_dir": app_dir,
        "timeout_graceful_shutdown": _grace(env),
    }
    accepted = inspect.signature(uvicorn.run).parameters
    code: int | str | None = 0
    try:
        uvicorn.run(target, **{k: v for k, v in options.items() if k in accepted})
    except SystemExit as exc:  # uvicorn exits 3 when the app fails to start
        code = exc.code
    _exit_now(code)


def _exit_now(code: int | str | None) -> None:
    """Exit without the interpreter's teardown. uvicorn has drained the requests and run the
    app's shutdown; what is left is joining threads the app's libraries started and never stop
    (emergence-app's take seconds), past Cloud Run's 10 s grace and not worth waiting for.
    Log handlers and the standard streams are flushed first."""
    import logging  # noqa: PLC0415

    logging.shutdown()
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
