"""The monitoring and Phase 2 settings keys: declared in both places, validated, named on error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.config import (
    KEYS,
    PROJECT_DIR,
    MonitoringSettings,
    Phase2Settings,
    SettingsError,
    build_settings,
    load_report_settings,
)

MINE = (
    "alertEmails",
    "uptimeCheckPeriodSeconds",
    "uptimeCheckTimeoutSeconds",
    "errorRatioThresholdPercent",
    "errorRatioDurationSeconds",
    "phase2CacheHitRateMinPercent",
    "phase2CacheHitRateExpectedMaxPercent",
    "phase2AnalysisP95TargetMs",
    "phase2DebateRound1TargetMs",
    "phase2DebateTotalTargetMs",
    "phase2CostMetric",
    "phase2CostBaseline",
    "phase2CostTargetPercent",
)
BASE = {
    "gcp:project": "emergence-469005",
    "gcp:region": "europe-west1",
    "emergence-cloudrun:emailEnabled": "false",
}


def settings(**values: str):
    raw = {**BASE, **{f"emergence-cloudrun:{k}": v for k, v in values.items()}}
    return build_settings("test", raw)


def test_keys_are_declared_identically_in_pulumi_yaml():
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    by_name = {k.name: k for k in KEYS}
    for name in MINE:
        key, entry = by_name[name], declared[name]
        assert entry["type"] == key.type, name
        assert entry["default"] == key.default, name
        assert entry["description"] == key.description, name


def test_defaults_match_the_dataclass_defaults():
    s = settings()
    assert s.monitoring == MonitoringSettings()
    assert s.phase2 == Phase2Settings()


def test_values_are_read():
    s = settings(
        alertEmails='["ops@example.com", "élodie@example.fr"]',
        uptimeCheckPeriodSeconds="60",
        errorRatioThresholdPercent="2",
        phase2CostBaseline="12.5",
        phase2AnalysisP95TargetMs="1500",
        monitoringEnabled="false",
    )
    assert s.monitoring.alert_emails == ("ops@example.com", "élodie@example.fr")
    assert s.monitoring.uptime_period_seconds == 60
    assert s.monitoring.error_ratio_threshold_percent == 2
    assert s.monitoring.enabled is False
    assert s.phase2.cost_baseline == 12.5
    assert s.phase2.analysis_p95_target_ms == 1500


@pytest.mark.parametrize(
    ("values", "key", "hint"),
    [
        ({"alertEmails": '["ops-at-example.com"]'}, "alertEmails", "not an e-mail address"),
        ({"alertEmails": '"ops@example.com"'}, "alertEmails", "not a list of strings"),
        ({"uptimeCheckPeriodSeconds": "120"}, "uptimeCheckPeriodSeconds", "60, 300, 600, 900"),
        ({"uptimeCheckTimeoutSeconds": "90"}, "uptimeCheckTimeoutSeconds", "outside 1..60"),
        ({"errorRatioThresholdPercent": "0"}, "errorRatioThresholdPercent", "outside 1..100"),
        ({"phase2CostBaseline": "douze"}, "phase2CostBaseline", "not a positive number"),
        ({"phase2CostBaseline": "-3"}, "phase2CostBaseline", "not a positive number"),
        ({"phase2CostMetric": "cost-usd"}, "phase2CostMetric", "not a Prometheus metric name"),
        (
            {"phase2CacheHitRateMinPercent": "60"},
            "phase2CacheHitRateExpectedMaxPercent",
            "below phase2CacheHitRateMinPercent",
        ),
        ({"phase2DebateRound1TargetMs": "abc"}, "phase2DebateRound1TargetMs", "not an integer"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(values, key, hint):
    with pytest.raises(SettingsError) as caught:
        settings(**values)
    assert f"emergence-cloudrun:{key}" in caught.value.keys
    message = str(caught.value)
    assert hint in message
    assert "Fix" in message or "pulumi config" in message or "longer than" in message


def test_the_report_reads_only_its_own_keys(tmp_path: Path):
    # The prod stack file holds no SMTP password here: a full settings load refuses it, the
    # report does not need it.
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack = (PROJECT_DIR / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    (tmp_path / "Pulumi.prod.yaml").write_text(
        stack + "  emergence-cloudrun:phase2CostBaseline: '14.2'\n"
        "  emergence-cloudrun:serviceName: emergence-app-eu\n",
        encoding="utf-8",
    )
    project, service, phase2 = load_report_settings("prod", tmp_path)
    assert (project, service, phase2.cost_baseline) == (
        "emergence-469005",
        "emergence-app-eu",
        14.2,
    )
    (tmp_path / "Pulumi.prod.yaml").write_text(
        stack + "  emergence-cloudrun:phase2CostTargetPercent: '180'\n", encoding="utf-8"
    )
    with pytest.raises(SettingsError) as caught:
        load_report_settings("prod", tmp_path)
    assert caught.value.keys == ["emergence-cloudrun:phase2CostTargetPercent"]
