"""The local run: build the stack's image with the shared build spec, run it like Cloud Run
would, wait for it like Cloud Run's startup probe, run the post-deploy checks, report.

`python -m infra local` (infra/cli/local.py) is the command; this module does the work:

- pure decisions first (probe plan and verdicts, the container's environment and limits,
  redaction), tested without Docker;
- the post-deploy checks: the stack's `verifyChecks`, run by infra.probes.verify like after `up`;
- `Docker`, a thin wrapper over the docker CLI. The CLI, never the Docker SDK: the SDK uses
  the legacy builder, which rejects the Dockerfile's `RUN --mount=type=cache`;
- `run_local`, which ties them together and always removes its container (failure, Ctrl-C,
  SIGTERM) unless asked to keep it.

The secret env vars the service reads from Secret Manager (`Settings.secret_env_names`: the
SMTP password, the app's API keys) reach the container only at run time, through the docker
client's environment (`docker run -e NAME`): never a build argument, never on a command line,
never in a file, and never printed (container logs shown on failure are redacted).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import requests

from infra.config import ProbeSettings, Settings, cpu_cores
from infra.local.build_spec import BuildSpec, build_spec
from infra.probes import bounded
from infra.probes.verify import HttpPolicy, run_checks
from infra.rules.checks import CheckResult, format_table, parse_checks, summary
from infra.rules.redaction import Redactor
from infra.rules.terminal import printable

SECRET_ENV = "SMTP_PASSWORD"  # noqa: S105 - the variable name, not a value
LOG_TAIL_LINES = 30
LOG_MAX_BYTES = 64 * 1024
PASSWORD_FILE_MAX_BYTES = 64 * 1024
PASSWORD_FILE_SECONDS = 10.0
# `docker run` creates the container holding the secrets in its config: a stop that arrives
# meanwhile waits for it (at most this long) so that the container can be removed.
DOCKER_RUN_TIMEOUT = 60


class LocalRunError(Exception):
    """An expected failure before or around the run (no Docker, port taken, build failed)."""


# --------------------------------------------------------------------------- pure decisions


@dataclass(frozen=True)
class ProbePlan:
    """Cloud Run's startup probe, as the local run applies it.

    Cloud Run probes `path` every `period` seconds after `initial_delay`, each attempt with
    `timeout`, and gives up after `failure_threshold` failures: an instance has
    `initial_delay + period * failure_threshold` seconds to answer. The local run grants the
    same budget and the same per-attempt timeout, but probes more often (`interval`), so a
    healthy instance is reported as soon as it answers instead of at the next period.
    """

    path: str
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    interval: float

    @property
    def budget(self) -> float:
        return self.initial_delay + self.period * self.failure_threshold

    def describe(self) -> str:
        return (
            f"startup probe on {self.path}: initial delay {self.initial_delay:g} s, then every "
            f"{self.period:g} s with a {self.timeout:g} s timeout, {self.failure_threshold} "
            f"failures allowed: up to {self.budget:g} s"
        )


def probe_plan(probe: ProbeSettings, *, max_interval: float = 0.25) -> ProbePlan:
    return ProbePlan(
        path=probe.path,
        initial_delay=float(probe.initial_delay_seconds),
        period=float(probe.period_seconds),
        timeout=float(probe.timeout_seconds),
        failure_threshold=probe.failure_threshold,
        interval=min(float(probe.period_seconds), max_interval),
    )


def judge_probe(status: int | None, error: str | None) -> tuple[bool, str]:
    """A Cloud Run HTTP probe passes on a 2xx or 3xx answer within the timeout."""
    if error is not None:
        return False, error
    if status is not None and 200 <= status < 400:
        return True, f"HTTP {status}"
    return False, f"HTTP {status}"


def container_env(
    settings: Settings,
    *,
    port: int,
    revision: str,
    password: str | None = None,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment: what Cloud Run sets, plus what the stack declares.

    Cloud Run sets PORT, K_SERVICE, K_REVISION and K_CONFIGURATION; the service declares the
    SMTP settings and appEnv (`settings.plain_env()`, the same call the program makes) and its
    secret env vars from Secret Manager (`secrets`, name -> value; `password` is SMTP_PASSWORD),
    which here come from the caller.
    """
    env = {
        "PORT": str(port),
        "K_SERVICE": settings.service.name,
        "K_REVISION": revision,
        "K_CONFIGURATION": settings.service.name,
        **settings.plain_env(),
    }
    if password is not None:
        env[SECRET_ENV] = password
    env.update(secrets or {})
    return env


def docker_limits(cpu: str, memory: str, host_cpus: int) -> list[str]:
    """`docker run` flags for the stack's Cloud Run limits (`1`/`500m` CPU, `512Mi`/`2Gi`).

    Docker refuses more CPUs than the host has, so the CPU limit is capped at the host's.
    """
    flags: list[str] = []
    cores = cpu_cores(cpu.strip())
    if cores is not None:
        flags += ["--cpus", f"{min(cores, float(max(host_cpus, 1))):g}"]
    match = re.fullmatch(r"(\d+)(Mi|Gi)", memory.strip())
    if match:
        flags += ["--memory", f"{match.group(1)}{'m' if match.group(2) == 'Mi' else 'g'}"]
    return flags


def redact(text: str, secret: str | None) -> str:
    """`text` with every form of `secret` replaced (infra.rules.redaction: plain, JSON, repr,
    URL-encoded, base64, hex); nothing to do for an empty secret."""
    return Redactor([secret])(text)


def log_excerpt(logs: str, secrets: Redactor) -> str:
    """Container logs as the run prints them: secrets redacted (first, on the raw text), then
    every line made terminal-safe and indented."""
    return "\n".join("  " + printable(line) for line in secrets(logs).splitlines())


def local_revision(settings: Settings, tag: str) -> str:
    """A revision-like name for K_REVISION: `<service>-local-<short sha>`."""
    short = tag.split("-")[3] if tag.startswith("deploy-") and tag.count("-") >= 3 else "dev"
    return f"{settings.service.name}-local-{short}"


# --------------------------------------------------------------------------- post-deploy checks

# The instance has just answered its probe: a short budget per check, few retries.
# A refused connection is not retried: after a passing probe it means the app went away.
LOCAL_CHECK_POLICY = HttpPolicy(
    connect_timeout=5, read_timeout=20, attempts=2, budget=30, retry_refused=False
)


def post_deploy_checks(settings: Settings, base_url: str) -> list[CheckResult]:
    """The stack's `verifyChecks` (the service contract by default), run by infra.probes.verify: the
    same checks `pulumi up` runs after a deploy."""
    return run_checks(base_url, parse_checks(settings.verify_checks), policy=LOCAL_CHECK_POLICY)


# --------------------------------------------------------------------------- docker CLI


@dataclass
class Docker:
    """The docker CLI, with the network this machine needs (`host` in the sandbox)."""

    network: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # BuildKit: default on Docker >= 23, needed explicitly on older engines (the sandbox).
        return {**self.env, "DOCKER_BUILDKIT": "1", **(extra or {})}

    def run(
        self, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """One docker CLI call, in a session of its own: a Ctrl-C at the terminal reaches this
        process only, which decides what to stop (a `docker run` cut off half-way would leave
        its container to the daemon). Output decoded leniently (a container's logs may be
        binary)."""
        try:
            return subprocess.run(
                ["docker", *args],
                capture_output=True,
                text=True,
                errors="replace",
                env=self._env(extra_env),
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            raise LocalRunError(
                f"`docker {args[0] if args else ''}` did not answer within {timeout:g} s "
                "(is the engine stuck?)"
            ) from None

    def problem(self) -> str | None:
        """None when an engine answers, else why not (one line)."""
        try:
            proc = self.run("info", "--format", "{{.ServerVersion}}", timeout=30)
        except FileNotFoundError:
            return "the docker CLI is not installed"
        except LocalRunError:
            return "`docker info` did not answer within 30 s"
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            return lines[-1] if lines else f"`docker info` exited {proc.returncode}"
        return None

    def build(self, spec: BuildSpec, tag: str, out: TextIO) -> None:
        """Build with BuildKit, progress streamed to `out`; LocalRunError on failure."""
        argv = spec.docker_build_command(tag, network=self.network)
        with subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=self._env(),
        ) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    out.write("  " + printable(line.rstrip("\n")) + "\n")
                    out.flush()
            except BaseException:  # Ctrl-C or SIGTERM: cancel the build too
                proc.terminate()
                raise
            rc = proc.wait()
        if rc != 0:
            raise LocalRunError(f"docker build failed (exit status {rc}); see its output above")

    def image_facts(self, ref: str) -> tuple[str, int]:
        proc = self.run("image", "inspect", ref, "--format", "{{.Id}} {{.Size}}")
        if proc.returncode != 0:
            raise LocalRunError(f"the image {ref} was built but cannot be inspected")
        image_id, size = proc.stdout.split()
        return image_id, int(size)

    def start(
        self,
        image: str,
        name: str,
        env: Mapping[str, str],
        *,
        host_port: int,
        container_port: int,
        limits: list[str],
    ) -> None:
        """`docker run -d`: env values travel in the client's environment (`-e NAME`), so no
        value, the secret's included, appears on a command line or in a file."""
        argv = ["run", "--detach", "--name", name, "--label", "emergence-cloudrun.local=1"]
        argv += limits
        if self.network:
            argv += ["--network", self.network]
        else:
            argv += ["--publish", f"127.0.0.1:{host_port}:{container_port}"]
        for key in env:
            argv += ["--env", key]
        proc = self.run(*argv, image, extra_env=env, timeout=DOCKER_RUN_TIMEOUT)
        if proc.returncode != 0:
            message = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise LocalRunError(f"docker run failed: {printable(message[0])}")

    def state(self, name: str) -> dict | None:
        proc = self.run("inspect", "--type", "container", "--format", "{{json .State}}", name)
        if proc.returncode != 0:
            return None
        try:
            state = json.loads(proc.stdout)
        except (ValueError, RecursionError):
            return None
        return state if isinstance(state, dict) else None

    def logs(self, name: str, tail: int = LOG_TAIL_LINES) -> str:
        """The container's last `tail` lines, at most LOG_MAX_BYTES of them (an app may write
        a line of any length), read within 30 s."""
        with subprocess.Popen(
            ["docker", "logs", "--tail", str(tail), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self._env(),
            start_new_session=True,
        ) as proc:
            assert proc.stdout is not None
            try:
                data, more = bounded.read_fd(
                    proc.stdout.fileno(), deadline=time.monotonic() + 30, max_bytes=LOG_MAX_BYTES
                )
            except bounded.DeadlinePassed:
                data, more = b"", True
            finally:
                proc.kill()
        text = data.decode("utf-8", "replace").rstrip()
        if more:
            text += f"\n[... cut at {bounded.size_text(LOG_MAX_BYTES)}]"
        return text

    def remove(self, name: str) -> bool | None:
        """True: removed; None: there was no such container; False: it could not be removed."""
        try:
            proc = self.run("rm", "--force", "--volumes", name)
        except LocalRunError:
            return False
        if proc.returncode == 0:
            return True
        return None if "no such container" in proc.stderr.lower() else False

    def build_cache_ids(self) -> set[str]:
        """Ids of the engine's BuildKit cache records."""
        proc = self.run("system", "df", "-v", "--format", "{{json .BuildCache}}", timeout=300)
        try:
            return {record["ID"] for record in json.loads(proc.stdout or "[]")}
        except (json.JSONDecodeError, TypeError, KeyError):
            return set()

    def prune_build_cache_since(self, before: set[str], max_passes: int = 50) -> int:
        """Remove the cache records created since `before` was taken; returns how many.

        For the tests and the bench, whose builds always differ (a unique code change, a port
        in a build argument): on a vfs storage driver (the sandbox) every cached layer is a
        full copy of the root file system, and such builds would fill the disk run after run.
        Records in use are kept. One `--filter id=` per call (several filters are ANDed); a
        record goes only once the records built on it are gone, so passes repeat until none
        is left or a pass removes nothing (the rest is in use), at most `max_passes`."""
        removed = 0
        left = self.build_cache_ids() - before
        for _ in range(max_passes):
            if not left:
                break
            for record in sorted(left):
                self.run("builder", "prune", "--force", "--filter", f"id={record}", timeout=300)
            now = self.build_cache_ids() - before
            if len(now) >= len(left):
                break  # no progress: the rest is in use
            removed += len(left) - len(now)
            left = now
        return removed


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class LocalRunOptions:
    settings: Settings
    tag: str
    port: int  # 0: any free port
    keep: bool = False
    password: str | None = field(default=None, repr=False)  # never printed
    network: str | None = None  # "host" in the sandbox (DOCKER_SANDBOX_NETWORK)
    # The other secret env vars (name -> value), from the caller; never printed.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    context: Path | None = None  # the build context staged from the app's source

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value this run passes to the container: what output must never show.
        A new secret environment variable adds its value here."""
        return tuple(value for value in (self.password, *self.secrets.values()) if value)


@dataclass
class Outcome:
    ok: bool
    container: str
    url: str | None = None
    image_id: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    kept: bool = False


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C so the container is removed."""


_STOPS = (signal.SIGINT, signal.SIGTERM)


def _stop_exception(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


class Stops:
    """Ctrl-C (SIGINT) and SIGTERM for the whole run, so that no stop lands where it would
    leave a container behind.

    A stop raises KeyboardInterrupt or Terminated at once only while the run is `interruptible`
    (building, waiting for health, checking). Anywhere else (while `docker run` creates the
    container, while it is removed) it is held, and raised by `allow()` or `raise_held()` once
    that section is over. The handler turns `interruptible` off before it raises, so a second
    signal can never interrupt the clean-up the first one started.
    """

    def __init__(self) -> None:
        self.interruptible = True
        self.held: int | None = None

    def _handler(self, signum: int, _frame: object) -> None:
        if self.interruptible:
            self.interruptible = False
            raise _stop_exception(signum)
        if self.held is None:
            self.held = signum

    @contextmanager
    def installed(self) -> Iterator[Stops]:
        try:
            previous = {sig: signal.signal(sig, self._handler) for sig in _STOPS}
        except ValueError:  # not the main thread: nothing to install, nothing to hold
            yield self
            return
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def hold(self) -> None:
        self.interruptible = False

    def allow(self) -> None:
        """Interruptible again; a stop held meanwhile is raised now."""
        self.raise_held()
        self.interruptible = True

    def raise_held(self) -> None:
        if self.held is not None:
            signum, self.held = self.held, None
            raise _stop_exception(signum)


def wait_until_healthy(
    docker: Docker,
    container: str,
    base_url: str,
    plan: ProbePlan,
    out: TextIO,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str, float]:
    """Probe like Cloud Run's startup probe: (healthy, reason, seconds since the start)."""
    started = clock()
    deadline = started + plan.budget
    sleep(plan.initial_delay)
    last_reason = "no probe ran"
    next_note = started + 10
    with requests.Session() as session:
        session.trust_env = False
        while True:
            state = docker.state(container)
            if state is None:
                return False, "the container disappeared", clock() - started
            if not state.get("Running"):
                code = state.get("ExitCode")
                why = " (out of memory)" if state.get("OOMKilled") else ""
                return False, f"the container exited with status {code}{why}", clock() - started
            ok, last_reason = _probe(session, base_url + plan.path, plan.timeout)
            if ok:
                return True, last_reason, clock() - started
            now = clock()
            if now >= deadline:
                return (
                    False,
                    f"not healthy after {plan.budget:g} s (the startup probe's budget); "
                    f"last probe: {last_reason}",
                    now - started,
                )
            if now >= next_note:
                out.write(f"  still waiting ({now - started:.0f} s): {last_reason}\n")
                out.flush()
                next_note = now + 10
            sleep(min(plan.interval, max(deadline - now, 0)))


def _probe(session: requests.Session, url: str, timeout: float) -> tuple[bool, str]:
    """One probe, like Cloud Run's: the status within `timeout` (a hard bound, whatever the
    app sends), the body not read."""
    try:
        answer = bounded.get(
            session,
            url,
            deadline=time.monotonic() + timeout,
            connect_timeout=timeout,
            read_timeout=timeout,
            read_body=False,
        )
    except bounded.DeadlinePassed:
        return judge_probe(None, f"no answer within {timeout:g} s")
    except requests.Timeout:
        return judge_probe(None, f"no answer within {timeout:g} s")
    except requests.ConnectionError:
        return judge_probe(None, "connection refused (nothing listening)")
    except (requests.RequestException, bounded.BoundedReadError) as exc:
        return judge_probe(None, f"no valid answer ({type(exc).__name__})")
    return judge_probe(answer.status, None)


def run_local(options: LocalRunOptions, out: TextIO = sys.stdout) -> Outcome:
    """Build, run, wait, check, report; the container is removed on every way out unless
    `options.keep`. Raises LocalRunError (nothing started), KeyboardInterrupt or Terminated."""
    stops = Stops()
    with stops.installed():
        outcome = _run_local(options, out, stops)
        stops.raise_held()  # a stop that came during the final clean-up
        return outcome


def _run_local(options: LocalRunOptions, out: TextIO, stops: Stops) -> Outcome:
    settings = options.settings
    port = options.port or free_port()
    if not port_is_free(port):
        raise LocalRunError(
            f"port {port} is already in use on 127.0.0.1. "
            "Fix: pass --port N with a free port (or --port 0 for any free port)"
        )
    docker = Docker(network=options.network)
    problem = docker.problem()
    if problem is not None:
        raise LocalRunError(
            f"Docker is not available: {problem}. Start a Docker engine with BuildKit "
            "(in this workplace: . ../shared/tools/docker-sandbox.sh)"
        )

    spec = build_spec(settings.image, options.context)
    image = f"{settings.image.image_name}:{options.tag}"
    _say(
        out,
        f"==> stack {settings.stack}: building {spec.dockerfile} for {spec.platform} as {image}"
        f" (source: {settings.image.context})",
    )
    build_started = time.monotonic()
    docker.build(spec, image, out)
    image_id, size = docker.image_facts(image)
    build_seconds = time.monotonic() - build_started
    _say(out, f"==> built {image_id[:19]} in {build_seconds:.1f} s, {size / 1e6:.0f} MB")

    container = f"{settings.service.name}-local-{secrets.token_hex(3)}"
    container_port = port if options.network else settings.service.container_port
    env = container_env(
        settings,
        port=container_port,
        revision=local_revision(settings, options.tag),
        password=options.password,
        secrets=options.secrets,
    )
    limits = docker_limits(settings.service.cpu, settings.service.memory, os.cpu_count() or 1)
    base_url = f"http://127.0.0.1:{port}"
    outcome = Outcome(ok=False, container=container, image_id=image_id)
    secrets_redacted = Redactor(options.secret_values())
    hidden = {SECRET_ENV, *options.secrets}
    names = ", ".join(f"{k} (secret)" if k in hidden else k for k in sorted(env))
    _say(out, f"==> starting {container} on 127.0.0.1:{port} ({' '.join(limits)}; env: {names})")
    # From here a container holding the secrets in its config may exist: a stop is held until
    # `docker run` has answered (so the container is known to exist or not), and the clean-up
    # below runs whatever happens, never interrupted itself.
    stops.hold()
    try:
        docker.start(
            image, container, env, host_port=port, container_port=container_port, limits=limits
        )
        stops.allow()
        plan = probe_plan(settings.service.startup_probe)
        _say(out, f"==> waiting like Cloud Run's {plan.describe()}")
        healthy, reason, waited = wait_until_healthy(docker, container, base_url, plan, out)
        if not healthy:
            _say(out, f"FAILED: {container} never became healthy: {reason}")
            logs = log_excerpt(docker.logs(container), secrets_redacted)
            if logs:
                _say(out, f"--- last log lines of {container}:\n{logs}\n---")
            return outcome
        outcome.url = base_url
        _say(out, f"==> healthy after {waited:.2f} s ({reason})")
        _say(out, f"URL: {base_url}")
        _say(out, "==> post-deploy checks")
        outcome.checks = post_deploy_checks(settings, base_url)
        _say(out, "\n".join("  " + line for line in format_table(outcome.checks).splitlines()))
        outcome.ok = all(r.passed for r in outcome.checks)
        _say(
            out,
            f"Report: stack {settings.stack}, image {image} ({image_id[:19]}), healthy after "
            f"{waited:.2f} s, {summary(outcome.checks)}: {'PASS' if outcome.ok else 'FAIL'}",
        )
        return outcome
    finally:
        stops.hold()
        _clean_up(docker, container, base_url, keep=options.keep, outcome=outcome, out=out)


def _clean_up(
    docker: Docker, container: str, base_url: str, *, keep: bool, outcome: Outcome, out: TextIO
) -> None:
    """Keep the container (asked, and it exists) or remove it by name, whatever `docker run`
    said: its answer may have been lost (a timeout) while the daemon created it anyway."""
    try:
        exists = docker.state(container) is not None
    except LocalRunError:  # the engine does not answer: try the removal all the same
        exists, keep = True, False
    if keep and exists:
        outcome.kept = True
        _say(out, f"==> kept {container} running ({base_url}); stop it: docker rm -f {container}")
        return
    removed = docker.remove(container)
    if removed:
        _say(out, f"==> removed container {container}")
    elif removed is False:
        _say(out, f"warning: could not remove container {container}; run: docker rm -f {container}")


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (blank lines and `#` comments skipped; the value is taken as is, up
    to the end of its line). LocalRunError naming the file and line for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise LocalRunError(f"cannot read --env-file {path}: {why}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise LocalRunError(
                f"--env-file {path}, line {number}: not NAME=value (the value is not shown)"
            )
        values[name] = value
    return values


def read_secret_env(
    names: Iterable[str], env: Mapping[str, str], env_file: Path | None = None
) -> tuple[dict[str, str], list[str]]:
    """(name -> value, missing names) for the service's secret env vars: from `--env-file`
    first, then the caller's environment variable of the same name. A name the file sets
    that is not one of `names` is refused: the file is for the secrets only."""
    wanted = list(dict.fromkeys(names))
    from_file = read_env_file(env_file) if env_file is not None else {}
    unknown = sorted(set(from_file) - set(wanted))
    if unknown:
        raise LocalRunError(
            f"--env-file {env_file} sets {', '.join(unknown)}, which the service does not "
            f"read from Secret Manager (it reads: {', '.join(wanted) or 'none'}). Fix: keep "
            "only those in the file; plain settings come from the stack"
        )
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in wanted:
        value = from_file.get(name) or env.get(name)
        if value:
            found[name] = value
        else:
            missing.append(name)
    return found, missing


def read_password(env: Mapping[str, str], password_file: Path | None) -> str | None:
    """The SMTP password from `--smtp-password-file` (first) or $SMTP_PASSWORD; None if neither.

    The file must be UTF-8 text of at most 64 KiB (a UTF-8 byte order mark is dropped, as is one
    trailing newline: editors and `echo` add them); it is read within 10 s, so a FIFO nobody
    writes to fails instead of hanging. A NUL byte is refused: no environment can carry it.
    """
    if password_file is not None:
        flag = f"--smtp-password-file {printable(password_file)}"
        try:
            data = bounded.read_file(
                str(password_file),
                deadline=time.monotonic() + PASSWORD_FILE_SECONDS,
                max_bytes=PASSWORD_FILE_MAX_BYTES,
            )
        except OSError as exc:
            raise LocalRunError(f"cannot read {flag}: {exc.strerror or exc}") from None
        except bounded.TooLarge:
            raise LocalRunError(
                f"{flag} is larger than 64 KiB: that is not a password file. "
                "Fix: name the file that holds only the password"
            ) from None
        except bounded.DeadlinePassed:
            raise LocalRunError(
                f"{flag}: nothing finished writing it within {PASSWORD_FILE_SECONDS:g} s"
            ) from None
        text = _password_text(data, flag)
        text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            raise LocalRunError(f"{flag} is empty")
        return text
    value = env.get(SECRET_ENV)
    return value if value else None


def _password_text(data: bytes, flag: str) -> str:
    """The file's bytes as text, or LocalRunError saying what it is (never quoting it)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        what = "UTF-16 text (as Windows editors save it)" if utf16 else "not UTF-8 text"
        raise LocalRunError(
            f"{flag} is {what}. Fix: save the password as UTF-8, e.g. "
            "iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8"
            if utf16
            else f"{flag} is {what}. Fix: save the password as UTF-8 text"
        ) from None
    if "\x00" in text:
        raise LocalRunError(
            f"{flag} holds a NUL byte, which no environment variable can carry. "
            "Fix: name the file that holds only the password"
        )
    return text
