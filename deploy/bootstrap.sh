#!/usr/bin/env bash
# One-time setup of a Google Cloud project for groupie: everything docs/deploy.md's first deploy
# needs. Idempotent: each resource is created only when `describe` does not find it, so run it
# again after a failure or to pick up a change. `--dry-run` prints the commands and runs none.
#
#   PROJECT_ID=my-project REGION=europe-west1 GITHUB_REPOSITORY=owner/groupie \
#   CRITICAL_CHANNELS="groupie PagerDuty,groupie SMS" WARNING_CHANNELS="groupie Slack" \
#   DEPLOY_CHANNELS="groupie Slack,groupie email" \
#   deploy/bootstrap.sh [--dry-run]
#
# It needs no image: the Cloud Run jobs are created on a placeholder image (the Cloud SDK's),
# and every deploy hook points its job at the release's image before running it. So the order
# is bootstrap, then the GitHub variables, then the first push (docs/deploy.md).
#
# The *_CHANNELS are display names of notification channels the operator created in Cloud
# Monitoring (PagerDuty, SMS, Slack, email: their settings are per vendor), comma-separated:
# CRITICAL_CHANNELS get the critical alerts (and the warnings' channels too), WARNING_CHANNELS
# every alert, DEPLOY_CHANNELS the deployment outcomes (promoted, failed and rolled back).
# TELEGRAM_TOKEN and TELEGRAM_TOKEN_STAGING fill the bot token secrets if set.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
: "${PROJECT_ID:?set PROJECT_ID}" "${REGION:?set REGION}" "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY (owner/name)}"
# Only for the jobs' creation: each hook replaces it with the release's image (by digest).
IMAGE=${IMAGE:-gcr.io/google.com/cloudsdktool/google-cloud-cli:499.0.0-slim}
PYTHON=${PYTHON:-python3}  # with PyYAML, e.g. .venv/bin/python: it generates the policies
CRITICAL_CHANNELS=${CRITICAL_CHANNELS:-} WARNING_CHANNELS=${WARNING_CHANNELS:-}
DEPLOY_CHANNELS=${DEPLOY_CHANNELS:-}
# The secret versions the jobs mount (the services pin theirs in deploy/run/service-*.yaml).
export DJANGO_SECRET_KEY_VERSION=${DJANGO_SECRET_KEY_VERSION:-1} \
  WEBHOOK_SECRET_VERSION=${WEBHOOK_SECRET_VERSION:-1} \
  TELEGRAM_TOKEN_VERSION=${TELEGRAM_TOKEN_VERSION:-1} DATABASE_URL_VERSION=${DATABASE_URL_VERSION:-1}
P=(--project "$PROJECT_ID")
SA_DOMAIN="$PROJECT_ID.iam.gserviceaccount.com"
RUNTIME="groupie-runtime@$SA_DOMAIN" JOBS="groupie-jobs@$SA_DOMAIN"
DEPLOYER="groupie-deployer@$SA_DOMAIN" PUBLISHER="groupie-publisher@$SA_DOMAIN"
KEY="projects/$PROJECT_ID/locations/$REGION/keyRings/groupie/cryptoKeys/chat-keys"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

run() {  # run COMMAND...: print it; run it unless this is a dry run
  printf '+ %s\n' "$*"
  [ "$DRY_RUN" = 1 ] || "$@"
}

ensure() {  # ensure "DESCRIBE COMMAND" CREATE COMMAND...: create unless describe finds it
  local describe=$1
  shift
  if [ "$DRY_RUN" = 0 ] && eval "$describe" >/dev/null 2>&1; then
    printf '= exists: %s\n' "$describe"
    return
  fi
  run "$@"
}

step() { printf '\n== %s\n' "$*"; }

step "APIs"
run gcloud services enable "${P[@]}" run.googleapis.com artifactregistry.googleapis.com \
  clouddeploy.googleapis.com cloudbuild.googleapis.com cloudkms.googleapis.com \
  firestore.googleapis.com sqladmin.googleapis.com secretmanager.googleapis.com \
  iam.googleapis.com iamcredentials.googleapis.com sts.googleapis.com \
  monitoring.googleapis.com logging.googleapis.com cloudtasks.googleapis.com \
  storage.googleapis.com

step "Artifact Registry (images by commit SHA and release tag)"
ensure "gcloud artifacts repositories describe groupie --location $REGION --project $PROJECT_ID" \
  gcloud artifacts repositories create groupie "${P[@]}" --location "$REGION" \
  --repository-format docker --description "groupie images"

step "Service accounts: the service, its jobs, Cloud Deploy, GitHub's publisher, Cloud Tasks' caller"
TASKS="groupie-tasks@$SA_DOMAIN"
for account in groupie-runtime groupie-jobs groupie-deployer groupie-publisher groupie-tasks; do
  ensure "gcloud iam service-accounts describe $account@$SA_DOMAIN --project $PROJECT_ID" \
    gcloud iam service-accounts create "$account" "${P[@]}" --display-name "$account"
done

step "Cloud KMS: the KEK, rotated every 90 days; only groupie's accounts may use it"
ensure "gcloud kms keyrings describe groupie --location $REGION --project $PROJECT_ID" \
  gcloud kms keyrings create groupie "${P[@]}" --location "$REGION"
ensure "gcloud kms keys describe chat-keys --keyring groupie --location $REGION --project $PROJECT_ID" \
  gcloud kms keys create chat-keys "${P[@]}" --keyring groupie --location "$REGION" \
  --purpose encryption --rotation-period 90d \
  --next-rotation-time "$(date -u -d '+90 days' +%Y-%m-%dT%H:%M:%SZ)"
for account in "$RUNTIME" "$JOBS"; do
  run gcloud kms keys add-iam-policy-binding "$KEY" \
    --member "serviceAccount:$account" --role roles/cloudkms.cryptoKeyEncrypterDecrypter
done
# rotate_kek, configure_kek and rewrap_keys (jobs) manage versions of this key only.
run gcloud kms keys add-iam-policy-binding "$KEY" \
  --member "serviceAccount:$JOBS" --role roles/cloudkms.admin

step "Firestore: production (default) and staging databases, with groupie's indexes"
for database in "(default)" groupie-staging; do
  ensure "gcloud firestore databases describe --database '$database' --project $PROJECT_ID" \
    gcloud firestore databases create "${P[@]}" --database "$database" --location "$REGION" \
    --type firestore-native
  python3 - "$database" <<'PY' >"$WORK/indexes.sh"
import json, shlex, sys
for index in json.load(open("firestore.indexes.json"))["indexes"]:
    fields = [f"--field-config=field-path={f['fieldPath']},"
              + (f"order={f['order'].lower()}" if "order" in f
                 else f"array-config={f['arrayConfig'].lower()}")
              for f in index["fields"]]
    print(" ".join(["gcloud firestore indexes composite create",
                    f"--database={shlex.quote(sys.argv[1])}",
                    f"--collection-group={index['collectionGroup']}",
                    f"--query-scope={index['queryScope']}", *fields, "--async"]))
# Fields never queried (envelopes, the log's pending leaves) are not indexed: fewer index
# writes per message, and fewer stored bytes billed.
for field in json.load(open("firestore.indexes.json"))["fieldOverrides"]:
    assert not field["indexes"], "only exemptions of every index are written here"
    print(" ".join(["gcloud firestore indexes fields update", field["fieldPath"],
                    f"--database={shlex.quote(sys.argv[1])}",
                    f"--collection-group={field['collectionGroup']}",
                    "--disable-indexes", "--async"]))
PY
  while read -r line; do
    # Already there: Firestore says so and nothing changes.
    read -r -a command <<<"$line"
    run "${command[@]}" "${P[@]}" || true
  done <"$WORK/indexes.sh"
done
run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
  --member "serviceAccount:$RUNTIME" --role roles/datastore.user --condition None
run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
  --member "serviceAccount:$JOBS" --role roles/datastore.user --condition None

step "Cloud SQL PostgreSQL for Django's own tables (users, sessions, API keys, audit log)"
# The smallest shared-core instance holds these few, small tables; the archive is in Firestore.
ensure "gcloud sql instances describe groupie --project $PROJECT_ID" \
  gcloud sql instances create groupie "${P[@]}" --region "$REGION" \
  --database-version POSTGRES_15 --edition enterprise --tier db-f1-micro \
  --storage-auto-increase --backup-start-time 03:00
for database in groupie groupie_staging; do
  ensure "gcloud sql databases describe $database --instance groupie --project $PROJECT_ID" \
    gcloud sql databases create "$database" "${P[@]}" --instance groupie
done
for account in "$RUNTIME" "$JOBS"; do
  run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
    --member "serviceAccount:$account" --role roles/cloudsql.client --condition None
done

step "Secret Manager: the secrets, readable by the service and its jobs only"
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
for prefix in groupie- groupie-staging-; do
  database=groupie
  [ "$prefix" = groupie-staging- ] && database=groupie_staging
  token=${TELEGRAM_TOKEN:-}
  [ "$prefix" = groupie-staging- ] && token=${TELEGRAM_TOKEN_STAGING:-}
  for name in django-secret-key webhook-secret telegram-token database-url run-gmp-config; do
    secret="$prefix$name"
    case $name in
      django-secret-key | webhook-secret) value=$(random) ;;
      telegram-token) value=${token:-set-me-with-gcloud-secrets-versions-add} ;;
      database-url)
        value="postgres://$database:$(random)@/$database?host=/cloudsql/$PROJECT_ID:$REGION:groupie" ;;
      # The sidecar's RunMonitoring document, validated by make lint-delivery.
      run-gmp-config) value=$(cat deploy/run/run-monitoring.yaml) ;;
    esac
    if [ "$DRY_RUN" = 0 ] && gcloud secrets describe "$secret" "${P[@]}" >/dev/null 2>&1; then
      printf '= exists: secret %s (its value is kept)\n' "$secret"
    else
      printf '+ gcloud secrets create %s --data-file - (a generated value, never printed)\n' "$secret"
      [ "$DRY_RUN" = 1 ] || printf '%s' "$value" | gcloud secrets create "$secret" "${P[@]}" \
        --replication-policy automatic --data-file -
      if [ "$name" = database-url ] && [ "$DRY_RUN" = 0 ]; then
        password=${value#*:*:}
        gcloud sql users create "$database" "${P[@]}" --instance groupie \
          --password "${password%%@*}"
      fi
    fi
    for account in "$RUNTIME" "$JOBS"; do
      run gcloud secrets add-iam-policy-binding "$secret" "${P[@]}" \
        --member "serviceAccount:$account" --role roles/secretmanager.secretAccessor
    done
  done
done

step "Media: a private bucket and a Cloud Tasks queue per target (docs/media.md)"
for suffix in "" "-staging"; do
  bucket="$PROJECT_ID-groupie-media$suffix" queue="groupie-media$suffix"
  ensure "gcloud storage buckets describe gs://$bucket --project $PROJECT_ID" \
    gcloud storage buckets create "gs://$bucket" "${P[@]}" --location "$REGION" \
    --uniform-bucket-level-access --public-access-prevention --default-storage-class STANDARD
  # Read and write objects of this bucket, nothing else: the service fetches and serves,
  # the jobs re-seal, purge and shred.
  for account in "$RUNTIME" "$JOBS"; do
    run gcloud storage buckets add-iam-policy-binding "gs://$bucket" "${P[@]}" \
      --member "serviceAccount:$account" --role roles/storage.objectUser
  done
  # Retries here are for the endpoint failing (5xx); the fetch schedules its own, longer
  # retries for Telegram being down, as new tasks.
  ensure "gcloud tasks queues describe $queue --location $REGION --project $PROJECT_ID" \
    gcloud tasks queues create "$queue" "${P[@]}" --location "$REGION" \
    --max-attempts 10 --min-backoff 30s --max-backoff 1h --max-concurrent-dispatches 20
  for account in "$RUNTIME" "$JOBS"; do
    run gcloud tasks queues add-iam-policy-binding "$queue" "${P[@]}" --location "$REGION" \
      --member "serviceAccount:$account" --role roles/cloudtasks.enqueuer
  done
done
# Cloud Tasks signs its callbacks' OIDC tokens as groupie-tasks: who enqueues must be allowed
# to act as it. The endpoint accepts tokens of that account only (GROUPIE_TASKS_URL audience).
for account in "$RUNTIME" "$JOBS"; do
  run gcloud iam service-accounts add-iam-policy-binding "$TASKS" "${P[@]}" \
    --member "serviceAccount:$account" --role roles/iam.serviceAccountUser
done

step "Metrics and logs written by the service (the Prometheus sidecar, structured logs)"
for role in roles/monitoring.metricWriter roles/logging.logWriter; do
  run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
    --member "serviceAccount:$RUNTIME" --role "$role" --condition None
done

step "Cloud Deploy's execution and automation account (docs/deploy.md, 'Who holds which role')"
# Execution: render, deploy to Cloud Run, run the jobs, verify, analyse the alert policies
# (analysis also consumes the Monitoring API as the project: serviceUsageConsumer).
# Automation: promote, advance and roll back (clouddeploy.operator), as itself (actAs below).
for role in roles/clouddeploy.jobRunner roles/run.developer roles/monitoring.alertPolicyViewer \
  roles/serviceusage.serviceUsageConsumer roles/clouddeploy.operator \
  roles/logging.logWriter roles/storage.objectUser; do
  run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
    --member "serviceAccount:$DEPLOYER" --role "$role" --condition None
done
# The services' manifests say run.googleapis.com/invoker-iam-disabled: applying that takes
# run.services.setIamPolicy, which run.developer lacks; run.admin would give far more.
ensure "gcloud iam roles describe groupieRunPublicAccess --project $PROJECT_ID" \
  gcloud iam roles create groupieRunPublicAccess "${P[@]}" \
  --title "groupie: make a Cloud Run service public" \
  --permissions run.services.setIamPolicy,run.services.getIamPolicy --stage GA
run gcloud projects add-iam-policy-binding "$PROJECT_ID" --member "serviceAccount:$DEPLOYER" \
  --role "projects/$PROJECT_ID/roles/groupieRunPublicAccess" --condition None
# It deploys revisions that run as runtime, jobs that run as jobs, and runs its automation as
# itself: actAs on each.
for account in "$RUNTIME" "$JOBS" "$DEPLOYER"; do
  run gcloud iam service-accounts add-iam-policy-binding "$account" "${P[@]}" \
    --member "serviceAccount:$DEPLOYER" --role roles/iam.serviceAccountUser
done

step "GitHub: Workload Identity Federation for $GITHUB_REPOSITORY's main and tags only (no JSON key)"
# Only main and release tags may publish: a pull request's branch gets no token (its workflow
# never asks), and neither does any other branch of the repository.
WIF_CONDITION="assertion.repository == '$GITHUB_REPOSITORY' && (assertion.ref == 'refs/heads/main' || assertion.ref.startsWith('refs/tags/v'))"
ensure "gcloud iam workload-identity-pools describe github --location global --project $PROJECT_ID" \
  gcloud iam workload-identity-pools create github "${P[@]}" --location global \
  --display-name "GitHub Actions"
ensure "gcloud iam workload-identity-pools providers describe github --workload-identity-pool github --location global --project $PROJECT_ID" \
  gcloud iam workload-identity-pools providers create-oidc github "${P[@]}" --location global \
  --workload-identity-pool github --issuer-uri https://token.actions.githubusercontent.com \
  --attribute-mapping "google.subject=assertion.sub,attribute.repository=assertion.repository,attribute.ref=assertion.ref" \
  --attribute-condition "$WIF_CONDITION"
# An existing provider gets the condition too (a bootstrap of an older groupie trusted every
# branch).
[ "$DRY_RUN" = 1 ] || gcloud iam workload-identity-pools providers update-oidc github "${P[@]}" \
  --location global --workload-identity-pool github --attribute-condition "$WIF_CONDITION" >/dev/null
number=PROJECT_NUMBER
[ "$DRY_RUN" = 1 ] || number=$(gcloud projects describe "$PROJECT_ID" --format 'value(projectNumber)')
run gcloud iam service-accounts add-iam-policy-binding "$PUBLISHER" "${P[@]}" \
  --role roles/iam.workloadIdentityUser \
  --member "principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/github/attribute.repository/$GITHUB_REPOSITORY"
run gcloud artifacts repositories add-iam-policy-binding groupie "${P[@]}" --location "$REGION" \
  --member "serviceAccount:$PUBLISHER" --role roles/artifactregistry.writer
run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
  --member "serviceAccount:$PUBLISHER" --role roles/clouddeploy.releaser --condition None
# `gcloud deploy releases create --source` uploads the sources to Cloud Storage: to this bucket
# (deploy.yml's --gcs-source-staging-dir), where the publisher may write objects and nothing
# else. Cloud Deploy's execution account reads them when it renders.
ensure "gcloud storage buckets describe gs://$PROJECT_ID-groupie-deploy-sources --project $PROJECT_ID" \
  gcloud storage buckets create "gs://$PROJECT_ID-groupie-deploy-sources" "${P[@]}" \
  --location "$REGION" --uniform-bucket-level-access --public-access-prevention
run gcloud storage buckets add-iam-policy-binding "gs://$PROJECT_ID-groupie-deploy-sources" \
  "${P[@]}" --member "serviceAccount:$PUBLISHER" --role roles/storage.objectUser
run gcloud iam service-accounts add-iam-policy-binding "$DEPLOYER" "${P[@]}" \
  --member "serviceAccount:$PUBLISHER" --role roles/iam.serviceAccountUser

step "Alert policies (with the notification channels) and the dashboard"
channel_ids() {  # channel_ids FLAG "NAME,NAME": FLAG and the id of each channel so named
  local flag=$1 name id
  IFS=, read -r -a names <<<"$2"
  for name in "${names[@]}"; do
    [ -n "$name" ] || continue
    if [ "$DRY_RUN" = 1 ]; then
      id="projects/$PROJECT_ID/notificationChannels/ID_OF_${name// /_}"
    else
      id=$(gcloud beta monitoring channels list "${P[@]}" \
        --filter "displayName=\"$name\"" --format 'value(name)' | head -1)
      [ -n "$id" ] || { echo "no notification channel named '$name': create it in Cloud Monitoring first" >&2; exit 1; }
    fi
    printf '%s\n%s\n' "$flag" "$id"
  done
}
{
  channel_ids --channel "$WARNING_CHANNELS"
  channel_ids --critical-channel "$CRITICAL_CHANNELS"
  channel_ids --deploy-channel "$DEPLOY_CHANNELS"
} >"$WORK/channels"
mapfile -t channels <"$WORK/channels"
# Generated here from deploy/monitoring/alerts.rules.yml (a local step, dry run or not).
# Runbook links become absolute URLs on the repository's main branch (RUNBOOK_BASE to change).
RUNBOOK_BASE=${RUNBOOK_BASE:-https://github.com/$GITHUB_REPOSITORY/blob/main/}
"$PYTHON" deploy/monitoring/generate.py --out "$WORK/monitoring" "${channels[@]}" \
  --runbook-base "$RUNBOOK_BASE"
policy_id() {  # policy_id FILE: create the policy unless one of that name exists; print its id
  local file=$1 name
  if [ "$DRY_RUN" = 1 ]; then
    printf '+ gcloud monitoring policies create --policy-from-file %s\n' "$file" >&2
    echo "ID_OF_$(basename "$file" .json)"
    return
  fi
  name=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["displayName"])' "$file")
  local found
  found=$(gcloud monitoring policies list "${P[@]}" --filter "displayName=\"$name\"" --format 'value(name)' | head -1)
  [ -n "$found" ] || found=$(gcloud monitoring policies create "${P[@]}" --policy-from-file "$file" --format 'value(name)')
  echo "${found##*/}"
}
declare -A POLICIES
for file in "$WORK"/monitoring/policies/*.json; do
  POLICIES[$(basename "$file" .json)]=$(policy_id "$file")
done
# The canary analysis' policies (deploy/clouddeploy.yaml): the group groupie-canary.
export POLICY_CANARY_ERROR_RATE=${POLICIES[groupie-canary-error-rate]}
export POLICY_CANARY_SLOW=${POLICIES[groupie-canary-slow]}
export POLICY_CANARY_HEALTH_CHECKS=${POLICIES[groupie-canary-health-checks-failing]}
export POLICY_CANARY_NO_SUCCESS=${POLICIES[groupie-canary-no-success]}
export POLICY_CANARY_NOT_PROGRESSING=${POLICIES[groupie-canary-not-progressing]}
run gcloud monitoring dashboards create "${P[@]}" --config-from-file "$WORK/monitoring/dashboard.json"

step "Cloud Run jobs: migrations and smoke_check per target"
PROJECT_NUMBER=${number:-PROJECT_NUMBER}
export PROJECT_ID REGION IMAGE PROJECT_NUMBER
for target in staging production; do
  export SECRETS=groupie- FIRESTORE_DATABASE="(default)" SUFFIX=""
  [ "$target" = staging ] && export SECRETS=groupie-staging- FIRESTORE_DATABASE=groupie-staging \
    SUFFIX=-staging
  for job in migrate smoke-check; do
    export JOB="groupie-$job-$target" ARGS="manage.py, migrate, --noinput"
    [ "$job" = smoke-check ] && export ARGS="manage.py, smoke_check, --help"
    printf '+ envsubst < deploy/run/job.yaml > %s/%s.yaml\n' "$WORK" "$JOB"
    [ "$DRY_RUN" = 1 ] || envsubst <deploy/run/job.yaml >"$WORK/$JOB.yaml"
    run gcloud run jobs replace "$WORK/$JOB.yaml" "${P[@]}" --region "$REGION"
  done
done

step "Cloud Deploy: the pipeline, its targets and automation"
export STAGING_HOST=${STAGING_HOST:-.run.app} PRODUCTION_HOST=${PRODUCTION_HOST:-.run.app}
printf '+ envsubst < deploy/clouddeploy.yaml > %s/clouddeploy.yaml\n' "$WORK"
[ "$DRY_RUN" = 1 ] || envsubst <deploy/clouddeploy.yaml >"$WORK/clouddeploy.yaml"
run gcloud deploy apply "${P[@]}" --region "$REGION" --file "$WORK/clouddeploy.yaml"

step "Done. Next: docs/deploy.md, 'The first deploy'."
