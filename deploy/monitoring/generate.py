"""Cloud Monitoring alert policies and the operational dashboard, from alerts.rules.yml.

    python deploy/monitoring/generate.py --out DIR [--channel projects/P/notificationChannels/N]
        [--critical-channel CHANNEL] [--deploy-channel CHANNEL]

The Prometheus rule file is the one source. Each rule becomes a policy with a PromQL condition
(Cloud Monitoring evaluates PromQL over Managed Service for Prometheus, which collects the
service's /metrics), the same expression, duration and severity, and documentation pointing
at the runbook. The output is generated where it is used (deploy/bootstrap.sh, the tests), not
kept in the repository, so it cannot drift from the rules. ``--channel`` (repeatable) adds
notification channels (PagerDuty, Slack, email: create them once in Cloud Monitoring) to
every policy, for ``gcloud monitoring policies create --policy-from-file``;
``--critical-channel`` (the pager, SMS) is added to the critical ones only, and
``--deploy-channel`` replaces them on the hand-written deployment policies (deploy-*.json:
promoted, failed, rolled back).

``policies/`` holds the policies written by hand, copied with the generated ones:
``deploy-failed.json``, because a failed Cloud Deploy rollout is in Cloud Deploy's logs, not
in the service's metrics, so it is a log-match policy.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "alerts.rules.yml"
POLICIES = HERE / "policies"  # the hand-written ones
SEVERITY = {"critical": "CRITICAL", "warning": "WARNING"}
EVALUATION_INTERVAL = "60s"
_DURATION = re.compile(r"^(\d+)([smh])$")


def seconds(duration: str) -> str:
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"unsupported duration {duration!r}")
    number, unit = int(match.group(1)), match.group(2)
    return f"{number * {'s': 1, 'm': 60, 'h': 3600}[unit]}s"


def file_name(alert: str) -> str:
    """GroupieHighCPU -> groupie-high-cpu.json"""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert).lower() + ".json"


def policy(
    group: str, rule: dict[str, Any], channels: list[str], interval: str = EVALUATION_INTERVAL
) -> dict[str, Any]:
    annotations = rule["annotations"]
    severity = rule["labels"]["severity"]
    return {
        "displayName": f"groupie: {annotations['summary']}",
        "documentation": {
            "content": (
                f"**{annotations['summary']}** (alert {rule['alert']} of "
                "deploy/monitoring/alerts.rules.yml, where its thresholds are tested).\n\n"
                f"Runbook: {annotations['runbook_url']}"
            ),
            "mimeType": "text/markdown",
            "subject": f"[{severity}] groupie: {annotations['summary']}",
        },
        "userLabels": {"service": "groupie", "severity": severity},
        "severity": SEVERITY[severity],
        "combiner": "OR",
        "conditions": [
            {
                "displayName": rule["alert"],
                "conditionPrometheusQueryLanguage": {
                    "query": " ".join(rule["expr"].split()),
                    "duration": seconds(rule.get("for", "0s")),
                    "evaluationInterval": seconds(interval),
                    "ruleGroup": group,
                    "alertRule": rule["alert"],
                    "labels": {"severity": severity},
                },
            }
        ],
        "alertStrategy": {"autoClose": "1800s"},
        "notificationChannels": channels,
    }


def policies(channels: list[str]) -> dict[str, dict[str, Any]]:
    rules = yaml.safe_load(RULES.read_text())
    return {
        file_name(rule["alert"]): policy(
            group["name"], rule, channels, group.get("interval", EVALUATION_INTERVAL)
        )
        for group in rules["groups"]
        for rule in group["rules"]
    }


# -- the dashboard --------------------------------------------------------------------------------

PROBES = 'route!~"healthz|readyz|metrics"'
TILES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Request volume (requests/s by route)",
        [("{{route}}", f"sum by (route) (rate(groupie_http_requests_total{{{PROBES}}}[5m]))")],
    ),
    (
        "Error rate (share of 4xx and 5xx)",
        [
            (
                "4xx+5xx",
                f'sum(rate(groupie_http_requests_total{{status_class=~"4xx|5xx", {PROBES}}}[5m]))'
                f" / sum(rate(groupie_http_requests_total{{{PROBES}}}[5m]))",
            ),
            (
                "5xx",
                f'sum(rate(groupie_http_requests_total{{status_class="5xx", {PROBES}}}[5m]))'
                f" / sum(rate(groupie_http_requests_total{{{PROBES}}}[5m]))",
            ),
        ],
    ),
    (
        "Response time (s)",
        [
            (
                f"p{int(q * 100)}",
                f"histogram_quantile({q}, sum by (le) "
                f"(rate(groupie_http_request_duration_seconds_bucket{{{PROBES}}}[5m])))",
            )
            for q in (0.5, 0.95, 0.99)
        ],
    ),
    (
        "Throughput: updates by outcome (per s)",
        [("{{outcome}}", "sum by (outcome) (rate(groupie_updates_total[5m]))")],
    ),
    (
        "Archive latency (s)",
        [
            (
                "p95",
                "histogram_quantile(0.95, sum by (le) (rate(groupie_archive_seconds_bucket[5m])))",
            )
        ],
    ),
    (
        "Health: application (readiness failures/s, 503s/s)",
        [
            (
                "readyz 5xx",
                'sum(rate(groupie_http_requests_total{route="readyz", status_class="5xx"}[5m]))',
            ),
            ("webhook 503", 'sum(rate(groupie_updates_total{outcome="unavailable"}[5m]))'),
        ],
    ),
    (
        "Health: database and store (errors/s by operation)",
        [("{{operation}}", "sum by (operation) (rate(groupie_store_errors_total[5m]))")],
    ),
    (
        "Health: encryption (keyring calls/s by result, decrypt failures/s)",
        [
            (
                "{{operation}} {{result}}",
                "sum by (operation, result) (rate(groupie_keyring_calls_total[5m]))",
            ),
            ("decrypt failures", "sum(rate(groupie_decrypt_failures_total[5m]))"),
            ("cache misses", 'sum(rate(groupie_chat_key_cache_lookups_total{result="miss"}[5m]))'),
        ],
    ),
    (
        "External APIs: Telegram (pending updates, getWebhookInfo errors)",
        [
            ("pending at Telegram", "max(groupie_telegram_pending_updates)"),
            ("check errors/s", "sum(rate(groupie_telegram_webhook_info_errors_total[5m]))"),
        ],
    ),
    (
        "Read API (requests/s by endpoint and API key prefix)",
        [("{{endpoint}} {{key}}", "sum by (endpoint, key) (rate(groupie_api_requests_total[5m]))")],
    ),
    (
        "Resources (memory and CPU against the container's limits)",
        [
            (
                "memory",
                "max(groupie_process_resident_memory_bytes) / max(groupie_memory_limit_bytes > 0)",
            ),
            ("cpu", "sum(rate(groupie_process_cpu_seconds[5m])) / max(groupie_cpu_limit_cores)"),
        ],
    ),
]


def dashboard() -> dict[str, Any]:
    tiles = []
    for index, (title, series) in enumerate(TILES):
        tiles.append(
            {
                "xPos": (index % 2) * 24,
                "yPos": (index // 2) * 16,
                "width": 24,
                "height": 16,
                "widget": {
                    "title": title,
                    "xyChart": {
                        "chartOptions": {"mode": "COLOR"},
                        "dataSets": [
                            {
                                "plotType": "LINE",
                                "legendTemplate": legend,
                                "targetAxis": "Y1",
                                "timeSeriesQuery": {"prometheusQuery": query},
                            }
                            for legend, query in series
                        ],
                    },
                },
            }
        )
    return {
        "displayName": "groupie: operations",
        "labels": {"service": ""},
        "mosaicLayout": {"columns": 48, "tiles": tiles},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(
    out: Path,
    channels: list[str],
    critical: list[str] | None = None,
    deploy: list[str] | None = None,
    runbook_base: str = "",
) -> list[Path]:
    """Writes every policy (the generated ones and the hand-written ones of ``policies/``, all
    with ``channels``; ``critical`` added to the critical ones; ``deploy``, when given,
    instead of ``channels`` on the hand-written deployment ones) to ``out/policies/`` and the
    dashboard to ``out/dashboard.json``. ``runbook_base`` (e.g. https://github.com/OWNER/REPO/
    blob/main/) turns the rules' repository-relative runbook links into absolute URLs: a page
    or an SMS has no repository to be relative to."""
    (out / "policies").mkdir(parents=True, exist_ok=True)
    documents = dict(policies(channels))
    for body in documents.values():
        if body["severity"] == "CRITICAL":
            body["notificationChannels"] = [*channels, *(critical or [])]
    for path in sorted(POLICIES.glob("*.json")):
        hand = json.loads(path.read_text())
        hand["notificationChannels"] = channels if deploy is None else deploy
        documents[path.name] = hand
    written = []
    for name, body in documents.items():
        if runbook_base:
            text = body["documentation"]["content"]
            body["documentation"]["content"] = re.sub(
                r"(?<![\w/])docs/", runbook_base.rstrip("/") + "/docs/", text
            )
        (out / "policies" / name).write_text(render(body))
        written.append(out / "policies" / name)
    (out / "dashboard.json").write_text(render(dashboard()))
    return [*written, out / "dashboard.json"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the directory to write to")
    parser.add_argument("--channel", action="append", default=[], help="notification channel")
    parser.add_argument(
        "--critical-channel", action="append", default=[], help="for the critical alerts too"
    )
    parser.add_argument(
        "--deploy-channel", action="append", default=None, help="for deployment outcomes"
    )
    parser.add_argument("--runbook-base", default="", help="URL the runbook paths are under")
    args = parser.parse_args()
    written = write(
        args.out, args.channel, args.critical_channel, args.deploy_channel, args.runbook_base
    )
    print(f"{len(written) - 1} policies and the dashboard written under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
