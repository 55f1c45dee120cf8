"""python -m crypto.verify_export EXPORT --key VKEY: checks, offline, that every message of an
export made with ``--proofs`` (``export_messages --proofs``, or the API's
``messages/export/?proofs=1``) is in the archive's signed log exactly as exported.

It needs the Python standard library and ``cryptography`` only: no Django, no settings,
nothing of the archive; an auditor runs it from a copy of ``crypto/``. For each message:

1. the Telegram message object exported (``proof.raw``) is put in canonical JSON and its
   HMAC taken under the exported opening key: the commitment;
2. the exported leaf must name the message (chat, message id, edit date) and hold that
   commitment; the message's shown fields (ids, text) must be the object's;
3. the leaf's hash and the inclusion proof must lead to the checkpoint's root;
4. the checkpoint (the export's first line) must carry a valid signature by ``VKEY``.

Exit status: 0 every message verified; 1 any did not (each named on stderr, with why), or
the checkpoint is not signed by the key given; 2 the export or the key cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crypto import logleaf, note, tlog


class Refused(Exception):
    """This message is not in the signed log as exported; the text says why."""


def check_message(line: dict[str, Any], checkpoint: note.Checkpoint) -> None:
    """Raises Refused unless the exported message is proven by the checkpoint."""
    proof = line.get("proof")
    if not isinstance(proof, dict):
        raise Refused("it carries no proof")
    raw, leaf_text = proof.get("raw"), proof.get("leaf")
    if not isinstance(raw, dict) or not isinstance(leaf_text, str):
        raise Refused("its proof lacks the message object or the leaf")
    try:
        key = bytes.fromhex(proof["opening_key"])
        path = [bytes.fromhex(p) for p in proof["inclusion"]]
        index = int(proof["index"])
        leaf = leaf_text.encode()
        fields = logleaf.parse(leaf)
    except (KeyError, TypeError, ValueError):
        raise Refused("its proof is malformed") from None
    if fields["type"] != logleaf.RECORD:
        raise Refused("its leaf is not a record")
    chat_field = raw.get("chat")
    chat: dict[str, Any] = chat_field if isinstance(chat_field, dict) else {}
    shown = (line.get("chat_id"), line.get("message_id"), raw.get("edit_date", 0))
    if logleaf.identity(fields) != shown or (chat.get("id"), raw.get("message_id")) != shown[:2]:
        raise Refused("its leaf names another message or revision")
    text = raw.get("text", raw.get("caption"))
    if "text" in line and line["text"] != (text if isinstance(text, str) else None):
        raise Refused("its text is not the archived message's")
    if logleaf.commitment(key, raw).hex() != fields["commitment"]:
        raise Refused("its content is not what the log committed to")
    try:
        tlog.verify_inclusion(tlog.leaf_hash(leaf), index, checkpoint.size, path, checkpoint.root)
    except tlog.ProofError as exc:
        raise Refused(f"its leaf is not in the signed tree ({exc})") from None


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if text.strip():
                value = json.loads(text)
                if not isinstance(value, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                yield number, value


def verify(path: Path, verifier: note.Verifier) -> tuple[int, list[str]]:
    """(messages verified, failures named). Raises ValueError/NoteError/OSError when the
    export cannot be read or its checkpoint is not signed by ``verifier``."""
    lines = _lines(path)
    first = next(lines, None)
    if first is None or not isinstance(first[1].get("checkpoint"), str):
        raise ValueError("the export's first line is not a checkpoint: export with proofs")
    checkpoint = note.open_checkpoint(first[1]["checkpoint"], verifier)
    verified, failures = 0, []
    for number, line in lines:
        if "error" in line and "id" not in line:
            failures.append(f"line {number}: the export is incomplete ({line['error']})")
            continue
        name = f"message {line.get('chat_id')}:{line.get('message_id')} (line {number})"
        try:
            check_message(line, checkpoint)
        except Refused as exc:
            failures.append(f"{name}: {exc}")
        else:
            verified += 1
    return verified, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crypto.verify_export", description=__doc__)
    parser.add_argument("export", type=Path, help="An NDJSON export made with proofs.")
    parser.add_argument("--key", required=True, help="The log's verifier key (name+id+key).")
    args = parser.parse_args(argv)
    try:
        verifier = note.Verifier.parse(args.key)
    except note.NoteError as exc:
        print(f"verify_export: --key: {exc}", file=sys.stderr)
        return 2
    try:
        verified, failures = verify(args.export, verifier)
    except note.NoteError as exc:
        # Not signed by this key (or not at all): nothing in the export is proven.
        print(f"NOT VERIFIED the export's checkpoint: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"verify_export: {exc}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"NOT VERIFIED {failure}", file=sys.stderr)
    print(f"verify_export: {verified} verified, {len(failures)} not verified")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
