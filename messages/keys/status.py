"""What key_status reports: KEK versions, chat keys by KEK version and state, records by
chat-key version, and the work rewrap_keys and reencrypt_messages would do."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crypto.chatkeys import OPENABLE, STATES, SUPERSEDED, ChatKeyRecord, is_shredded
from crypto.keyrings.base import KekVersion, Keyring
from groupie.commands import counted
from messages.keys import locking
from messages.models import MaintenanceCheckpoint
from messages.stores.base import MessageStore


@dataclass
class Status:
    keyring: str
    kek_versions: list[KekVersion]
    primary: str
    chat_keys: Counter[tuple[str, str]] = field(default_factory=Counter)  # (KEK label, state)
    chats: int = 0
    shredded_chats: int = 0
    revisions_by_key_version: Counter[int] = field(default_factory=Counter)
    superseded_revisions: int = 0
    superseded_chats: int = 0
    rewrap: Counter[str] = field(default_factory=Counter)  # KEK label -> chat keys to move
    unreadable: Counter[str] = field(default_factory=Counter)  # KEK label -> chat keys
    lock: str | None = None
    checkpoints: list[str] = field(default_factory=list)

    @property
    def attention(self) -> list[str]:
        return [
            f"{counted(n, 'chat key')} {'is' if n == 1 else 'are'} wrapped under KEK version "
            f"{label}, which does not decrypt: "
            f"their chats cannot be read. Enable that version again, then run rewrap_keys."
            for label, n in sorted(self.unreadable.items())
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "keyring": self.keyring,
            "primary_kek_version": _label(self.primary),
            "kek_versions": [
                {
                    "version": v.label,
                    "state": v.state,
                    "primary": v.primary,
                    "below_minimum_decryption_version": v.below_minimum,
                    "created_at": v.created_at.isoformat() if v.created_at else None,
                    "chat_keys": {
                        state: self.chat_keys[v.label, state]
                        for state in STATES
                        if self.chat_keys[v.label, state]
                    },
                }
                for v in self.kek_versions
            ],
            "chats": self.chats,
            "shredded_chats": self.shredded_chats,
            "chat_keys_by_state": {
                state: sum(n for (_, s), n in self.chat_keys.items() if s == state)
                for state in STATES
            },
            "revisions_by_chat_key_version": {
                str(v): n for v, n in sorted(self.revisions_by_key_version.items())
            },
            "reencrypt_messages": {
                "chats": self.superseded_chats,
                "revisions": self.superseded_revisions,
            },
            "rewrap_keys": {"chat_keys": sum(self.rewrap.values()), "from": dict(self.rewrap)},
            "attention": self.attention,
            "lock": self.lock,
            "checkpoints": self.checkpoints,
        }


def key_status(store: MessageStore, keyring: Keyring, description: str) -> Status:
    versions = keyring.versions()
    primary = keyring.primary_version()
    decrypts = {v.label: v.decrypts for v in versions}
    status = Status(keyring=description, kek_versions=versions, primary=primary)
    chats: dict[int, list[ChatKeyRecord]] = {}
    for record in store.iter_chat_keys():
        chats.setdefault(record.chat_id, []).append(record)
        label = _label(record.kek_version)
        status.chat_keys[label, record.state] += 1
        if record.state in OPENABLE:
            if record.kek_version != primary:
                status.rewrap[label] += 1
            if not decrypts.get(label, False):
                status.unreadable[label] += 1
    status.chats = sum(1 for records in chats.values() if not is_shredded(records))
    status.shredded_chats = len(chats) - status.chats
    superseded = {(c, r.version) for c, rs in chats.items() for r in rs if r.state == SUPERSEDED}
    for (chat_id, version), count in store.count_revisions().items():
        status.revisions_by_key_version[version] += count
        if (chat_id, version) in superseded:
            status.superseded_revisions += count
    status.superseded_chats = len({c for c, _ in superseded})
    holder = locking.current_holder()
    status.lock = locking.describe(holder) if holder else None
    status.checkpoints = [
        f"{c.name} (interrupted; last updated {c.updated_at:%Y-%m-%d %H:%M:%S} UTC)"
        for c in MaintenanceCheckpoint.objects.order_by("name")
    ]
    return status


def render(status: Status) -> list[str]:
    lines = [f"Keyring: {status.keyring}", "", "KEK versions (chat keys wrapped under each):"]
    for v in status.kek_versions:
        keys = ", ".join(
            f"{status.chat_keys[v.label, s]:,} {s}" for s in STATES if status.chat_keys[v.label, s]
        )
        state = v.state + (" (below the minimum decryption version)" if v.below_minimum else "")
        created = f"  created {v.created_at:%Y-%m-%d %H:%M}" if v.created_at else ""
        lines.append(
            f"  {v.label:>4}  {'primary ' if v.primary else '        '}{state:<10}{created}"
            f"  {keys or 'no chat keys'}"
        )
    by_state = Counter({s: n for (_, s), n in status.chat_keys.items()})
    lines += [
        "",
        f"Chats: {status.chats:,} ({status.shredded_chats:,} shredded)",
        "Chat keys: " + ", ".join(f"{by_state[s]:,} {s}" for s in STATES),
        "Revisions by chat-key version: "
        + (
            ", ".join(f"v{v}: {n:,}" for v, n in sorted(status.revisions_by_key_version.items()))
            or "none"
        ),
        "",
    ]
    moving = sum(status.rewrap.values())
    if moving:
        sources = ", ".join(f"{n:,} from {label}" for label, n in sorted(status.rewrap.items()))
        lines.append(
            f"rewrap_keys would rewrap {counted(moving, 'chat key')} ({sources}) into KEK "
            f"version {_label(status.primary)}: {counted(2 * moving, 'keyring call')}, no message "
            "record rewritten."
        )
    else:
        lines.append(
            f"rewrap_keys has nothing to do: every chat key is under KEK version "
            f"{_label(status.primary)}."
        )
    if status.superseded_chats:
        lines.append(
            f"reencrypt_messages would re-seal {counted(status.superseded_revisions, 'revision')}"
            f" in {counted(status.superseded_chats, 'chat')} and then retire their superseded key "
            "versions."
        )
    else:
        lines.append("reencrypt_messages has nothing to do: no superseded chat-key versions.")
    lines.append(f"Lock: {status.lock or 'free'}")
    lines += [f"Interrupted run: {c}" for c in status.checkpoints]
    lines += [f"ATTENTION: {line}" for line in status.attention]
    return lines


def _label(version: str) -> str:
    return version.rsplit("/", 1)[-1]
