# groupie's production image: gunicorn serving the Django app, and every manage.py command
# (migrate, the key lifecycle, createsuperuser) from the same image.
#
#   podman build -t groupie .            (or docker build)
#   podman run -p 8080:8080 --read-only --tmpfs /tmp -e ... groupie
#
# The base is named by digest in this literal FROM line, which Dependabot reads and keeps
# current; the other stages build FROM base. Where no registry can be reached, podman's
# `--from` swaps in a local stand-in for this first FROM (deploy/container/base-standin.sh;
# make container-smoke).
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS base

# -- builder: the runtime dependencies, hash-checked, into a virtualenv -------------------------
FROM base AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# A certificate bundle for pip where an intercepting proxy needs one; a build secret, so it
# never lands in a layer (the smoke test passes the host's; real builds need none). pip itself
# and setuptools are removed from the venv afterwards (nothing installs at run time), and so
# are translations the service never uses (it speaks English: no LocaleMiddleware) and the
# sidecar's ReDoc bundle (5 MB, three times that once collected; the API docs are Swagger UI).
COPY requirements/base.txt /build/requirements.txt
RUN --mount=type=secret,id=pip_cert,required=false \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /build/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && find /opt/venv -path '*/locale/*' -mindepth 1 -maxdepth 9 -type d \
        -regex '.*/locale/[^/]*' ! -name 'en' ! -name 'en_*' -prune -exec rm -rf {} + \
    && rm -r /opt/venv/lib/python3*/site-packages/drf_spectacular_sidecar/static/*/redoc

# -- the image ----------------------------------------------------------------------------------
FROM base
LABEL org.opencontainers.image.title="groupie" \
      org.opencontainers.image.description="Private, encrypted archive of Telegram group conversations"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    DJANGO_STATIC_ROOT=/app/static \
    DATABASE_URL=sqlite:////data/groupie.db \
    LOCAL_KEYRING_PATH=/data/keyring.json \
    GROUPIE_MEDIA_PATH=/data/media
RUN groupadd --system --gid 10001 groupie \
    && useradd --system --uid 10001 --gid groupie --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin groupie \
    && mkdir /data && chown groupie:groupie /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY manage.py gunicorn.conf.py firestore.indexes.json ./
COPY groupie groupie
COPY crypto crypto
COPY messages messages
COPY webhooks webhooks
COPY templates templates
# Static files collected (compressed, with whitenoise's manifest) and bytecode compiled at build
# time (pip compiled the venv's): the root filesystem can then be read-only, and a cold start
# compiles nothing. The
# settings need their secrets to load; these placeholders exist only for this step.
RUN DJANGO_SECRET_KEY=build-only WEBHOOK_SECRET=build-only DJANGO_ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput -v0 \
    && python -m compileall -q -j 0 /app
USER 10001:10001
EXPOSE 8080
CMD ["gunicorn", "--config", "gunicorn.conf.py", "groupie.wsgi"]
