"""Media end to end on one box: the webhook queues a fetch and answers at once; the database
worker fetches from the (loopback) Bot API, seals into the media store; the admin and the API
show it decrypted; failures retry, then fail visibly and can be retried; shred, purge,
re-encryption and verify_archive cover the files."""

from __future__ import annotations

import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from messages.media.archive import archive_id
from messages.models import AuditEntry, MediaFile
from tests.conftest import Webhook, load_update, staff_client
from webhooks.demo_data import DEMO_MEDIA
from webhooks.loopback import BotApiPeer

# The worker checks its database connection as a long-running process does, which inside a
# test's transaction would close it: these tests commit for real, as the worker needs.
pytestmark = pytest.mark.django_db(transaction=True)

PHOTO = (DEMO_MEDIA / "whiteboard.jpg").read_bytes()
CHAT = -1001234567890123


def photo_update(message_id: int = 4131, *, date: int | None = None) -> dict[str, Any]:
    update = load_update("photo_with_caption")
    update["update_id"] += message_id
    update["message"]["message_id"] = message_id
    if date is not None:
        update["message"]["date"] = date
    return update


def largest(update: dict[str, Any]) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = update["message"]["photo"]
    return sizes[-1]


def serve(bot_api: BotApiPeer, update: dict[str, Any], content: bytes = PHOTO) -> None:
    bot_api.add_file(largest(update)["file_id"], content, "photo.jpg")


def fetched_photo(webhook: Webhook, bot_api: BotApiPeer, run_worker: Any) -> None:
    """A photo message archived through the webhook and its file fetched by the worker."""
    update = photo_update()
    serve(bot_api, update)
    assert webhook.post(update).status_code == 200
    run_worker()


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def blobs_of(media_path: Path, chat_id: int = CHAT, *, thumbnails: bool = False) -> list[Path]:
    """The chat's sealed files (their thumbnails too with ``thumbnails``)."""
    chat = media_path / "archives" / archive_id() / "chats" / str(chat_id)
    return sorted(
        p for p in chat.rglob("*") if p.is_file() and (thumbnails or ".thumb." not in p.name)
    )


def make_due() -> None:
    """Time passes: every queued retry is due now."""
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())


def test_the_webhook_queues_the_fetch_and_the_worker_seals_the_largest_photo(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    update = photo_update()
    serve(bot_api, update)
    assert webhook.post(update).status_code == 200
    # The answer did not wait for Telegram: nothing was asked of the Bot API yet.
    assert bot_api.methods() == []
    row = MediaFile.objects.get()
    assert (row.status, row.kind, row.file_unique_id) == ("pending", "photo", "AQAD5Ynp0DFLAANX")
    assert DBTaskResult.objects.filter(task_path="webhooks.media.fetch_media").count() == 1
    # Telegram redelivers: the message is a duplicate and the fetch is not queued twice.
    assert webhook.post(update).status_code == 200
    assert DBTaskResult.objects.count() == 1

    run_worker()
    assert bot_api.methods() == ["getFile", "download"]
    assert bot_api.calls[0].params == {"file_id": largest(update)["file_id"]}
    row.refresh_from_db()
    assert (row.status, row.size, row.content_type, row.key_version) == (
        "stored",
        len(PHOTO),
        "image/jpeg",
        1,
    )
    assert row.file_id == ""  # not needed once the file is ours
    [blob] = blobs_of(media_path)
    sealed = blob.read_bytes()
    assert sealed.startswith(b"GRPM")
    assert PHOTO[:64] not in sealed
    assert PHOTO[-64:] not in sealed

    client = staff_client(decrypt=True)
    page = client.get(f"/admin/archive/browsablechat/{CHAT}/4131/").content.decode()
    media_url = f"/admin/archive/browsablechat/{CHAT}/4131/media/{row.pk}/"
    assert f'<img src="{media_url}"' in page
    response = client.get(media_url)
    assert b"".join(response.streaming_content) == PHOTO
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert AuditEntry.objects.filter(action="media-download", chat_id=CHAT).count() == 1
    assert "1 media file opened" in run("verify_archive")


def test_staff_without_the_decrypt_permission_see_the_status_not_the_file(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    row = MediaFile.objects.get()
    client = staff_client(decrypt=False)
    page = client.get(f"/admin/archive/browsablechat/{CHAT}/4131/").content.decode()
    assert "seeing it needs the decrypt permission" in page
    assert "<img" not in page
    url = f"/admin/archive/browsablechat/{CHAT}/4131/media/{row.pk}/"
    assert client.get(url).status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="media").exists()


def test_a_document_is_an_attachment_whatever_type_it_claims(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, api: Any
) -> None:
    update = load_update("document")
    html = b"<html><script>alert(1)</script></html>"
    update["message"]["document"]["mime_type"] = "image/png"  # the sender's word, not trusted
    bot_api.add_file(update["message"]["document"]["file_id"], html, "page.html")
    webhook.post(update)
    run_worker()
    response = api.get(f"/api/v1/messages/{CHAT}:4134/media/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == html
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="release-notes-v2.4.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    # Its own policy, stricter than the site's (which never replaces it).
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    entry = AuditEntry.objects.get(action="media-download")
    assert (entry.channel, entry.api_key_id) == ("api", api.key_record.pk)


def test_the_api_media_endpoint_is_scoped_like_the_rest(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, make_api_client: Any
) -> None:
    update = photo_update()
    serve(bot_api, update)
    webhook.post(update)
    url = f"/api/v1/messages/{CHAT}:4131/media/"
    assert make_api_client().get(url).json()["detail"] == (
        "The photo is not fetched yet (attempt 0 so far)."
    )
    text = f"/api/v1/messages/{CHAT}:4131/media/?file=AQADnone"
    assert make_api_client().get(text).json()["detail"] == "The message has no file AQADnone."
    assert make_api_client().get(url + "?size=big").status_code == 400
    run_worker()
    assert make_api_client(CHAT).get(url).status_code == 200
    assert make_api_client(-100999).get(url).status_code == 404  # another chat's key
    assert make_api_client().get(f"/api/v1/messages/{CHAT}:9999/media/").status_code == 404
    unauthenticated = make_api_client()
    unauthenticated.credentials()
    assert unauthenticated.get(url).status_code in (401, 403)


def test_a_fetch_that_fails_is_retried_later_then_succeeds(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any
) -> None:
    update = photo_update()
    serve(bot_api, update)
    bot_api.fail("getFile", 502, "Bad Gateway", times=1)
    webhook.post(update)
    run_worker()
    row = MediaFile.objects.get()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "HTTP 502" in row.last_error
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > timezone.now()
    waiting = DBTaskResult.objects.get(status="READY")
    assert waiting.run_after == row.next_attempt_at  # queued again, to run after the backoff
    run_worker()
    assert MediaFile.objects.get().status == "pending"  # not due yet: the worker waits
    make_due()
    run_worker()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("stored", 2, "")


def test_a_download_that_breaks_keeps_nothing_and_is_retried(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    update = photo_update()
    serve(bot_api, update)
    bot_api.fail("download", 500, "", times=1)
    webhook.post(update)
    run_worker()
    assert MediaFile.objects.get().status == "pending"
    assert blobs_of(media_path) == []
    make_due()
    run_worker()
    assert MediaFile.objects.get().status == "stored"


def test_retries_run_out_then_the_file_is_failed_and_a_command_retries_it(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any
) -> None:
    update = photo_update()
    serve(bot_api, update)
    bot_api.fail("getFile", 500, "Internal Server Error")
    webhook.post(update)
    for _ in range(10):
        run_worker()
        make_due()
    row = MediaFile.objects.get()
    assert (row.status, row.attempts) == ("failed", 7)
    assert row.last_error.endswith("(after 7 attempts)")
    page = staff_client(decrypt=True).get(f"/admin/archive/browsablechat/{CHAT}/4131/")
    assert "was not kept: failed — getFile: HTTP 500" in page.content.decode()
    listing = staff_client(decrypt=False).get("/admin/archive/mediafile/?status=failed")
    assert listing.status_code == 200
    assert "HTTP 500" in listing.content.decode()

    assert run("retry_media_fetches", "--dry-run") == "retry_media_fetches: 1 file would be queued"
    bot_api.failures.clear()
    assert run("retry_media_fetches") == "retry_media_fetches: 1 file queued to be fetched again"
    out = StringIO()
    call_command("verify_archive", stdout=out, stderr=StringIO())
    assert f"chat {CHAT}: 1 media file pending" in out.getvalue()
    run_worker()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("stored", 1)


def test_a_file_telegram_refuses_for_good_fails_at_once(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any
) -> None:
    webhook.post(photo_update())  # no such file on the Bot API: "invalid file_id" (400)
    run_worker()
    row = MediaFile.objects.get()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "invalid file_id" in row.last_error


def test_a_file_over_the_bot_api_limit_is_recorded_with_its_size(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, settings: Any
) -> None:
    update = load_update("document")
    update["message"]["document"]["file_size"] = 25 * 1024 * 1024
    webhook.post(update)
    run_worker()
    row = MediaFile.objects.get()
    assert row.status == "too_large"
    assert row.last_error == (
        "too large for the Bot API (26,214,400 bytes; the limit is 20,971,520 bytes)"
    )
    assert bot_api.methods() == []  # not even asked for


def test_a_file_larger_than_declared_is_cut_off_at_the_limit(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, settings: Any, media_path: Path
) -> None:
    settings.GROUPIE_MEDIA_MAX_BYTES = 10_000
    update = photo_update()
    largest(update)["file_size"] = 9_000  # what Telegram said; the file is larger
    bot_api.add_file(largest(update)["file_id"], PHOTO, "photo.jpg")
    bot_api.results["getFile"] = {"file_id": "x", "file_path": "documents/0-photo.jpg"}
    webhook.post(update)
    run_worker()
    assert MediaFile.objects.get().status == "too_large"
    assert blobs_of(media_path) == []


def test_a_local_bot_api_server_gives_a_path_on_its_disk(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, tmp_path: Path, settings: Any
) -> None:
    on_disk = tmp_path / "bot-api" / "photos" / "file_0.jpg"
    on_disk.parent.mkdir(parents=True)
    on_disk.write_bytes(PHOTO)
    bot_api.results["getFile"] = {"file_id": "x", "file_path": str(on_disk)}
    settings.TELEGRAM_BOT_API_FILES = str(tmp_path / "bot-api")
    webhook.post(photo_update())
    run_worker()
    assert MediaFile.objects.get().status == "stored"
    assert "download" not in bot_api.methods()


def test_a_path_outside_the_local_bot_api_servers_directory_is_refused(
    webhook: Webhook,
    bot_api: BotApiPeer,
    run_worker: Any,
    tmp_path: Path,
    settings: Any,
    keyring_path: Path,
) -> None:
    settings.TELEGRAM_BOT_API_FILES = str(tmp_path / "bot-api")
    bot_api.results["getFile"] = {"file_id": "x", "file_path": str(keyring_path)}
    webhook.post(photo_update())
    run_worker()
    row = MediaFile.objects.get()
    assert row.status == "failed"
    assert "outside TELEGRAM_BOT_API_FILES" in row.last_error


def test_fetching_can_be_turned_off(webhook: Webhook, bot_api: BotApiPeer, settings: Any) -> None:
    settings.GROUPIE_FETCH_MEDIA = False
    assert webhook.post(photo_update()).status_code == 200
    assert not MediaFile.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_a_corrupted_blob_is_a_clear_error_audited_and_reported(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path, api: Any
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    [blob] = blobs_of(media_path)
    damaged = bytearray(blob.read_bytes())
    damaged[200] ^= 0x01
    blob.write_bytes(bytes(damaged))
    row = MediaFile.objects.get()

    response = staff_client(decrypt=True).get(
        f"/admin/archive/browsablechat/{CHAT}/4131/media/{row.pk}/"
    )
    assert response.status_code == 409
    assert "cannot be shown: the sealed file does not open (DecryptionError)" in (
        response.content.decode()
    )
    answer = api.get(f"/api/v1/messages/{CHAT}:4131/media/")
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "The photo cannot be opened: the sealed file does not open (DecryptionError)."
    }
    failed = AuditEntry.objects.filter(action="media-download-failed").order_by("at")
    assert [e.channel for e in failed] == ["admin", "api"]
    assert not AuditEntry.objects.filter(action="media-download").exists()
    with pytest.raises(CommandError):
        run("verify_archive")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_archive", stdout=out, stderr=out)
    assert f"chat {CHAT} message 4131 photo: the sealed file does not open" in out.getvalue()


def test_shredding_a_chat_deletes_its_files(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    for message_id in (1, 2):
        update = photo_update(message_id)
        serve(bot_api, update)
        webhook.post(update)
    run_worker()
    assert len(blobs_of(media_path)) == 2  # one sealed file per message
    assert MediaFile.objects.filter(status="stored").count() == 2
    said = run("shred_chat", str(CHAT), "--yes")
    assert "media files deleted" in said
    assert blobs_of(media_path) == []
    assert not MediaFile.objects.exists()


def test_purging_old_messages_deletes_their_files_only(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    now = int(time.time())
    for message_id, age_days in ((1, 100), (2, 1)):
        update = photo_update(message_id, date=now - age_days * 86_400)
        serve(bot_api, update)
        webhook.post(update)
    run_worker()
    assert (
        run("purge_messages", "--older-than", "30", "--dry-run")
        == "purge_messages: 1 message (1 media file) would be purged in 1 chat"
    )
    assert run("purge_messages", "--older-than", "30") == (
        "purge_messages: 1 message (1 version, 1 media file) purged in 1 chat"
    )
    assert list(MediaFile.objects.values_list("message_id", flat=True)) == [2]
    [kept] = blobs_of(media_path)
    assert kept.parent.name == "2"


def test_re_encryption_re_seals_the_files_before_the_old_key_retires(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path, api: Any
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    [old] = blobs_of(media_path)
    assert old.name.endswith(".1")
    run("rotate_chat_keys", "--chat", str(CHAT))
    # Rotated, not yet re-encrypted: the file still opens under the superseded version.
    assert b"".join(api.get(f"/api/v1/messages/{CHAT}:4131/media/").streaming_content) == PHOTO
    said = run("reencrypt_messages", "--chat", str(CHAT))
    assert "1 media file re-sealed" in said
    assert "1 key version retired, 0 failed" in said
    [new] = blobs_of(media_path)
    assert new.name.endswith(".2")
    assert not old.exists()
    assert MediaFile.objects.get().key_version == 2
    assert b"".join(api.get(f"/api/v1/messages/{CHAT}:4131/media/").streaming_content) == PHOTO


def test_an_old_key_with_a_file_still_under_it_is_not_retired(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    """A file that cannot be re-sealed (here its blob went missing) is reported, and keeps
    its key version superseded: never retired while a record names it."""
    fetched_photo(webhook, bot_api, run_worker)
    run("rotate_chat_keys", "--chat", str(CHAT))
    [blob] = blobs_of(media_path)
    blob.unlink()
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reencrypt_messages", "--chat", str(CHAT), stdout=out, stderr=out)
    said = out.getvalue()
    assert (
        f"chat {CHAT} message 4131 photo: the sealed file is missing from the media store" in said
    )
    assert "1 records still use key versions 1; they stay superseded (not retired)" in said
    assert MediaFile.objects.get().key_version == 1


def test_a_fetch_for_a_message_shredded_meanwhile_keeps_nothing(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    from messages.media import files

    update = photo_update()
    webhook.post(update)
    row = MediaFile.objects.get()
    MediaFile.objects.all().delete()  # as delete_chat_media does while the fetch runs
    assert files.store(row, iter([PHOTO])) is False
    assert blobs_of(media_path) == []


def test_the_metrics_count_fetches_and_files(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, client: Any
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    text = client.get("/metrics").content.decode()
    assert 'groupie_media_files{status="stored"} 1.0' in text
    assert 'groupie_media_fetches_total{result="stored"}' in text


def test_a_download_shorter_than_announced_is_not_kept(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    update = photo_update()
    path = bot_api.add_file(largest(update)["file_id"], PHOTO[:1000], "photo.jpg")
    bot_api.results["getFile"] = {"file_id": "x", "file_path": path, "file_size": len(PHOTO)}
    webhook.post(update)
    run_worker()
    row = MediaFile.objects.get()
    assert row.status == "pending"
    assert row.last_error == f"download: 1,000 bytes received, {len(PHOTO):,} announced"
    assert blobs_of(media_path) == []


def test_a_key_retired_while_a_file_was_sealed_means_fetching_it_again(
    webhook: Webhook, bot_api: BotApiPeer, media_path: Path
) -> None:
    """The worst race: the chat's key is rotated and re-encrypted (its old version retired)
    while a file is being sealed under that version. The file is not kept under a version
    that no longer opens: it is fetched again, and then sealed under the new one."""
    from messages.media import files
    from messages.media.files import KeyChangedMeanwhile

    update = photo_update()
    webhook.post(update)
    row = MediaFile.objects.get()

    def download() -> Any:
        yield PHOTO[:10_000]
        run("rotate_chat_keys", "--chat", str(CHAT))
        run("reencrypt_messages", "--chat", str(CHAT))  # nothing names v1: it is retired
        yield PHOTO[10_000:]

    with pytest.raises(KeyChangedMeanwhile):
        files.store(row, download())
    row.refresh_from_db()
    assert (row.status, row.blob_name, row.key_version) == ("pending", "", None)
    assert row.file_id  # kept: the file can be fetched again
    assert blobs_of(media_path) == []
    assert files.store(row, iter([PHOTO])) is True
    row.refresh_from_db()
    assert (row.status, row.key_version) == ("stored", 2)


def test_a_document_with_a_non_ascii_name_keeps_it(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, api: Any
) -> None:
    update = load_update("document")
    update["message"]["document"]["file_name"] = "отчёт 2.4/final.pdf"
    bot_api.add_file(update["message"]["document"]["file_id"], b"%PDF-1.4 report", "r.pdf")
    webhook.post(update)
    run_worker()
    response = api.get(f"/api/v1/messages/{CHAT}:4134/media/")
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%202.4_final.pdf"
    )
    assert response["Content-Type"] == "application/pdf"  # its sniffed type, as an attachment


def test_a_player_can_seek_with_a_byte_range(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, api: Any
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    url = f"/api/v1/messages/{CHAT}:4131/media/"
    middle = api.get(url, HTTP_RANGE="bytes=30000-30099")
    assert middle.status_code == 206
    assert middle["Content-Range"] == f"bytes 30000-30099/{len(PHOTO)}"
    assert b"".join(middle.streaming_content) == PHOTO[30000:30100]
    tail = api.get(url, HTTP_RANGE="bytes=-64")
    assert b"".join(tail.streaming_content) == PHOTO[-64:]
    rest = api.get(url, HTTP_RANGE="bytes=1000-")
    assert rest["Content-Length"] == str(len(PHOTO) - 1000)
    assert b"".join(rest.streaming_content) == PHOTO[1000:]
    for ignored in ("bytes=0-10,20-30", f"bytes={len(PHOTO)}-", "items=1-2"):
        whole = api.get(url, HTTP_RANGE=ignored)
        assert whole.status_code == 200
        assert whole["Accept-Ranges"] == "bytes"
        assert b"".join(whole.streaming_content) == PHOTO


def test_on_the_cloud_backends_with_cloud_storage(
    webhook: Webhook,
    bot_api: BotApiPeer,
    run_worker: Any,
    api: Any,
    cloud: Any,
    gcs_bucket: str,
) -> None:
    """Firestore for the messages, Cloud KMS (its loopback peer) for the chat keys, Cloud
    Storage (its emulator) for the files: the same path, end to end, then shredded."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    fetched_photo(webhook, bot_api, run_worker)
    row = MediaFile.objects.get()
    assert (row.status, row.key_version) == ("stored", 1)
    bucket = storage.Client(project="groupie-test", credentials=AnonymousCredentials()).bucket(
        gcs_bucket
    )
    [blob] = [b for b in bucket.list_blobs() if ".thumb." not in b.name]
    assert blob.name == f"archives/{archive_id()}/chats/{CHAT}/4131/AQAD5Ynp0DFLAANX.1"
    assert PHOTO[:64] not in blob.download_as_bytes()
    media = api.get(f"/api/v1/messages/{CHAT}:4131/media/")
    assert b"".join(media.streaming_content) == PHOTO
    assert "1 media file opened" in run("verify_archive")
    run("shred_chat", str(CHAT), "--yes")
    assert list(bucket.list_blobs()) == []
    assert not MediaFile.objects.exists()
