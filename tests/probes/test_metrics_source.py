"""Reading the metrics for the Phase 2 report (`phase2 --metrics`): bounded in bytes and time
whatever the source (a URL, a file, a pipe), one clear line for what cannot be read, and no
credential of a URL in any output."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from infra.cli import main
from infra.probes.metrics import MetricsSourceError, read_metrics_text
from tests.conftest import PROJECT_ROOT
from tests.hostile_helpers import (
    answer,
    endless_body,
    gzip_bomb,
    peer,
    trickle_headers,
)

METRICS = "# TYPE emergence_api_cost_usd_total counter\nemergence_api_cost_usd_total 11.0\n"
SLACK = 2.5


def test_a_metrics_file_and_url_are_read():
    with peer(answer(METRICS.encode())) as url:
        assert read_metrics_text(url + "/api/metrics") == METRICS


def test_dev_zero_stops_at_the_size_limit():
    with pytest.raises(MetricsSourceError) as caught:
        read_metrics_text("/dev/zero")
    assert str(caught.value) == "/dev/zero is larger than 2 MiB (the most that is read)"


def test_an_endless_answer_stops_at_the_size_limit():
    with peer(endless_body) as url, pytest.raises(MetricsSourceError) as caught:
        read_metrics_text(url + "/api/metrics", timeout=30)
    assert "the body is larger than 2 MiB" in str(caught.value)


def test_a_gzip_bomb_is_not_inflated_past_the_size_limit():
    bomb = gzip_bomb(256)  # 256 MiB of zeros in about 256 KB
    headers = "Content-Encoding: gzip\r\n"
    with (
        peer(answer(bomb, extra_headers=headers)) as url,
        pytest.raises(MetricsSourceError) as caught,
    ):
        read_metrics_text(url + "/api/metrics")
    assert "the body is larger than 2 MiB" in str(caught.value)


def test_a_slow_url_is_bounded_by_the_timeout():
    with peer(trickle_headers) as url:
        started = time.monotonic()
        with pytest.raises(MetricsSourceError) as caught:
            read_metrics_text(url + "/api/metrics", timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK
    assert str(caught.value) == f"{url}/api/metrics did not answer in full within 1 s"


def test_a_fifo_nobody_writes_to_is_bounded_by_the_timeout(tmp_path):
    fifo = tmp_path / "metrics.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(MetricsSourceError, match="did not end within 1 s"):
        read_metrics_text(str(fifo), timeout=1.0)
    assert time.monotonic() - started < 1.0 + SLACK


def test_a_pipe_is_read(tmp_path):
    script = (
        "import sys; from infra.probes.metrics import read_metrics_text as r; "
        "sys.stdout.write(r(sys.argv[1]))"
    )
    proc = subprocess.run(
        ["bash", "-c", '"$0" -c "$1" <(printf %s "$2")', sys.executable, script, METRICS],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == METRICS, proc.stderr


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (METRICS.encode("utf-16"), "(it looks like UTF-16: save it as UTF-8)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "(it looks like UTF-16"),
        (b"up 1\n\xff\xfe\xfa", "Prometheus text format is UTF-8"),
    ],
    ids=["utf-16", "binary", "latin-1"],
)
def test_a_file_that_is_not_utf8_is_one_line(tmp_path, content, hint):
    path = tmp_path / "metrics.txt"
    path.write_bytes(content)
    with pytest.raises(MetricsSourceError) as caught:
        read_metrics_text(str(path))
    assert str(caught.value).startswith(f"{path} is not UTF-8 text")
    assert hint in str(caught.value)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "metrics.txt"
    path.write_bytes(b"\xef\xbb\xbf" + METRICS.encode())
    assert read_metrics_text(str(path)) == METRICS


def test_a_redirect_is_named_not_followed():
    redirect = answer(b"", status="302 Found", extra_headers="Location: /api/metrics/\r\n")
    with peer(redirect) as url, pytest.raises(MetricsSourceError) as caught:
        read_metrics_text(url + "/api/metrics")
    assert "answered HTTP 302, a redirect to /api/metrics/" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:tst-Pw-metrics-1@127.0.0.1:9/api/metrics",
        "http://user:tst-Pw/metrics-1@127.0.0.1:9/api/metrics",
    ],
)
@pytest.mark.parametrize("output", [[], ["--json"], ["--markdown"]])
def test_phase2_metrics_with_credentials_shows_them_nowhere(tmp_path, capsys, url, output):
    export = tmp_path / "export.jsonl"
    export.write_text("")
    assert main(["phase2", "--file", str(export), "--metrics", url, *output]) == 2
    out, err = capsys.readouterr()
    assert "tst-Pw" not in out + err and "metrics-1" not in out + err
    assert out == ""  # no report at all
    assert err.startswith(
        "error: --metrics: http://***@127.0.0.1:9/api/metrics carries credentials"
    )
    assert err.count("\n") == 1


def test_phase2_metrics_on_a_binary_file_is_one_line(tmp_path, capsys):
    export = tmp_path / "export.jsonl"
    export.write_text("")
    metrics = tmp_path / "metrics.bin"
    metrics.write_bytes(METRICS.encode("utf-16"))
    assert main(["phase2", "--file", str(export), "--metrics", str(metrics)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --metrics: {metrics} is not UTF-8 text")
    assert err.count("\n") == 1
