"""What an API, a log export or a server says is shown on the terminal, never obeyed by it:
every command's output goes through infra.rules.terminal.printable where it prints untrusted
text (verify's rows, revisions' table, phase2's report, error lines)."""

from __future__ import annotations

import json

from infra.cli import main
from tests.conftest import PROJECT_ROOT
from tests.fakes.cloud_run import latest, tagged
from tests.verify_helpers import ContractApp, serve

CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\ud800")
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b1m\u202e"


def assert_terminal_safe(text: str) -> None:
    for control in CONTROLS:
        assert control not in text, repr(control)


def test_verify_shows_an_admin_api_service_name_as_text(fake_cloud_run, capsys):
    fake_cloud_run.add_service("emergence-app")
    fake_cloud_run.deploy("emergence-app")
    fake_cloud_run.add_service(f"canary{ESCAPES}")
    with serve(ContractApp()) as url:
        code = main(["verify", url, "--attempts", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert_terminal_safe(out)
    assert "leftover service canary\\x1b]0;owned\\x07" in out


def test_revisions_shows_a_tag_from_the_api_as_text(fake_cloud_run, capsys):
    fake_cloud_run.add_service("emergence-app")
    old = fake_cloud_run.deploy("emergence-app")
    fake_cloud_run.deploy("emergence-app")
    fake_cloud_run.set_traffic("emergence-app", [latest(), tagged(old, f"t{ESCAPES}")])
    assert main(["revisions"]) == 0
    out = capsys.readouterr().out
    assert_terminal_safe(out)
    assert "t\\x1b]0;owned" in out


def export_with_escapes(tmp_path):
    source = (PROJECT_ROOT / "tests/data/phase2/before.jsonl").read_text(encoding="utf-8")
    hostile = json.dumps(ESCAPES + "\ud800")[1:-1]  # as JSON escapes inside the export
    path = tmp_path / "hostile.jsonl"
    path.write_text(source.replace("pour session ", f"pour session {hostile}"), encoding="utf-8")
    return path


def test_phase2_text_and_markdown_show_a_logged_escape_as_text(tmp_path, capsys):
    export = export_with_escapes(tmp_path)
    for output in ([], ["--markdown"]):
        assert main(["phase2", "--file", str(export), *output]) == 0
        out = capsys.readouterr().out
        assert_terminal_safe(out)
        assert "\\x1b]0;owned" in out  # the session ids, shown


def test_phase2_json_stays_valid_json_with_the_same_content(tmp_path, capsys):
    export = export_with_escapes(tmp_path)
    assert main(["phase2", "--file", str(export), "--json"]) == 0
    out = capsys.readouterr().out
    assert_terminal_safe(out)
    document = json.loads(out)
    # escaped in transit, not lost: the same strings as the report's own JSON
    assert json.dumps(ESCAPES)[1:-1] in json.dumps(document)


def test_an_error_line_quoting_a_file_shows_escapes_as_text(tmp_path, capsys):
    name = tmp_path / f"metrics{ESCAPES}.txt"
    assert main(["phase2", "--file", str(tmp_path / "none.jsonl"), "--metrics", str(name)]) == 2
    err = capsys.readouterr().err
    assert_terminal_safe(err)
    assert err.count("\n") == 1
