"""Proofs that travel with an export (``export_messages --proofs``, ``?proofs=1``).

The export's first line is ``{"checkpoint": <signed note>, "verifier_key": ...}``, a
checkpoint made for the export (pending leaves sequenced first). Each message then carries
``proof``: the Telegram message object as sealed (``raw``), its revision's leaf, the leaf's
index, the per-record opening key and the inclusion proof against that checkpoint. That is all
``python -m crypto.verify_export`` needs. The opening key opens that one record's commitment,
nothing else: not the chat key, not another record's.
"""

from __future__ import annotations

from typing import Any

from crypto import logleaf
from crypto.errors import CryptoError
from messages import sealing
from messages.models import LogCheckpoint
from messages.reading.opening import OpenedMessage
from messages.stores import get_store
from messages.stores.records import record_leaf_key
from messages.transparency import checkpoints, log


def checkpoint_for_export() -> LogCheckpoint:
    log.sequence(get_store())
    return checkpoints.make_checkpoint()


def header(checkpoint: LogCheckpoint) -> dict[str, Any]:
    return {"checkpoint": checkpoint.note, "verifier_key": checkpoints.verifier_key()}


def proof(item: OpenedMessage, checkpoint: LogCheckpoint) -> dict[str, Any]:
    """The message's proof, or ``{"error": ...}`` saying why it has none."""
    stored, raw = item.stored, item.opened.message
    if raw is None:
        return {"error": "the record does not open"}
    key = record_leaf_key(stored.chat_id, stored.message_id, stored.edit_date, stored.envelope)
    entry = log.find(key)
    if entry is None or entry.index >= checkpoint.size:
        return {"error": "not in the log (run manage.py build_log)"}
    try:
        chat_key = sealing.chat_keys().key(stored.chat_id, stored.key_version)
    except CryptoError as exc:
        return {"error": type(exc).__name__}
    opening = logleaf.opening_key(chat_key, stored.chat_id, stored.message_id, stored.edit_date)
    return {
        "raw": raw,
        "leaf": entry.leaf.decode(),
        "index": entry.index,
        "opening_key": opening.hex(),
        "inclusion": [h.hex() for h in log.inclusion_proof(entry.index, checkpoint.size)],
    }
