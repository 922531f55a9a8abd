"""`python -m infra revisions` against the fake Cloud Run API: same decision as retention."""

from __future__ import annotations

import json

import google.auth
import google.auth.exceptions

from infra.cli import main
from infra.providers.retention import RetentionProvider
from tests.fakes.cloud_run import PROJECT, latest, pinned, tagged

SERVICE = "emergence-app"


def seed(fake) -> list[str]:
    """Newest first: failed, ready x5 (two protected by traffic/tag), failed."""
    fake.deploy_many(SERVICE, ["ready", "failed", "ready", "ready", "ready", "ready", "failed"])
    ids = fake.revision_ids(SERVICE)
    fake.set_traffic(SERVICE, [latest(90), pinned(ids[4], 10), tagged(ids[6], "first")])
    return ids


def run_json(capsys, *extra: str) -> tuple[list[dict], str]:
    """(the JSON list on stdout, stderr)."""
    assert main(["revisions", "--stack", "prod", "--json", *extra]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_json_lists_every_revision_with_action_and_reason(fake_cloud_run, capsys):
    ids = seed(fake_cloud_run)
    rows, err = run_json(capsys)
    assert [r["name"] for r in rows] == ids
    assert {r["name"]: r["action"] for r in rows} == {
        ids[0]: "keep",  # failed, newest: latest created
        ids[1]: "keep",  # newest ready, 90 %
        ids[2]: "keep",
        ids[3]: "keep",
        ids[4]: "keep",  # 10 % of traffic
        ids[5]: "delete",  # failed, older than the newest ready
        ids[6]: "keep",  # tagged
    }
    assert all(r["reason"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name[ids[1]]["trafficPercent"] == 90
    assert by_name[ids[6]]["tags"] == ["first"]
    assert by_name[ids[5]]["ready"] is False and by_name[ids[5]]["readyState"] == "CONDITION_FAILED"
    assert by_name[ids[2]]["imageDigest"].startswith("sha256:")
    assert by_name[ids[2]]["createTime"].endswith("Z")
    assert fake_cloud_run.count("DELETE") == 0  # it only reads
    assert err.startswith("warning: keeping 5 ready revisions")  # stdout stays JSON


def test_keep_what_if(fake_cloud_run, capsys):
    ids = seed(fake_cloud_run)
    rows, _ = run_json(capsys, "--keep", "1")
    deleted = [r["name"] for r in rows if r["action"] == "delete"]
    assert deleted == [ids[2], ids[3], ids[5]]


def test_the_table_reads_like_gcloud_with_the_reasons(fake_cloud_run, capsys):
    ids = seed(fake_cloud_run)
    assert main(["revisions"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Revisions of emergence-app in emergence-469005/europe-west1")
    header = lines[1].split()
    assert header == [
        "REVISION",
        "READY",
        "TRAFFIC",
        "TAGS",
        "CREATED",
        "IMAGE",
        "DIGEST",
        "ACTION",
    ]
    row = next(line for line in lines if ids[1] in line)
    assert row.startswith("+") and "90%" in row and row.rstrip().endswith("keep")
    deleted = next(line for line in lines if ids[5] in line)
    assert "FAILED" in deleted and deleted.rstrip().endswith("DELETE")
    assert (
        lines[lines.index(deleted) + 1].strip()
        == "why: failed, older than the newest ready revision"
    )
    assert "7 revisions: keep 6 (5 ready, revisionsToKeep=3), delete 1" in out
    assert "warning: keeping 5 ready revisions although revisionsToKeep=3" in out


def test_the_command_and_the_resource_agree(fake_cloud_run, capsys):
    seed(fake_cloud_run)
    rows, _ = run_json(capsys)
    props = {
        "project": PROJECT,
        "location": "europe-west1",
        "service": SERVICE,
        "revisionsToKeep": 3,
        "dryRun": True,
        "pinnedRevision": "",
    }
    outs = RetentionProvider().create(props).outs
    assert [d["name"] for d in outs["wouldDelete"]] == [
        r["name"] for r in rows if r["action"] == "delete"
    ]
    assert {d["name"]: d["reason"] for d in outs["kept"]} == {
        r["name"]: r["reason"] for r in rows if r["action"] == "keep"
    }


def test_a_missing_service_is_one_line_exit_2(fake_cloud_run, capsys):
    assert main(["revisions"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cloud Run service emergence-app")
    assert "emergence-cloudrun:serviceName" in err
    assert len(err.strip().splitlines()) == 1


def test_a_refused_list_names_the_permission(fake_cloud_run, capsys):
    seed(fake_cloud_run)
    fake_cloud_run.fail_next(1, 403, path_contains="/revisions")
    assert main(["revisions", "--json"]) == 2
    assert "run.revisions.list" in capsys.readouterr().err


def test_missing_credentials_say_how_to_fix(monkeypatch, capsys):
    def missing(**kwargs):
        raise google.auth.exceptions.DefaultCredentialsError("not found")

    monkeypatch.delenv("CLOUD_RUN_API_ENDPOINT", raising=False)
    monkeypatch.setattr(google.auth, "default", missing)
    assert main(["revisions"]) == 2
    err = capsys.readouterr().err
    assert "gcloud auth application-default login" in err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err
