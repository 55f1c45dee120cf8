"""The first hour, end to end, as real processes: a fresh archive served by gunicorn (with
its task worker, as `make run` starts it), `poll_updates` fetching a bot's waiting updates from
the loopback Bot API server into it, the worker fetching a photo's file, the messages and the
photo read back through the API and the admin, then `set_webhook` and `webhook_info`
registering and showing the webhook on the same server."""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import load_update
from tests.gunicorn_server import ROOT, running_gunicorn
from webhooks.demo_data import DEMO_MEDIA
from webhooks.loopback import BotApiPeer
from webhooks.polling import ALLOWED_UPDATES

SECRET = "first-hour_secret-42"


def test_from_a_fresh_archive_to_a_bot_archiving(tmp_path: Path) -> None:
    telegram = BotApiPeer()
    chat_id = load_update("text_message")["message"]["chat"]["id"]
    for n in range(3):
        update = copy.deepcopy(load_update("text_message"))
        update["update_id"] = 9100 + n
        update["message"]["message_id"] = 300 + n
        update["message"]["text"] = f"hello from the group, number {n}"
        telegram.updates.append(update)
    photo = load_update("photo_with_caption")
    photo["update_id"] = 9103
    telegram.updates.append(photo)
    jpeg = (DEMO_MEDIA / "party-2.jpg").read_bytes()
    telegram.add_file(photo["message"]["photo"][-1]["file_id"], jpeg, "party.jpg")
    settings = {  # as `make run` sets them: debug on, plain HTTP on the machine itself
        "DJANGO_DEBUG": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_TOKEN": telegram.token,
        "DJANGO_SUPERUSER_PASSWORD": "first-hour-pw-1",
        "GROUPIE_TASK_WORKER": "1",
    }
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'groupie.db'}",
        "LOCAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "GROUPIE_MEDIA_PATH": str(tmp_path / "media"),
        **settings,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    manage = [sys.executable, str(ROOT / "manage.py")]

    def command(*args: str) -> str:
        done = subprocess.run([*manage, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        with running_gunicorn(tmp_path, **settings) as base:
            poller = subprocess.Popen(
                [*manage, "poll_updates", "--timeout", "1"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                deadline = time.monotonic() + 30
                while telegram.updates and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert telegram.updates == []  # fetched, archived and confirmed
            finally:
                poller.send_signal(signal.SIGTERM)  # stops cleanly
                said, _ = poller.communicate(timeout=20)
            assert poller.returncode == 0, said
            assert "poll_updates: 4 archived" in said

            key = command("create_api_key", "--name", "first-hour").strip().splitlines()[-1]
            page = httpx.get(
                f"{base}/api/v1/messages/?chat={chat_id}",
                headers={"Authorization": f"Bearer {key}"},
            ).json()
            assert sorted(m["text"] for m in page["results"] if m["kind"] == "text") == [
                f"hello from the group, number {n}" for n in range(3)
            ]
            # The worker gunicorn runs fetched the photo from the Bot API and sealed it.
            media = f"{base}/api/v1/messages/{chat_id}:{photo['message']['message_id']}/media/"
            deadline = time.monotonic() + 30
            got = httpx.get(media, headers={"Authorization": f"Bearer {key}"})
            while got.status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
                got = httpx.get(media, headers={"Authorization": f"Bearer {key}"})
            assert got.status_code == 200, got.text
            assert got.content == jpeg
            assert got.headers["content-type"] == "image/jpeg"
            # The file and its thumbnail, both sealed: no byte of the photo in the clear.
            blobs = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
            assert [p.name for p in blobs if ".thumb." not in p.name] != []
            for blob in blobs:
                assert jpeg[:100] not in blob.read_bytes()
                assert b"\xff\xd8\xff" not in blob.read_bytes()[:64]

            command("createsuperuser", "--noinput", "--username", "newcomer", "--email", "n@x.org")
            with httpx.Client(base_url=base, follow_redirects=True) as browser:
                login = browser.get("/admin/login/")
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
                assert token is not None
                browser.post(
                    "/admin/login/",
                    data={
                        "csrfmiddlewaretoken": token.group(1),
                        "username": "newcomer",
                        "password": "first-hour-pw-1",
                        "next": "/admin/",
                    },
                    headers={"Referer": f"{base}/admin/login/"},
                )
                chat_page = browser.get(f"/admin/archive/browsablechat/{chat_id}/")
                assert chat_page.status_code == 200
                assert "hello from the group, number 2" in chat_page.text

        shown = command("set_webhook", "https://archive.example.org")
        assert "webhook set to https://archive.example.org/telegram/webhook/" in shown
        info = command("webhook_info")
        assert "url:              https://archive.example.org/telegram/webhook/" in info
        assert f"allowed updates:  {', '.join(ALLOWED_UPDATES)}" in info
        assert telegram.webhook["secret_token"] == SECRET
    finally:
        telegram.close()
