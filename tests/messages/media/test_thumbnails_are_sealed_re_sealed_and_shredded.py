"""A stored photo gets a sealed thumbnail (never a JPEG in the clear) that opens to at most
320 px a side; re-encryption re-seals it under the new key version and deletes the old one;
shredding the chat deletes it with the chat's files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from messages.media import thumbnails
from messages.models import MediaFile
from tests.conftest import Webhook
from tests.messages.media.test_media_fetch import CHAT, PHOTO, blobs_of, fetched_photo, run
from webhooks.loopback import BotApiPeer

pytestmark = pytest.mark.django_db(transaction=True)

JPEG_MAGIC = b"\xff\xd8\xff"


def thumbnail_blobs(media_path: Path) -> list[Path]:
    return [p for p in blobs_of(media_path, thumbnails=True) if ".thumb." in p.name]


def opened_size(row: MediaFile) -> tuple[int, int]:
    with Image.open(io.BytesIO(thumbnails.opened(row))) as image:
        assert image.format == "JPEG"
        return image.size


def test_a_stored_photo_gets_a_sealed_thumbnail_of_at_most_320_px(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    assert PHOTO.startswith(JPEG_MAGIC)  # the source is a JPEG; the stored blobs are not
    fetched_photo(webhook, bot_api, run_worker)
    row = MediaFile.objects.get()
    assert row.status == MediaFile.STORED
    [thumb] = thumbnail_blobs(media_path)
    sealed = thumb.read_bytes()
    assert JPEG_MAGIC not in sealed
    assert b"JFIF" not in sealed
    assert thumb.name.endswith(".thumb.1")
    width, height = opened_size(row)
    assert max(width, height) == thumbnails.EDGE
    assert (width, height) == (320, 240)  # the 1280 x 960 photo, its shape kept


def test_re_encryption_re_seals_the_thumbnail_and_deletes_the_old_one(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    [old] = thumbnail_blobs(media_path)
    run("rotate_chat_keys", "--chat", str(CHAT))
    run("reencrypt_messages", "--chat", str(CHAT))
    [new] = thumbnail_blobs(media_path)
    assert new.name.endswith(".thumb.2")
    assert not old.exists()
    assert JPEG_MAGIC not in new.read_bytes()
    row = MediaFile.objects.get()
    assert row.key_version == 2
    assert max(opened_size(row)) == thumbnails.EDGE


def test_shredding_the_chat_deletes_its_thumbnails(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, media_path: Path
) -> None:
    fetched_photo(webhook, bot_api, run_worker)
    assert thumbnail_blobs(media_path)
    run("shred_chat", str(CHAT), "--yes")
    assert blobs_of(media_path, thumbnails=True) == []
