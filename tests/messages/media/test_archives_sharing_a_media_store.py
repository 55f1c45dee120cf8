"""Archives that share one media directory or bucket (two databases, two deployments) keep
every file of each: names are per archive, writes never replace an object, each archive's
verify sees only its own files, and a file that does not open is shown as damaged."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.media import files, thumbnails
from messages.media.archive import archive_id
from messages.media.blobs import get_blob_store
from messages.media.blobs.base import BlobStoreError, blob_name, chat_prefix
from messages.models import ArchiveIdentity, MediaFile
from messages.telegram import media_of
from tests import ROOT
from tests.conftest import Webhook, load_update, staff_client
from webhooks.demo_data import DEMO_MEDIA
from webhooks.updates import parse_update

PHOTO = (DEMO_MEDIA / "whiteboard.jpg").read_bytes()
CHAT = -1001234567890123


def verify() -> str:
    out = StringIO()
    call_command("verify_archive", stdout=out, stderr=out)
    return out.getvalue()


def another_archive(tmp_path: Path, name: str, keyring: Path) -> Any:
    """Runs manage.py for another archive: its own SQLite database, this test's keyring file
    (as two databases used from one checkout share var/keyring.json) and media directory."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / name}.sqlite3",
        "LOCAL_KEYRING_PATH": str(keyring),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # our own manage.py, fixed arguments
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done

    manage("migrate", "-v0")
    return manage


def all_open() -> int:
    """Opens every stored file of this archive to its end; returns how many."""
    rows = MediaFile.objects.filter(status=MediaFile.STORED)
    return sum(1 for row in rows if b"".join(files.open_stream(row)))


@pytest.mark.django_db
def test_three_archives_loading_the_demo_into_one_directory_keep_every_file(
    tmp_path: Path, keyring_path: Path, media_path: Path
) -> None:
    before = another_archive(tmp_path, "before", keyring_path)
    assert "6 media files sealed" in before("load_demo").stdout
    call_command("load_demo", stdout=StringIO())  # this archive, on the test's database
    after = another_archive(tmp_path, "after", keyring_path)
    assert "6 media files sealed" in after("load_demo").stdout

    assert all_open() == 6
    assert "media file" in verify()  # no CommandError: nothing failed, nothing foreign counted
    for other in (before, after):
        checked = other("verify_archive", check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    archives = sorted(p.name for p in (media_path / "archives").iterdir())
    assert len(archives) == 3
    assert archive_id() in archives


@pytest.mark.django_db
def test_verify_counts_its_own_stray_files_not_another_archives(demo: None) -> None:
    blobs = get_blob_store()
    foreign = [
        blob_name("f" * 32, CHAT, 5210, "AgADuog8MIG2qOUz", 1),  # another archive's
        f"chats/{CHAT}/5210/AgADuog8MIG2qOUz.1",  # an archive's from before archive ids
    ]
    for name in foreign:
        with blobs.writer(name) as stream:
            stream.write(b"another archive's sealed bytes")
    assert "media file" in verify()

    stray = f"{chat_prefix(archive_id(), CHAT)}9999/x.1"  # ours, and no record names it
    with blobs.writer(stray) as stream:
        stream.write(b"sealed")
    with pytest.raises(CommandError):
        verify()
    call_command("shred_chat", str(CHAT), "--yes", stdout=StringIO())
    assert sorted(blobs.names("")) == sorted(foreign)  # a shred leaves others' files too


@pytest.fixture(params=["local", "gcs"])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == "gcs":
        request.getfixturevalue("gcs_bucket")
    return str(request.param)


def noted_photo(webhook: Webhook) -> MediaFile:
    update = load_update("photo_with_caption")
    assert webhook.post(update).status_code == 200
    incoming = parse_update(update)
    row = MediaFile.objects.get()
    assert media_of(incoming.raw) is not None  # type: ignore[union-attr]
    return row


@pytest.mark.django_db
def test_a_second_write_of_the_same_file_keeps_the_first(webhook: Webhook, store: str) -> None:
    """A retry (the record's update failed after the blob was written) or a re-import writes
    the same name again: the file already there is kept, and the record points at it."""
    row = noted_photo(webhook)
    assert files.store(row, [PHOTO[:1000], PHOTO[1000:]])
    name = row.blob_name
    MediaFile.objects.filter(pk=row.pk).update(status=MediaFile.PENDING, blob_name="", size=None)
    row.refresh_from_db()
    assert files.store(row, [PHOTO])
    row.refresh_from_db()
    assert (row.status, row.blob_name, row.size) == ("stored", name, len(PHOTO))
    assert row.content_type == "image/jpeg"
    assert b"".join(files.open_stream(row)) == PHOTO
    # The file once, beside its sealed thumbnail (messages/media/thumbnails.py).
    assert sorted(get_blob_store().names("")) == sorted([name, *thumbnails.names([row])])


@pytest.mark.django_db
def test_an_object_already_at_the_name_is_never_overwritten(webhook: Webhook, store: str) -> None:
    row = noted_photo(webhook)
    name = blob_name(archive_id(), CHAT, row.message_id, row.file_unique_id, 1)
    blobs = get_blob_store()
    with blobs.writer(name) as stream:
        stream.write(b"someone else's object")
    with pytest.raises(BlobStoreError, match="holds another object"):
        files.store(row, [PHOTO])
    with blobs.reader(name) as stream:
        assert stream.read() == b"someone else's object"
    row.refresh_from_db()
    assert (row.status, row.blob_name) == ("pending", "")


@pytest.mark.django_db
def test_the_archive_id_is_made_once_and_kept(db: None) -> None:
    assert not ArchiveIdentity.objects.exists()
    first = archive_id()
    assert len(first) == 32
    assert archive_id() == first
    assert ArchiveIdentity.objects.get().archive_id == first


@pytest.mark.django_db
def test_a_file_of_an_archive_from_before_archive_ids_still_opens(webhook: Webhook) -> None:
    """Records made before archive ids name ``chats/…``; they are read where they are."""
    row = noted_photo(webhook)
    assert files.store(row, [PHOTO])
    row.refresh_from_db()
    legacy = f"chats/{CHAT}/{row.message_id}/{row.file_unique_id}.1"
    blobs = get_blob_store()
    with blobs.reader(row.blob_name) as source, blobs.writer(legacy) as target:
        target.write(source.read())
    blobs.delete([row.blob_name])
    MediaFile.objects.filter(pk=row.pk).update(blob_name=legacy)
    row.refresh_from_db()
    assert b"".join(files.open_stream(row)) == PHOTO
    assert "1 media file opened" in verify()
    call_command("shred_chat", str(CHAT), "--yes", stdout=StringIO())
    assert list(blobs.names("")) == []  # its record named it: the shred deleted it


@pytest.mark.django_db
def test_the_admin_says_damaged_for_a_file_that_does_not_open(
    webhook: Webhook, media_path: Path
) -> None:
    row = noted_photo(webhook)
    assert files.store(row, [PHOTO])
    row.refresh_from_db()
    page = f"/admin/archive/browsablechat/{CHAT}/{row.message_id}/"
    reader, viewer = staff_client(decrypt=True), staff_client(decrypt=False, perms=("x",))
    assert "<img" in reader.get(page).content.decode()

    blob = media_path.joinpath(*row.blob_name.split("/"))
    sealed = bytearray(blob.read_bytes())
    sealed[200] ^= 0x01  # within the first segment: the file does not open at all
    blob.write_bytes(bytes(sealed))
    for client in (reader, viewer):
        shown = client.get(page).content.decode()
        assert "is damaged: the sealed file does not open (DecryptionError)" in shown
        assert "<img" not in shown
        assert "is stored" not in shown
    media = reader.get(f"{page}media/{row.pk}/")
    assert media.status_code == 409


@pytest.mark.django_db
def test_an_unreachable_media_store_is_unavailable_not_damaged(
    webhook: Webhook, media_path: Path, settings: Any, tmp_path: Path
) -> None:
    row = noted_photo(webhook)
    assert files.store(row, [PHOTO])
    not_a_directory = tmp_path / "unmounted"
    not_a_directory.write_text("")
    settings.GROUPIE_MEDIA_STORE = {
        "BACKEND": "messages.media.blobs.local.LocalBlobStore",
        "OPTIONS": {"path": str(not_a_directory)},
    }
    page = f"/admin/archive/browsablechat/{CHAT}/{row.message_id}/"
    client = staff_client(decrypt=True)
    client.raise_request_exception = False  # the 503 comes from the 500 handler, as in production
    shown = client.get(page).content.decode()
    assert "cannot be shown now: the media store or the keyring is unavailable" in shown
    assert "damaged" not in shown
    assert client.get(f"{page}media/{row.pk}/").status_code == 503
