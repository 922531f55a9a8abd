"""What every `python -m infra` command does with bad input: one line naming the input and
the fix, a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from infra.cli import main
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--stack", "nope"],
        ["plan", "--json", "--stack", "nope"],
        ["verify", "http://127.0.0.1:9", "--stack", "nope"],
        ["revisions", "--stack", "nope"],
        ["phase2", "--stack", "nope", "--file", "tests/data/phase2/before.jsonl"],
        ["adopt", "--stack", "nope"],
        ["local", "--stack", "nope"],
    ],
)
def test_a_missing_stack_is_one_line_naming_the_file_and_the_fix(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Pulumi.nope.yaml" in err
    assert "stacks here: prod" in err
    assert "pulumi stack init nope" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--json"],
        ["phase2", "--file", "tests/data/phase2/before.jsonl"],
    ],
)
def test_a_reader_that_goes_away_is_no_traceback(argv):
    """`python -m infra plan --json | head -1`: the pipe closes before the output is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", *argv],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err.decode(), err.decode()
    assert "BrokenPipe" not in err.decode()
    assert proc.returncode == 141


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([], "COMMAND"),
        (["deploy"], "'deploy'"),
        (["plan", "--bogus"], "--bogus"),
        (["revisions", "--keep", "5"], "--keep"),
        (["verify", "http://127.0.0.1:9", "--budget", "soon"], "--budget"),
        (["phase2", "--page-size", "many"], "--page-size"),
    ],
)
def test_a_bad_flag_is_one_line_naming_it(argv, named, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: python -m infra")
    assert named in err
    assert "--help" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "http://127.0.0.1:9", "--attempts", "0"], "--attempts must be at least 1"),
        (["verify", "http://127.0.0.1:9", "--timeout", "-1"], "--timeout must be a number of"),
        (["verify", "http://127.0.0.1:9", "--budget", "inf"], "--budget must be a number of"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_flag(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {message}")


def _closed_port_url() -> str:
    """A loopback URL nothing listens on (a port the OS just gave out, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("argv", [["revisions"], ["verify"]])
def test_an_unreachable_admin_api_endpoint_is_named_with_its_variable(argv, monkeypatch, capsys):
    url = _closed_port_url()
    monkeypatch.setenv("CLOUD_RUN_API_ENDPOINT", url)
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the client's retries, without waiting
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"cannot reach {url}" in err
    assert "CLOUD_RUN_API_ENDPOINT points there" in err
    assert "Traceback" not in err


def test_an_unreachable_logging_endpoint_is_named_with_its_variable(monkeypatch, capsys):
    url = _closed_port_url()
    monkeypatch.setenv("LOGGING_API_ENDPOINT", url)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    assert main(["phase2", "--since", "1h"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"cannot reach {url}" in err and "LOGGING_API_ENDPOINT points there" in err


def test_adopt_into_an_unwritable_import_file_is_one_line_and_prints_no_steps(
    tmp_path, capsys, fake_cloud_run
):
    from tests.adopt_helpers import seed_live_production

    seed_live_production(fake_cloud_run)
    target = tmp_path / "missing-folder" / "adopt.json"
    assert main(["adopt", "--accept-service-account", "--import-file", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no half-printed procedure above the error
    assert err.count("\n") == 1, err
    assert f"--import-file {target}: cannot write it" in err and "Fix:" in err


BEFORE = "tests/data/phase2/before.jsonl"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--file", "tests/data"], "--file tests/data: a directory, not a log export"),
        (["--file", BEFORE, "--until", "tomorrow"], "--until 'tomorrow' is neither a time"),
        (["--file", BEFORE, "--metrics", "/nonexistent/m.txt"], "--metrics: cannot read"),
        (["--file", BEFORE, "-o", "/nonexistent/r.md"], "--output /nonexistent/r.md: cannot"),
    ],
)
def test_phase2_bad_input_is_one_line_naming_the_flag(argv, message, capsys):
    assert main(["phase2", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {message}"), err


def test_phase2_unreadable_file_is_one_line(tmp_path, monkeypatch, capsys):
    export = tmp_path / "export.json"
    export.write_text("[]", encoding="utf-8")
    export.chmod(0)
    if os.access(export, os.R_OK):  # root reads anything: make the open fail as it would
        from infra.cli import logfile as logread

        def refuse(path):
            raise PermissionError(13, "Permission denied", path)

        monkeypatch.setattr(logread, "open_export", refuse)
    assert main(["phase2", "--file", str(export)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --file {export}: Permission denied\n"


@pytest.mark.parametrize(
    "url", ["https://bob:tst-Pw-url-77@emergence-app.run.app", "ftp://bob:tst-Pw-url-77@x/"]
)
def test_a_url_with_a_password_is_refused_without_printing_the_password(url, capsys):
    assert main(["verify", url, "--no-admin"]) == 2
    out, err = capsys.readouterr()
    assert "tst-Pw-url-77" not in out + err
    assert err.count("\n") == 1 and "***@" in err
