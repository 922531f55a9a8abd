"""`python -m app`: the container's entry point (exec form, so it is PID 1 and gets SIGTERM).

Settings are checked before anything listens: a bad environment gives one log line on stderr
and exit status 78 (EX_CONFIG), which Cloud Run shows as a failed startup. uvicorn handles
SIGTERM/SIGINT itself: it stops accepting, finishes in-flight requests for at most
GRACEFUL_SHUTDOWN_SECONDS (Cloud Run allows 10 s) and exits 0.
"""

from __future__ import annotations

import logging
import os
import sys

from app.settings import ConfigError, Settings

EX_CONFIG = 78
LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
"""emergence-app's own logging format: Cloud Run stores each line as a textPayload."""


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"emergence-app: refusing to start: {exc}\n")
        sys.stderr.flush()
        return EX_CONFIG

    import uvicorn  # noqa: PLC0415 (imported after the settings check: a refusal stays fast)

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # the app's lines, e.g. debates

    from app.main import create_app  # noqa: PLC0415

    uvicorn.run(
        create_app(settings),
        host="0.0.0.0",  # noqa: S104 (the container's port is the service's only door)
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=True,
        forwarded_allow_ips="*",  # Cloud Run's front end sets X-Forwarded-*
        server_header=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
