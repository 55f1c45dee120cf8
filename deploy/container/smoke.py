"""The container smoke test: builds the image with podman and checks it from outside, as
production runs it.

    make container-smoke            (python deploy/container/smoke.py [--base IMAGE] [--keep])

It builds ./Dockerfile (on a local stand-in base made by base-standin.sh unless ``--base``
names one), then, with a read-only root filesystem, production settings (debug off, secrets
from ``*_FILE`` mounts), SQLite and the local keyring on a mounted volume:

- runs ``migrate``, ``init_keyring`` and ``create_api_key`` from the same image, and at the
  end ``smoke_check`` against the running server, as Cloud Deploy's verify phase does;
- starts the server and times its cold start to a 200 on /readyz;
- checks /healthz and /readyz, archives a webhook update and reads it back through the API,
  loads the admin login page and its stylesheet, and checks the server runs as non-root;
- runs ``load_demo`` (its files fetched from a loopback Bot API inside the container, sealed
  into /data/media) and ``verify_archive``, which opens every file; no photo byte in the clear;
- finds no secret in ``podman inspect`` or the container's logs, and no message text in the
  logs;
- reports the image size.

Any failure exits 1 with what failed. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/groupie:smoke"
STANDIN = "localhost/groupie-base:py3.11-bookworm"
CONTAINER = "groupie-smoke"
UID = 10001
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CHAT_ID = -1001234567890
TEXT = "smoke test: the plaintext that must stay out of logs"


class SmokeFailed(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="base image (default: the local stand-in, built if need be)")
    parser.add_argument("--keep", action="store_true", help="leave the container running")
    args = parser.parse_args()
    if shutil.which("podman") is None:
        print("podman is not installed (apt-get install podman buildah runc)", file=sys.stderr)
        return 1
    try:
        base = args.base or standin_base()
        build(base)
        with tempfile.TemporaryDirectory(prefix="groupie-smoke-") as tmp:
            check_image(Path(tmp), keep=args.keep)
    except SmokeFailed as exc:
        print(f"container smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    print("container smoke test passed")
    return 0


def step(title: str) -> None:
    print(f"-- {title}", flush=True)


def podman(*args: str, check: bool = True, input: str | None = None) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, input=input, check=False
    )
    if check and done.returncode != 0:
        raise SmokeFailed(f"podman {args[0]} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def podman_stderr(*args: str) -> str:
    """What a podman command wrote to stderr (``podman logs`` replays the container's there)."""
    done = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    return done.stderr


def standin_base() -> str:
    step(f"base image: {STANDIN} (deploy/container/base-standin.sh)")
    subprocess.run([str(ROOT / "deploy/container/base-standin.sh"), STANDIN], check=True)
    return STANDIN


def build(base: str) -> None:
    step(f"podman build on {base}")
    started = time.monotonic()
    # --from replaces the Dockerfile's first FROM (the digest-pinned "base" stage) only.
    command = ["build", "--network=host", "--from", base, "-t", IMAGE]
    if CA_BUNDLE.exists():
        # For pip behind an intercepting proxy: a build secret, never in a layer.
        command += ["--secret", f"id=pip_cert,src={CA_BUNDLE}"]
    done = subprocess.run(["podman", *command, str(ROOT)], check=False)
    if done.returncode != 0:
        raise SmokeFailed(f"podman build exited {done.returncode}")
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).strip())
    print(f"   built in {time.monotonic() - started:.0f} s; image size {size / 1e6:.0f} MB")
    if "requirements/dev.txt" in podman("image", "history", "--no-trunc", IMAGE):
        raise SmokeFailed("the image installs the development requirements")


def check_image(tmp: Path, *, keep: bool) -> None:
    secret_values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "WEBHOOK_SECRET": secrets.token_urlsafe(32),
    }
    secret_dir, data = tmp / "secrets", tmp / "data"
    secret_dir.mkdir()
    data.mkdir()
    os.chown(data, UID, UID)
    for name, value in secret_values.items():
        (secret_dir / name.lower()).write_text(value)
        (secret_dir / name.lower()).chmod(0o444)
    port = free_port()
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "GROUPIE_TRUSTED_PROXIES": "1",
        **{f"{name}_FILE": f"/run/secrets/{name.lower()}" for name in secret_values},
    }
    run_args = ["--read-only", "--tmpfs", "/tmp", "-v", f"{data}:/data:Z"]
    run_args += ["-v", f"{secret_dir}:/run/secrets:ro,Z"]
    for name, value in env.items():
        run_args += ["-e", f"{name}={value}"]

    def manage(*command: str) -> str:
        return podman("run", "--rm", *run_args, IMAGE, "python", "manage.py", *command)

    podman("rm", "--force", CONTAINER, check=False)
    step("migrate, init_keyring, create_api_key: one-off containers of the same image")
    manage("migrate", "--noinput", "-v0")
    manage("init_keyring")
    api_key = manage("create_api_key", "--name", "smoke").strip().splitlines()[-1]
    deploy_check = manage("check", "--deploy", "--fail-level", "WARNING")
    print("   " + deploy_check.strip())

    step("server: cold start to a 200 on /readyz")
    started = time.monotonic()
    podman("run", "--detach", "--name", CONTAINER, "-p", f"127.0.0.1:{port}:8080", *run_args, IMAGE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, started)
        check_service(base, api_key, secret_values["WEBHOOK_SECRET"])
        step("manage.py smoke_check, as Cloud Deploy's verify runs it, from the same image")
        said = podman(
            "run",
            "--rm",
            "--network",
            "host",
            *run_args,
            IMAGE,
            "python",
            "manage.py",
            "smoke_check",
            base,
            "--forwarded-proto",
            "https",
        )
        print("   " + said.strip().replace("\n", "\n   "))
        check_media(manage, data)
        check_runtime(secret_values)
    finally:
        if not keep:
            podman("rm", "--force", CONTAINER, check=False)


def check_media(manage: Any, data: Path) -> None:
    """load_demo fetches the demo's files from the loopback Bot API it runs inside its own
    container, and seals them into /data/media; verify_archive opens each to its end. No byte
    of the photos (nor of their thumbnails, sealed too) reaches the volume in the clear."""
    step("media: load_demo seals the demo's files; verify_archive opens them")
    loaded = manage("load_demo").strip().splitlines()[-1]
    if "6 media files sealed" not in loaded:
        raise SmokeFailed(f"load_demo did not seal the demo's files: {loaded}")
    verified = manage("verify_archive").strip().splitlines()[-1]
    if "6 media files opened" not in verified or " 0 failed" not in verified:
        raise SmokeFailed(f"verify_archive: {verified}")
    photo = (ROOT / "webhooks" / "demo_media" / "whiteboard.jpg").read_bytes()
    blobs = [p for p in (data / "media").rglob("*") if p.is_file()]
    files = [p for p in blobs if ".thumb." not in p.name]  # beside them, sealed thumbnails
    if len(files) != 6 or any(photo[:256] in p.read_bytes() for p in blobs):
        raise SmokeFailed(f"{len(files)} sealed files under /data/media, or plaintext in one")
    print(f"   {loaded}\n   {verified}")


def wait_ready(base: str, started: float) -> None:
    deadline = started + 60
    while time.monotonic() < deadline:
        try:
            if request(f"{base}/readyz")[0] == 200:
                print(f"   {base} ready {time.monotonic() - started:.1f} s after podman run")
                return
        except OSError:
            pass
        time.sleep(0.2)
    logs = podman("logs", CONTAINER, check=False)
    raise SmokeFailed(f"/readyz did not answer 200 within 60 s; logs:\n{logs[-3000:]}")


def check_service(base: str, api_key: str, webhook_secret: str) -> None:
    step("health, webhook, API, admin")
    https = {"X-Forwarded-Proto": "https"}  # what Cloud Run's front end sends
    expect(request(f"{base}/healthz"), 200, "/healthz")
    update = {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "date": int(time.time()),
            "chat": {"id": CHAT_ID, "type": "supergroup", "title": "Smoke"},
            "from": {"id": 42, "is_bot": False, "first_name": "Ada"},
            "text": TEXT,
        },
    }
    webhook = f"{base}/telegram/webhook/"
    headers = {**https, "Content-Type": "application/json"}
    wrong = {**headers, "X-Telegram-Bot-Api-Secret-Token": "wrong"}
    expect(request(webhook, json.dumps(update), wrong), 403, "webhook with a wrong secret")
    right = {**headers, "X-Telegram-Bot-Api-Secret-Token": webhook_secret}
    expect(request(webhook, json.dumps(update), right), 200, "webhook")
    status, body = request(
        f"{base}/api/v1/messages/{CHAT_ID}:7/",
        headers={**https, "Authorization": f"Bearer {api_key}"},
    )
    expect((status, body), 200, "API read-back")
    if TEXT not in body.decode():
        raise SmokeFailed("the API did not return the archived message's text")
    status, body = request(f"{base}/api/v1/messages/", headers=https)
    expect((status, body), 401, "API without a key")
    status, body = request(f"{base}/admin/login/", headers=https)
    expect((status, body), 200, "admin login page")
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', body.decode())
    if not stylesheets:
        raise SmokeFailed("the admin login page links no stylesheet")
    for path in stylesheets:
        expect(request(f"{base}{path}", headers=https), 200, path)
    status, _ = request(f"{base}/admin/login/")
    expect((status, b""), 301, "plain HTTP without X-Forwarded-Proto (redirected to HTTPS)")
    print(f"   webhook archived, API read it back, admin and {len(stylesheets)} stylesheets 200")


def check_runtime(secret_values: dict[str, str]) -> None:
    step("runtime: user, secrets, logs")
    uid = podman("exec", CONTAINER, "id", "-u").strip()
    if uid != str(UID):
        raise SmokeFailed(f"the server runs as uid {uid}, not {UID}")
    processes = podman("top", CONTAINER, "user", "args")
    if re.search(r"^root\s", processes, re.MULTILINE):
        raise SmokeFailed(f"a process runs as root:\n{processes}")
    inspected = podman("inspect", CONTAINER) + podman("image", "inspect", IMAGE)
    logs = podman("logs", CONTAINER) + podman_stderr("logs", CONTAINER)
    for name, value in secret_values.items():
        if value in inspected:
            raise SmokeFailed(f"{name} appears in podman inspect")
        if value in logs:
            raise SmokeFailed(f"{name} appears in the container's logs")
    if TEXT in logs:
        raise SmokeFailed("a message's text appears in the container's logs")
    print(f"   runs as uid {uid}; no secret in inspect or logs; no message text in logs")


def expect(answer: tuple[int, bytes], status: int, what: str) -> None:
    if answer[0] != status:
        raise SmokeFailed(f"{what}: HTTP {answer[0]}, expected {status}: {answer[1][:300]!r}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def request(
    url: str, data: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    body = data.encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with _opener.open(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
