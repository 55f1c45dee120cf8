"""The alert rules, their Cloud Monitoring copies and the dashboard: tested, in step, valid.

- promtool runs the rule unit tests (deploy/monitoring/alerts.test.yml, and canary.test.yml
  for the canary analysis' rules, fed labelled series of a canary, a stable revision and
  staging): each alert fires on its series and stays quiet on the others. Debian's
  prometheus package ships promtool; CI installs it, and without it this fails under CI=true.
- The policies and dashboard generate.py makes from the rule file (they are generated where
  used, never kept, so they cannot drift) parse into the official google-cloud-monitoring
  message types with unknown fields refused.
- Every metric they name exists in groupie.metrics; every runbook link has its section."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.cloud import deploy_v1, monitoring_dashboard_v1, monitoring_v3
from prometheus_client import REGISTRY

from groupie import metrics  # noqa: F401  (registers every metric)
from tests import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
sys.path.insert(0, str(MONITORING))
import generate  # noqa: E402

TEST_FILES = ("alerts.test.yml", "canary.test.yml")


def rules() -> list[dict[str, object]]:
    document = yaml.safe_load((MONITORING / "alerts.rules.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_unit_tests_pass() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [promtool, "test", "rules", *(str(MONITORING / name) for name in TEST_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    texts = "\n".join((MONITORING / name).read_text() for name in TEST_FILES)
    tested = set(re.findall(r"alertname: (\w+)", texts))
    assert tested == {rule["alert"] for rule in rules()}  # every alert has its tests


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    generate.write(tmp_path, ["projects/p/notificationChannels/1"])
    return tmp_path


def test_every_rule_and_every_hand_written_policy_is_generated(generated: Path) -> None:
    names = {path.name for path in (generated / "policies").glob("*.json")}
    hand_written = {path.name for path in (MONITORING / "policies").glob("*.json")}
    assert names == {generate.file_name(str(rule["alert"])) for rule in rules()} | hand_written
    for path in (generated / "policies").glob("*.json"):
        channels = json.loads(path.read_text())["notificationChannels"]
        assert channels == ["projects/p/notificationChannels/1"]


def test_every_policy_is_a_valid_alert_policy_with_its_rule_s_query(generated: Path) -> None:
    by_alert = {rule["alert"]: rule for rule in rules()}
    seen = set()
    for path in sorted((generated / "policies").glob("*.json")):
        policy = monitoring_v3.AlertPolicy.from_json(path.read_text(), ignore_unknown_fields=False)
        assert policy.display_name.startswith("groupie: ")
        assert policy.severity in (
            monitoring_v3.AlertPolicy.Severity.CRITICAL,
            monitoring_v3.AlertPolicy.Severity.WARNING,
        )
        (condition,) = policy.conditions
        if condition.condition_matched_log.filter:
            check_deploy_log_policy(condition.condition_matched_log)
            assert policy.alert_strategy.notification_rate_limit.period.total_seconds() > 0
            continue
        promql = condition.condition_prometheus_query_language
        rule = by_alert[promql.alert_rule]
        assert promql.query == " ".join(str(rule["expr"]).split())
        assert policy.user_labels["severity"] == rule["labels"]["severity"]
        seen.add(promql.alert_rule)
    assert seen == set(by_alert)


# The payloads of Cloud Deploy's platform logs, by log: what a filter or extractor may name.
DEPLOY_LOGS = {
    "rollout_update": deploy_v1.RolloutUpdateEvent,
    "automation_run": deploy_v1.AutomationRunEvent,
}


def check_deploy_log_policy(condition: monitoring_v3.AlertPolicy.Condition.LogMatch) -> None:
    """Every jsonPayload field a deployment policy filters on or extracts is a field of that
    log's payload type in google-cloud-deploy (the deploy-failed policy once extracted a
    releaseId that RolloutUpdateEvent calls release)."""
    (log,) = re.findall(r"clouddeploy\.googleapis\.com%2F(\w+)", condition.filter)
    payload = DEPLOY_LOGS[log]
    known = {
        re.sub(r"_(\w)", lambda m: m.group(1).upper(), name.rstrip("_"))
        for name in payload.meta.fields
    }
    named = re.findall(r"jsonPayload\.(\w+)", condition.filter)
    named += [
        re.fullmatch(r"EXTRACT\(jsonPayload\.(\w+)\)", extractor).group(1)  # type: ignore[union-attr]
        for extractor in condition.label_extractors.values()
    ]
    assert named
    assert set(named) <= known, (log, set(named) - known)


def test_deployment_outcomes_have_policies_routed_to_the_deploy_channels(tmp_path: Path) -> None:
    generate.write(tmp_path, ["slack"], critical=["pager"], deploy=["email"])
    routed = {
        path.name: json.loads(path.read_text()) for path in (tmp_path / "policies").glob("*.json")
    }
    for name in ("deploy-failed.json", "deploy-promoted.json", "deploy-rolled-back.json"):
        assert routed[name]["notificationChannels"] == ["email"]
    by_severity = {rule["alert"]: rule["labels"]["severity"] for rule in rules()}
    for alert, severity in by_severity.items():
        channels = routed[generate.file_name(str(alert))]["notificationChannels"]
        assert channels == (["slack", "pager"] if severity == "critical" else ["slack"])


def test_runbook_links_in_policies_are_absolute_when_a_base_is_given(tmp_path: Path) -> None:
    base = "https://github.com/example/groupie/blob/main/"
    generate.write(tmp_path, [], runbook_base=base)
    for path in (tmp_path / "policies").glob("*.json"):
        content = json.loads(path.read_text())["documentation"]["content"]
        runbooks = re.findall(r"Runbook: (\S+)", content)
        assert runbooks, path.name
        assert all(link.startswith(base + "docs/") for link in runbooks), (path.name, runbooks)


def test_the_dashboard_is_a_valid_dashboard_with_the_seed_s_tiles(generated: Path) -> None:
    text = (generated / "dashboard.json").read_text()
    board = monitoring_dashboard_v1.Dashboard.from_json(text, ignore_unknown_fields=False)
    titles = " | ".join(tile.widget.title for tile in board.mosaic_layout.tiles)
    for wanted in (
        "Request volume",
        "Error rate",
        "Response time",
        "Throughput",
        "Health: application",
        "Health: database",
        "Health: encryption",
        "External APIs",
    ):
        assert wanted in titles


def test_every_metric_named_exists_and_every_runbook_has_its_section(generated: Path) -> None:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    known = {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    texts = [
        (MONITORING / "alerts.rules.yml").read_text(),
        (generated / "dashboard.json").read_text(),
    ]
    named = set(re.findall(r"\bgroupie_[a-z0-9_]+", "\n".join(texts)))
    assert named
    assert named <= known, named - known
    operations = (ROOT / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", operations, re.MULTILINE)
    }
    links = re.findall(r"operations\.md#([a-z0-9-]+)", "\n".join(texts))
    for path in (generated / "policies").glob("*.json"):
        links += re.findall(r"operations\.md#([a-z0-9-]+)", path.read_text())
    assert links
    assert set(links) <= anchors, set(links) - anchors
    json.loads(texts[1])
