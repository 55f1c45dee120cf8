# groupie: `make run` to try it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO ?= 1

# Development conveniences, set explicitly: the settings' defaults are the production ones.
# A DJANGO_SECRET_KEY or WEBHOOK_SECRET set in the environment wins over the generated file.
DEV_ENV := DJANGO_DEBUG=1 \
	GROUPIE_LOG_FORMAT=text \
	DJANGO_SECRET_KEY_FILE=$(if $(DJANGO_SECRET_KEY),,var/secret_key) \
	WEBHOOK_SECRET_FILE=$(if $(WEBHOOK_SECRET),,var/webhook_secret) \
	DJANGO_SECURE_SSL_REDIRECT=0

.PHONY: setup run manage api-key static test test-deps fuzz lint lint-delivery lock container-smoke \
	bench-ingest bench-api bench-rotation bench-peer bench-search bench-storage clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# make run needs only the runtime set; make test, lint and the benches add the tools.
$(VENV)/.runtime: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt
	touch $@

$(VENV)/.installed: requirements/base.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@ $(VENV)/.runtime

# The lock files (hashes included) from requirements/*.in, after changing a .in file.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools==7.6.2
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links \
		--output-file requirements/base.txt requirements/base.in
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links \
		--output-file requirements/dev.txt requirements/dev.in

# Production outside the container: the admin's CSS and JS, compressed, with whitenoise's
# manifest, into DJANGO_STATIC_ROOT (default var/static). The image does this when built.
static: $(VENV)/.installed
	$(BIN)/python manage.py collectstatic --noinput -v1

var/secret_key var/webhook_secret:
	@mkdir -p var
	@umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(48))" > $@

# A password for the admin user: kept by the checkout, given to every database it prepares.
var/admin_password: | $(VENV)/.runtime
	@mkdir -p var
	@umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(12))" > $@

var/keyring.json: | $(VENV)/.runtime var/secret_key var/webhook_secret
	@$(DEV_ENV) $(BIN)/python manage.py init_keyring

SETUP_FILES := $(VENV)/.runtime var/secret_key var/webhook_secret var/keyring.json var/admin_password
# Every time, not once per checkout: DATABASE_URL may name a database this checkout has never
# seen, which no stamp file could tell. prepare_database migrates it (quick when up to date)
# and gives it the admin user with var/admin_password's password.
PREPARE := $(DEV_ENV) $(BIN)/python manage.py prepare_database \
	--admin-password-file var/admin_password

# Idempotent, and quiet and quick once done.
setup: $(SETUP_FILES)
	@$(PREPARE)

# The banner's admin line comes from prepare_database, so it is true of the database served.
run: $(SETUP_FILES)
	@admin="$$($(PREPARE) --admin-line)" || exit 1; \
	if [ "$(DEMO)" != "0" ]; then \
		$(DEV_ENV) $(BIN)/python manage.py load_demo --if-empty || exit 1; \
	fi; \
	echo; \
	echo "groupie is starting at http://127.0.0.1:$(PORT)/"; \
	echo "  Admin:   http://127.0.0.1:$(PORT)/admin/  $$admin"
	@echo "  Webhook: http://127.0.0.1:$(PORT)/telegram/webhook/  $(if $(WEBHOOK_SECRET),(secret: your WEBHOOK_SECRET),(secret in var/webhook_secret))"
	@echo "  Health:  http://127.0.0.1:$(PORT)/readyz   Metrics: http://127.0.0.1:$(PORT)/metrics"
	@echo "  Media:   fetched in the background by the task worker gunicorn runs (run_tasks)"
	@echo "  Archive an update:"
	@echo "    curl -sS -X POST http://127.0.0.1:$(PORT)/telegram/webhook/ \\"
	@echo "      -H \"X-Telegram-Bot-Api-Secret-Token: \$$(cat var/webhook_secret)\" \\"
	@echo "      -H 'Content-Type: application/json' \\"
	@echo "      --data @tests/fixtures/telegram/text_message.json"
	@echo
	@if [ -n "$$TELEGRAM_TOKEN" ]; then \
		echo "  Bot:     polling Telegram for your bot's updates (TELEGRAM_TOKEN is set)"; \
	fi
	@$(DEV_ENV) GUNICORN_BIND=127.0.0.1:$(PORT) GROUPIE_TASK_WORKER=1 \
		GROUPIE_POLLER=$${TELEGRAM_TOKEN:+1} \
		exec $(BIN)/gunicorn groupie.wsgi -c gunicorn.conf.py

# Any manage.py command with the development settings: make manage CMD="key_status".
manage: setup
	@$(DEV_ENV) $(BIN)/python manage.py $(CMD)

# A key for the read API, printed once (last line): make api-key NAME=reporting [CHATS="-100…"].
api-key: setup
	@$(DEV_ENV) $(BIN)/python manage.py create_api_key --name "$(or $(NAME),dev)" \
		$(foreach chat,$(CHATS),--chat $(chat))

tests/firestore/node_modules: tests/firestore/package-lock.json
	npm ci --prefix tests/firestore --no-audit --no-fund --silent

# The OpenID provider the admin's single sign-on tests sign in at (oidc-provider, pinned).
tests/peers/oidc/node_modules: tests/peers/oidc/package-lock.json
	npm ci --prefix tests/peers/oidc --no-audit --no-fund --silent

# What make test needs besides the venv, installed when missing: Debian's chromium (the
# admin's browser tests) and prometheus (promtool, the alert rules' tests), which fail rather
# than skip under CI=true, the Firestore emulator and the OpenID provider. GitHub's workflow and .ci/run both call
# this target, so the job that runs here is the job that runs there.
test-deps: $(VENV)/.installed tests/firestore/node_modules tests/peers/oidc/node_modules
	@missing=; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	[ -x "$${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v promtool >/dev/null && { [ -x "$${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null; }

test: test-deps
	$(BIN)/pytest $(PYTEST_ARGS)

# The webhook fuzz suite, long (make test runs it at 150 examples a test): for the nightly.
fuzz: $(VENV)/.installed tests/firestore/node_modules
	GROUPIE_FUZZ_EXAMPLES=$(or $(EXAMPLES),5000) $(BIN)/pytest tests/webhooks/test_fuzz_webhook.py

# mypy's Django plugin and makemigrations load the settings, which need their secrets.
LINT_ENV := DJANGO_SECRET_KEY=lint WEBHOOK_SECRET=lint DJANGO_ALLOWED_HOSTS=localhost \
	DATABASE_URL=sqlite:///:memory:

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(LINT_ENV) $(BIN)/mypy .
	$(LINT_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

# The delivery files: GitHub workflows (actionlint, zizmor, their JSON schemas), the
# sidecar's RunMonitoring config (its schema, deploy/run/schemas/), the Dockerfile (hadolint)
# and the shell scripts (shellcheck). All offline.
lint-delivery: $(VENV)/.installed
	$(BIN)/actionlint .github/workflows/*.yml
	$(BIN)/zizmor --offline --min-severity low .github/workflows/
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(BIN)/check-jsonschema --schemafile deploy/run/schemas/run-monitoring.schema.json \
		deploy/run/run-monitoring.yaml
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck .ci/run deploy/bootstrap.sh deploy/container/*.sh

# The canary analysis rehearsed on this machine (docs/deploy.md, "Rehearsing the canary"): two
# revisions, a traffic splitter and Debian's Prometheus on the rules of deploy/monitoring/.
# make canary-rehearsal [SCENARIO=good|errors|slow|refused|all|custom] [CANARY_ENV="K=V ..."]
.PHONY: canary-rehearsal
canary-rehearsal: $(VENV)/.installed
	$(BIN)/python deploy/rehearsal/rehearse.py --scenario "$(or $(SCENARIO),all)" \
		--canary-env "$(CANARY_ENV)"

# Builds the image with podman and checks it from outside (deploy/container/smoke.py); as
# root, or as a user podman runs rootless for.
container-smoke:
	$(PYTHON) deploy/container/smoke.py

bench-ingest: setup $(VENV)/.installed
	$(BIN)/python bench/ingest.py

bench-api: setup $(VENV)/.installed
	$(BIN)/python bench/api_pages.py

# The blind index against the decrypt-and-scan on the API bench's archive, and the cost of
# indexing on ingest (bench/ingest.py with every chat's index on, then off).
bench-search: setup $(VENV)/.installed
	$(BIN)/python bench/search.py --ingest

bench-rotation: setup $(VENV)/.installed
	$(BIN)/python bench/rotation.py

bench-peer: setup $(VENV)/.installed
	$(BIN)/python bench/peer.py

# The message tables' bytes per message for the bench-peer corpus (BENCH_DATABASE_URL: a
# PostgreSQL database whose name holds 'bench', emptied first; default a SQLite file).
bench-storage: setup $(VENV)/.installed
	$(BIN)/python bench/storage_bytes.py $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
