"""`local --smtp-password-file`: any file at all gives the password or one line saying what is
wrong with it, never a traceback, never the file's content, always within a bounded time."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from infra.cli import main
from infra.local.run import LocalRunError, read_password

PASSWORD = "pässwörd-9f3b"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PASSWORD.encode() + b"\n", PASSWORD),
        (PASSWORD.encode() + b"\r\n", PASSWORD),
        (b"\xef\xbb\xbf" + PASSWORD.encode() + b"\n", PASSWORD),  # a UTF-8 byte order mark
        (PASSWORD.encode() + b"\n\n", PASSWORD + "\n"),  # only one newline is dropped
    ],
    ids=["newline", "crlf", "utf8-bom", "two-newlines"],
)
def test_a_text_file_gives_the_password(tmp_path, content, expected):
    path = tmp_path / "pw"
    path.write_bytes(content)
    assert read_password({}, path) == expected


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (PASSWORD.encode("utf-16"), "is UTF-16 text (as Windows editors save it)"),
        (b"\x89PNG\r\n\x1a\n\xde\xad\xbe\xef", "is not UTF-8 text"),
        (b"abc\x00def", "holds a NUL byte"),
        (b"", "is empty"),
        (b"a" * (64 * 1024 + 1), "is larger than 64 KiB"),
    ],
    ids=["utf-16", "binary", "nul", "empty", "huge"],
)
def test_a_file_that_cannot_be_a_password_is_one_line_without_its_content(
    tmp_path, content, fragment, capsys
):
    path = tmp_path / "pw"
    path.write_bytes(content)
    with pytest.raises(LocalRunError, match=re.escape(fragment)):
        read_password({}, path)
    assert main(["local", "--stack", "reference", "--smtp-password-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --smtp-password-file {path}")
    assert fragment in err and err.count("\n") == 1
    assert "Traceback" not in err and PASSWORD not in err and "def" not in err


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null"])
def test_device_files_end_at_once(special):
    started = time.monotonic()
    with pytest.raises(LocalRunError, match=r"larger than 64 KiB|is empty"):
        read_password({}, Path(special))
    assert time.monotonic() - started < 5


def test_a_fifo_nobody_writes_to_fails_instead_of_hanging(tmp_path, monkeypatch):
    fifo = tmp_path / "pw.fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr("infra.local.run.PASSWORD_FILE_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(LocalRunError, match="nothing finished writing it within 1 s"):
        read_password({}, fifo)
    assert time.monotonic() - started < 4
