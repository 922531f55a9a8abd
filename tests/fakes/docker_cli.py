"""A fake `docker` CLI with the one property of the real engine that matters for clean-up: a
container is created by the daemon, not by the CLI, so killing the CLI in the middle of
`docker run` does not stop the container from appearing a moment later.

    install(bin_dir, state_dir)         # writes bin_dir/docker; put bin_dir first on PATH

State lives in `state_dir` (FAKE_DOCKER_DIR): `containers/<name>.json` per container (its state
and the environment `docker run` passed, secrets included, as the real engine keeps them in
the container's config), `run-started` when a `docker run` begins. Knobs, from the environment
of the command under test:

- FAKE_DOCKER_CREATE_DELAY: seconds the "daemon" takes to create a container (default 0.3);
- FAKE_DOCKER_EXIT: the container exits at once with this status (default: it keeps running);
- FAKE_DOCKER_LOGS: a file whose content `docker logs` prints.

Commands: info, build, image inspect, run, inspect, logs, rm, system df, builder prune.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path


def install(bin_dir: Path, state_dir: Path) -> Path:
    """A `docker` executable in `bin_dir` running this module with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "containers").mkdir(parents=True, exist_ok=True)
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'FAKE_DOCKER_DIR="${{FAKE_DOCKER_DIR:-{state_dir}}}" '
        f'exec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def containers(state_dir: Path) -> list[str]:
    """Names of the containers that exist now."""
    return sorted(p.stem for p in (state_dir / "containers").glob("*.json"))


def _state_dir() -> Path:
    return Path(os.environ["FAKE_DOCKER_DIR"])


def _path(name: str) -> Path:
    return _state_dir() / "containers" / f"{name}.json"


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _daemon_create(name: str, env: dict[str, str], delay: float, exit_status: str | None) -> None:
    """In a process of its own (a new session): what dockerd does, whatever the CLI does."""
    if os.fork():
        return
    os.setsid()
    time.sleep(delay)
    running = exit_status is None
    state = {
        "Status": "running" if running else "exited",
        "Running": running,
        "ExitCode": 0 if running else int(exit_status),
        "OOMKilled": False,
    }
    tmp = _path(name).with_suffix(".tmp")
    tmp.write_text(json.dumps({"State": state, "Env": env}))
    tmp.rename(_path(name))
    os._exit(0)


def _out(text: str, stream=None) -> None:
    (stream or sys.stdout).write(text + "\n")


def _run(args: list[str]) -> int:
    name = _flag(args, "--name") or "unnamed"
    env = {}
    for index, arg in enumerate(args):
        if arg in ("--env", "-e"):
            key = args[index + 1]
            env[key] = os.environ.get(key, "")
    (_state_dir() / "run-started").write_text(name)
    delay = float(os.environ.get("FAKE_DOCKER_CREATE_DELAY", "0.3"))
    _daemon_create(name, env, delay, os.environ.get("FAKE_DOCKER_EXIT"))
    while not _path(name).exists():  # the CLI waits for the daemon's answer
        time.sleep(0.01)
    _out("f" * 64)
    return 0


def _no_such(kind: str, name: str) -> int:
    _out(f"Error: No such {kind}: {name}", sys.stderr)
    return 1


def _inspect(args: list[str]) -> int:
    name = args[-1]
    if not _path(name).exists():
        return _no_such("object", name)
    _out(json.dumps(json.loads(_path(name).read_text())["State"]))
    return 0


def _logs(_args: list[str]) -> int:
    logs = os.environ.get("FAKE_DOCKER_LOGS")
    if logs:
        sys.stdout.write(Path(logs).read_text(encoding="utf-8"))
    return 0


def _rm(args: list[str]) -> int:
    name = args[-1]
    if not _path(name).exists():
        return _no_such("container", name)
    _path(name).unlink()
    _out(name)
    return 0


def _say(text: str) -> Callable[[list[str]], int]:
    def command(_args: list[str]) -> int:
        _out(text)
        return 0

    return command


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "info": _say("20.10.0-fake"),
    "build": _say("#1 [internal] load build definition from Dockerfile (fake)"),
    "image": _say("sha256:" + "0" * 64 + " 1000000"),  # image inspect: id and size
    "run": _run,
    "inspect": _inspect,
    "logs": _logs,
    "rm": _rm,
    "system": _say("[]"),  # system df: no build cache
    "builder": _say(""),  # builder prune
}


def main(argv: list[str]) -> int:
    command = COMMANDS.get(argv[0] if argv else "")
    if command is None:
        _out(f"fake docker: unsupported command {argv}", sys.stderr)
        return 2
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
