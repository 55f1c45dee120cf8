"""Signed checkpoints of the archive log, and where they are published.

A checkpoint is the log's size and root as a C2SP signed note (``crypto.note``), signed by the
keyring's Ed25519 key (the local keyring's, or a Cloud KMS EC_SIGN_ED25519 key version). Each
one is kept in the database (``LogCheckpoint``) and published, create-only, to
``GROUPIE_CHECKPOINT_STORE``: a directory or ``gs://BUCKET`` (with a retention lock, nobody
can rewrite or delete it there, the database's administrators included). The media store's
blob classes do the writing: they never replace an object.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from crypto import note
from messages import sealing
from messages.media.archive import archive_id
from messages.media.blobs.base import BlobExists, BlobStore
from messages.media.blobs.gcs import GCSBlobStore
from messages.media.blobs.local import LocalBlobStore
from messages.models import LogCheckpoint
from messages.transparency import log


def origin() -> str:
    return str(settings.GROUPIE_LOG_ORIGIN)


def verifier_key() -> str:
    """``name+keyid+base64key``: what an auditor passes to ``crypto.verify_export --key``."""
    return note.verifier_key(origin(), sealing.get_keyring().signing_public_key())


def verifier() -> note.Verifier:
    return note.Verifier.parse(verifier_key())


def sign(size: int, root: bytes) -> str:
    keyring = sealing.get_keyring()
    text = note.Checkpoint(origin(), size, root).text()
    public = keyring.signing_public_key()
    return text + "\n" + note.signature_line(origin(), public, keyring.sign(text.encode()))


def make_checkpoint() -> LogCheckpoint:
    """Signs the log as it is now (the caller sequenced it first) and keeps the checkpoint."""
    size = log.size()
    root = log.root(size)
    return LogCheckpoint.objects.create(size=size, root=root, note=sign(size, root))


def latest() -> LogCheckpoint | None:
    return LogCheckpoint.objects.order_by("-size", "-id").first()


def checkpoint_store() -> BlobStore | None:
    """The configured publishing place, or None (GROUPIE_CHECKPOINT_STORE empty)."""
    where = str(settings.GROUPIE_CHECKPOINT_STORE)
    if not where:
        return None
    if where.startswith("gs://"):
        return GCSBlobStore(where.removeprefix("gs://"), project=settings.GCP_PROJECT_ID)
    return LocalBlobStore(where)


def publish(checkpoint: LogCheckpoint, store: BlobStore) -> str:
    """Writes the checkpoint, create-only, as ``checkpoints/<archive id>/<size>-<id>``; returns
    the name. Written before, it stays as it was (nothing is ever replaced)."""
    name = f"checkpoints/{archive_id()}/{checkpoint.size:020d}-{checkpoint.pk:010d}.note"
    try:
        with store.writer(name) as stream:
            stream.write(checkpoint.note.encode())
    except BlobExists:
        pass
    checkpoint.published_as = name
    checkpoint.published_at = timezone.now()
    checkpoint.save(update_fields=["published_as", "published_at"])
    return name
