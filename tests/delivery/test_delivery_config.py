"""The delivery configuration, checked without a cloud.

Cloud Deploy's resources (deploy/clouddeploy.yaml) are parsed into google-cloud-deploy's
message types with unknown fields refused; `analysis`, which the published client does not
know yet, is checked against the REST reference's shape. The Cloud Run manifests are checked
against the fields Cloud Run's YAML accepts, and the tests hold the policy: canary 5/25/50
with verify and analysis, rollback automation, resources per environment, secrets only as
mounted files, images by commit or tag, never latest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud import deploy_v1

from tests import ROOT

DEPLOY = ROOT / "deploy"
PLACEHOLDERS = {
    "PROJECT_ID",
    "REGION",
    "PROJECT_NUMBER",  # the Cloud Run URLs (https://SERVICE-NUMBER.REGION.run.app)
    "STAGING_HOST",
    "PRODUCTION_HOST",
    "POLICY_CANARY_ERROR_RATE",
    "POLICY_CANARY_SLOW",
    "POLICY_CANARY_HEALTH_CHECKS",
    "POLICY_CANARY_NO_SUCCESS",
    "POLICY_CANARY_NOT_PROGRESSING",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resources() -> dict[str, list[dict[str, Any]]]:
    """The resources of clouddeploy.yaml by kind, freshly read (as_message changes them)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in documents(DEPLOY / "clouddeploy.yaml"):
        assert doc["apiVersion"] == "deploy.cloud.google.com/v1"
        by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


# Where Cloud Deploy's declarative YAML names a field otherwise than the API does.
YAML_NAMES = {"toTargetId": "destinationTargetId", "toPhase": "destinationPhase"}


def as_message(doc: dict[str, Any]) -> dict[str, Any]:
    """A declarative resource as the API's JSON: metadata.name becomes name."""
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    for rule in body.get("rules", []):
        for settings in rule.values():
            for yaml_name, api_name in YAML_NAMES.items():
                if yaml_name in settings:
                    settings[api_name] = settings.pop(yaml_name)
    body["name"] = doc["metadata"]["name"]
    for field in ("annotations", "labels"):
        if field in doc["metadata"]:
            body[field] = doc["metadata"][field]
    return body


def test_every_cloud_deploy_resource_parses_into_the_official_types() -> None:
    types = {
        "DeliveryPipeline": deploy_v1.DeliveryPipeline,
        "Target": deploy_v1.Target,
        "Automation": deploy_v1.Automation,
    }
    found = resources()
    assert sorted(found) == sorted(types)
    for kind, docs in found.items():
        for doc in docs:
            body = as_message(doc)
            if kind == "DeliveryPipeline":
                body = json.loads(json.dumps(body))
                for stage in body["serialPipeline"]["stages"]:
                    canary = stage["strategy"].get("canary", {}).get("canaryDeployment", {})
                    check_analysis(canary.pop("analysis", None))
            message = types[kind].from_json(json.dumps(body), ignore_unknown_fields=False)
            assert message.name == doc["metadata"]["name"]


def check_analysis(analysis: dict[str, Any] | None) -> None:
    """The REST reference's Analysis: duration, googleCloud.alertPolicyChecks[] of id,
    alertPolicies (projects/P/alertPolicies/ID) and labels; customChecks. Nothing else."""
    if analysis is None:
        return
    assert set(analysis) <= {"duration", "googleCloud", "customChecks"}
    assert re.fullmatch(r"\d+s", analysis["duration"])
    assert set(analysis["googleCloud"]) <= {"alertPolicyChecks"}
    for check in analysis["googleCloud"]["alertPolicyChecks"]:
        assert set(check) <= {"id", "alertPolicies", "labels"}
        assert check["id"]
        for policy in check["alertPolicies"]:
            assert re.fullmatch(r"projects/\$\{PROJECT_ID\}/alertPolicies/\$\{POLICY_\w+\}", policy)


def test_production_is_a_verified_analysed_5_25_50_canary_after_a_verified_staging() -> None:
    (pipeline,) = resources()["DeliveryPipeline"]
    staging, production = pipeline["serialPipeline"]["stages"]
    assert (staging["targetId"], production["targetId"]) == ("staging", "production")
    assert staging["strategy"]["standard"]["verify"] is True
    assert staging["strategy"]["standard"]["predeploy"]["actions"] == ["migrate"]
    canary = production["strategy"]["canary"]
    assert canary["runtimeConfig"]["cloudRun"]["automaticTrafficControl"] is True
    phases = canary["canaryDeployment"]
    assert phases["percentages"] == [5, 25, 50]
    assert phases["verify"] is True
    assert phases["predeploy"]["actions"] == ["migrate"]
    checks = phases["analysis"]["googleCloud"]["alertPolicyChecks"]
    analysed = {p.rsplit("/", 1)[1] for check in checks for p in check["alertPolicies"]}
    # Exactly the canary-scoped policies: one per rule of the group groupie-canary, whose
    # file names bootstrap.sh maps to these placeholders.
    (group,) = [g for g in monitoring_rules()["groups"] if g["name"] == "groupie-canary"]
    bootstrap = (DEPLOY / "bootstrap.sh").read_text()
    exported = dict(re.findall(r"export (POLICY_\w+)=\$\{POLICIES\[([a-z0-9-]+)\]\}", bootstrap))
    assert {f"${{{name}}}" for name in exported} == analysed
    files = {name.removesuffix(".json") for name in map(file_name, group["rules"])}
    assert set(exported.values()) == files
    # Every rule's window plus its `for:` fits inside a phase's analysis, with room to spare.
    duration = int(phases["analysis"]["duration"].removesuffix("s"))
    for rule in group["rules"]:
        windows = [seconds(w) for w in re.findall(r"\[(\d+[smh])\]", rule["expr"])]
        assert windows
        assert max(windows) + seconds(rule.get("for", "0s")) <= duration / 2, rule["alert"]
        assert 'service_name="groupie"' in rule["expr"]
        assert "revision_name" in rule["expr"]


def monitoring_rules() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "monitoring" / "alerts.rules.yml").read_text())


def file_name(rule: dict[str, Any]) -> str:
    """GroupieCanarySlow -> groupie-canary-slow.json, as deploy/monitoring/generate.py names it."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", rule["alert"]).lower() + ".json"


def seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def test_automation_promotes_advances_and_rolls_back() -> None:
    rules = {
        next(iter(rule)): (automation["selector"]["targets"][0]["id"], rule[next(iter(rule))])
        for automation in resources()["Automation"]
        for rule in automation["rules"]
    }
    assert rules["promoteReleaseRule"][0] == "staging"
    assert rules["promoteReleaseRule"][1]["toTargetId"] == "@next"
    target, advance = rules["advanceRolloutRule"]
    assert target == "production"
    assert advance["sourcePhases"] == ["canary-5", "canary-25", "canary-50"]
    target, repair = rules["repairRolloutRule"]
    assert target == "production"
    assert set(repair["jobs"]) == {"verify", "analysis"}
    assert "rollback" in repair["repairPhases"][-1]


SERVICE_FIELDS = {
    (): {"apiVersion", "kind", "metadata", "spec"},
    ("metadata",): {"name", "annotations", "labels"},
    ("spec",): {"template", "traffic"},
    ("spec", "template"): {"metadata", "spec"},
    ("spec", "template", "metadata"): {"annotations", "labels", "name"},
    ("spec", "template", "spec"): {
        "serviceAccountName",
        "containerConcurrency",
        "timeoutSeconds",
        "containers",
        "volumes",
    },
    ("container",): {
        "name",
        "image",
        "command",
        "args",
        "ports",
        "env",
        "resources",
        "startupProbe",
        "livenessProbe",
        "volumeMounts",
    },
}


def service(environment: str) -> dict[str, Any]:
    (doc,) = documents(DEPLOY / "run" / f"service-{environment}.yaml")
    return doc


@pytest.mark.parametrize(
    ("environment", "cpu", "memory", "scale"),
    [("staging", "1", "512Mi", ("0", "10")), ("production", "2", "1Gi", ("1", "100"))],
)
def test_each_service_has_its_resources_probes_and_only_fields_cloud_run_accepts(
    environment: str, cpu: str, memory: str, scale: tuple[str, str]
) -> None:
    doc = service(environment)
    assert (doc["apiVersion"], doc["kind"]) == ("serving.knative.dev/v1", "Service")
    for path, allowed in SERVICE_FIELDS.items():
        if path == ("container",):
            continue
        node: Any = doc
        for key in path:
            node = node[key]
        assert set(node) <= allowed, (path, set(node) - allowed)
    template = doc["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert (
        annotations["autoscaling.knative.dev/minScale"],
        annotations["autoscaling.knative.dev/maxScale"],
    ) == scale
    app, collector = template["spec"]["containers"]
    for container in (app, collector):
        assert set(container) <= SERVICE_FIELDS[("container",)]
    assert app["resources"]["limits"] == {"cpu": cpu, "memory": memory}
    assert app["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["livenessProbe"]["failureThreshold"] == 3
    assert app["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert app["image"] == "groupie"  # the release's artifact: a SHA or tag, set per release
    assert 0 < template["spec"]["containerConcurrency"] <= 80


def test_secrets_are_mounted_files_never_values() -> None:
    for environment in ("staging", "production"):
        spec = service(environment)["spec"]["template"]["spec"]
        env = {item["name"]: item["value"] for item in spec["containers"][0]["env"]}
        for name in ("DJANGO_SECRET_KEY", "WEBHOOK_SECRET", "TELEGRAM_TOKEN", "DATABASE_URL"):
            assert name not in env
            assert env[f"{name}_FILE"].startswith("/secrets/")
        mounted = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"]}
        prefix = "groupie-staging-" if environment == "staging" else "groupie-"
        assert mounted["webhook-secret"] == f"{prefix}webhook-secret"
        # Pinned versions: a new secret version reaches a revision only through a release
        # (and its canary), and a rollback brings the previous version back with the code.
        versions = [item["key"] for v in spec["volumes"] for item in v["secret"]["items"]]
        assert versions
        assert all(re.fullmatch(r"[1-9][0-9]*", key) for key in versions), versions
    job = (DEPLOY / "run" / "job.yaml").read_text()
    assert "latest" not in job
    assert re.findall(r"key: \"\$\{\w+_VERSION\}\"", job)


def test_both_services_are_public_and_say_so_in_their_manifest() -> None:
    # Telegram, smoke_check and Cloud Tasks have no Google identity to present: without this
    # every call gets Cloud Run's 403 before groupie sees it.
    for environment in ("staging", "production"):
        annotations = service(environment)["metadata"]["annotations"]
        assert annotations["run.googleapis.com/invoker-iam-disabled"] == "true"
    bootstrap = (DEPLOY / "bootstrap.sh").read_text()
    # Applying that annotation takes run.services.setIamPolicy, which run.developer lacks.
    assert "run.services.setIamPolicy" in bootstrap


def run_monitoring_schema() -> dict[str, Any]:
    return json.loads((DEPLOY / "run" / "schemas" / "run-monitoring.schema.json").read_text())


def test_the_sidecar_config_is_a_run_monitoring_document_its_schema_accepts() -> None:
    import jsonschema

    (config,) = documents(DEPLOY / "run" / "run-monitoring.yaml")
    validator = jsonschema.Draft7Validator(run_monitoring_schema())
    assert list(validator.iter_errors(config)) == []
    # The old format, and a typo, are refused as the sidecar refuses them (strict YAML).
    old = {"metric_scrapers": [{"port": 9464, "path": "/metrics", "interval": "30s"}]}
    assert list(validator.iter_errors(old))
    typo = json.loads(json.dumps(config))
    typo["spec"]["endpoints"][0]["intervall"] = "30s"
    assert list(validator.iter_errors(typo))
    (endpoint,) = config["spec"]["endpoints"]
    for environment in ("staging", "production"):
        app = service(environment)["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item.get("value") for item in app["env"]}
        assert str(endpoint["port"]) == env["GROUPIE_METRICS_PORT"]
        # The sidecar reads /etc/rungmp/config.yaml (run-gmp-sidecar's entrypoint.go).
        spec = service(environment)["spec"]["template"]["spec"]
        collector = spec["containers"][1]
        (mount,) = collector["volumeMounts"]
        assert mount["mountPath"] == "/etc/rungmp"
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["items"][0]["path"] == "config.yaml"
    bootstrap = (DEPLOY / "bootstrap.sh").read_text()
    assert "deploy/run/run-monitoring.yaml" in bootstrap
    assert "metric_scrapers" not in bootstrap


def test_no_image_is_latest_and_every_placeholder_is_known() -> None:
    texts = {
        path: path.read_text()
        for path in [*DEPLOY.rglob("*.yaml"), ROOT / ".github" / "workflows" / "deploy.yml"]
    }
    for path, text in texts.items():
        assert ":latest" not in text, path
        assert not re.search(r"image: \S+/\S+$", text, re.MULTILINE) or all(
            re.search(r":[\w.-]+$", image) or "@sha256:" in image
            for image in re.findall(r"image: (\S+/\S+)$", text, re.MULTILINE)
        ), path
    used = set(re.findall(r"\$\{([A-Z_0-9]+)\}", texts[DEPLOY / "clouddeploy.yaml"]))
    assert used <= PLACEHOLDERS
    bootstrap = (DEPLOY / "bootstrap.sh").read_text()
    for name in used:
        assert name in bootstrap, f"bootstrap.sh does not set {name}"


def test_skaffold_renders_per_profile_and_runs_migrate_before_and_smoke_check_after() -> None:
    (config,) = documents(DEPLOY / "skaffold.yaml")
    profiles = {p["name"]: p["manifests"]["rawYaml"] for p in config["profiles"]}
    assert profiles == {
        "staging": ["run/service-staging.yaml"],
        "production": ["run/service-production.yaml"],
    }
    for manifest in [*profiles["staging"], *profiles["production"]]:
        assert (DEPLOY / manifest).is_file()
    (action,) = config["customActions"]
    assert action["name"] == "migrate"
    assert "groupie-migrate-$CLOUD_DEPLOY_TARGET" in action["containers"][0]["args"][0]
    (verify,) = config["verify"]
    script = verify["container"]["args"][0]
    assert "manage.py,smoke_check,$url" in script
    # During a canary the check goes to the canary's tag URL, not the (mostly stable) service.
    assert 'get("tag") == "canary"' in script
    (pipeline,) = resources()["DeliveryPipeline"]
    cloud_run = pipeline["serialPipeline"]["stages"][1]["strategy"]["canary"]["runtimeConfig"]
    assert "canary" in cloud_run["cloudRun"]["canaryRevisionTags"]


def test_bootstrap_dry_run_prints_every_step_and_runs_nothing(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    env = {
        "PATH": f"{tmp_path}:/usr/bin:/bin",  # no gcloud here: a dry run must not need it
        "PROJECT_ID": "groupie-example",
        "REGION": "europe-west1",
        "GITHUB_REPOSITORY": "example/groupie",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", str(DEPLOY / "bootstrap.sh"), "--dry-run"],
        env={**env, **({"CI": os.environ["CI"]} if "CI" in os.environ else {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    for step in (
        "gcloud services enable",
        "gcloud artifacts repositories create groupie",
        "gcloud kms keys create chat-keys",
        "--rotation-period",
        "gcloud firestore databases create",
        "gcloud firestore indexes composite create",
        "gcloud sql instances create groupie",
        "gcloud secrets create groupie-webhook-secret",
        "gcloud iam workload-identity-pools providers create-oidc github",
        "assertion.repository == 'example/groupie'",
        "gcloud deploy apply",
        "gcloud run jobs replace",
        "gcloud monitoring policies create",
        "gcloud monitoring dashboards create",
    ):
        assert step in printed, step
    assert "roles/owner" not in printed
    assert "roles/editor" not in printed


def test_the_base_digest_is_in_a_literal_from_line_and_releases_name_images_by_digest() -> None:
    froms = re.findall(r"^FROM (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    # Dependabot reads a literal FROM; podman's --from swaps this first one for a stand-in.
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64} AS base", froms[0])
    assert all(line.split()[0] == "base" for line in froms[1:]), froms
    deploy = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert '--images "groupie=$REPOSITORY/groupie@$IMAGE_DIGEST"' in deploy
    assert "groupie:$IMAGE_TAG" not in deploy


def test_workload_identity_trusts_only_main_and_release_tags() -> None:
    bootstrap = (DEPLOY / "bootstrap.sh").read_text()
    (condition,) = re.findall(r'^WIF_CONDITION="(.+)"$', bootstrap, re.MULTILINE)
    assert "assertion.ref == 'refs/heads/main'" in condition
    assert "assertion.ref.startsWith('refs/tags/v')" in condition
    assert condition.startswith("assertion.repository == '$GITHUB_REPOSITORY' && (")
