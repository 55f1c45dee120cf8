"""Tables of the ORM store. Text, names and titles live only inside sealed envelopes."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import models


class Chat(models.Model):
    chat_id = models.BigIntegerField(primary_key=True)
    type = models.CharField(max_length=16)
    sealed_title = models.BinaryField(null=True)
    first_date = models.BigIntegerField()
    last_date = models.BigIntegerField()
    # No longer maintained (written 0): a per-message counter made this row a hot spot. The
    # store counts a chat's messages on the heads' (chat_id, sort_key) index instead.
    message_count = models.PositiveIntegerField(default=0)
    migrated_to_chat_id = models.BigIntegerField(null=True)
    migrated_from_chat_id = models.BigIntegerField(null=True)

    def __str__(self) -> str:
        return f"chat {self.chat_id}"


class Message(models.Model):
    """A message's head: its latest revision's index fields and envelope."""

    chat_id = models.BigIntegerField()
    message_id = models.BigIntegerField()
    # Indexed (``message_sort``), not unique: (chat_id, message_id) is the key, and a second
    # unique index would make concurrent first revisions of a message fail instead of meeting
    # in ON CONFLICT.
    sort_key = models.CharField(max_length=50)
    date = models.BigIntegerField()
    edit_date = models.BigIntegerField()
    kind = models.CharField(max_length=24)
    thread_id = models.BigIntegerField(null=True)
    sender_id = models.BigIntegerField(null=True)
    reply_to_message_id = models.BigIntegerField(null=True)
    # NULL, not "", for "no media group": the store contract says None and Firestore agrees.
    media_group_id = models.CharField(max_length=64, null=True)  # noqa: DJ001
    key_version = models.PositiveIntegerField()  # the chat-key version the envelope names
    envelope = models.BinaryField()
    version_count = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chat_id", "message_id"], name="message_natural_key")
        ]
        # Each filter the API offers pairs an equality with the one sort_key range. Every index
        # is written on every webhook delivery, so the thread index is partial: most messages
        # are in no topic (and a thread_id = X query implies IS NOT NULL, so it still applies).
        # A plain index for the unfiltered order: db_index would add a LIKE index on
        # PostgreSQL, written on every delivery and used by no query.
        indexes = [
            models.Index(fields=["sort_key"], name="message_sort"),
            models.Index(fields=["chat_id", "sort_key"], name="message_chat_sort"),
            models.Index(fields=["sender_id", "sort_key"], name="message_sender_sort"),
            models.Index(
                fields=["chat_id", "thread_id", "sort_key"],
                name="message_thread_sort",
                condition=models.Q(thread_id__isnull=False),
            ),
            models.Index(fields=["kind", "sort_key"], name="message_kind_sort"),
        ]

    def __str__(self) -> str:
        return f"message {self.chat_id}:{self.message_id}"


class MessageRevision(models.Model):
    chat_id = models.BigIntegerField()
    message_id = models.BigIntegerField()
    edit_date = models.BigIntegerField()
    key_version = models.PositiveIntegerField()  # the chat-key version the envelope names
    envelope = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chat_id", "message_id", "edit_date"], name="revision_natural_key"
            )
        ]

    def __str__(self) -> str:
        return f"revision {self.chat_id}:{self.message_id}@{self.edit_date}"


class ChatKey(models.Model):
    chat_id = models.BigIntegerField()
    version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    kek_version = models.CharField(max_length=255)
    state = models.CharField(max_length=16)
    created_at = models.DateTimeField()
    changed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chat_id", "version"], name="chat_key_version")
        ]

    def __str__(self) -> str:
        return f"chat key {self.chat_id} v{self.version}"


class ApiKey(models.Model):
    """A program's key to the API. Only a SHA-256 of the key is stored.

    The key is 256 random bits, so a fast hash is as safe as a slow one here and keeps each
    request's check to microseconds (a password hasher would cost ~100 ms per request)."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    # Empty: every chat. Otherwise the only chats this key can read.
    chat_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# The permission that lets a user read decrypted messages, names and titles, in the admin and
# through the API (an API key holds it implicitly). Declared by ArchiveAccess below.
DECRYPT_PERMISSION = "archive.view_decrypted"


class ArchiveAccess(models.Model):
    """Holds the archive's permissions; no rows. Permissions are granted to staff in the admin."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_decrypted", "Can read decrypted messages, names and titles")]

    def __str__(self) -> str:
        return "archive access"


class AuditEntry(models.Model):
    """One decrypted view: who read what, when, through which channel, from where.

    Written by the admin pages and the API whenever they open sealed records. Staff can read
    the log in the admin but no one can add, change or delete entries there."""

    ADMIN, API, COMMAND = "admin", "api", "command"
    CHANNELS = [(ADMIN, "Admin"), (API, "API"), (COMMAND, "manage.py command")]

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    channel = models.CharField(max_length=8, choices=CHANNELS)
    user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept when the user or key is later deleted, so the entry still says who it was.
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=32)
    chat_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    message_ids = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"


class BrowsableChat(models.Model):
    """The admin's entry to the archive browser; no table. The browser reads through the store
    contract, so it works the same on every store backend."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "chat"
        verbose_name_plural = "chats"

    def __str__(self) -> str:
        return "chat"


class MaintenanceLock(models.Model):
    """The one lease that key-lifecycle commands hold while they run, so two never overlap.

    A lease, not a session lock, because the commands may run on different machines against
    one archive. A run renews it as it goes; one that was killed leaves it to expire, and a run
    on the same host takes it over at once when the holder's process is gone."""

    name = models.CharField(max_length=64, primary_key=True)
    command = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    token = models.CharField(max_length=32)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.command} on {self.host} (pid {self.pid})"


class MaintenanceCheckpoint(models.Model):
    """Where an interrupted command resumes: kept until the run that owns it completes."""

    name = models.CharField(max_length=128, primary_key=True)
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class ChatRetention(models.Model):
    """How long a chat's messages are kept; a chat without one keeps them forever. purge_messages
    (daily, as a job) deletes what is older."""

    chat_id = models.BigIntegerField(primary_key=True)
    days = models.PositiveIntegerField(help_text="Messages older than this many days are purged.")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention period"
        # A period schedules deletion: changing one takes its own permission (superusers
        # only until granted), not the model's add/change/delete.
        default_permissions = ("view",)
        permissions = [("manage_retention", "Can set and clear a chat's retention period")]

    def __str__(self) -> str:
        return f"chat {self.chat_id}: {self.days} days"


class MediaFile(models.Model):
    """A file of an archived message: where its fetch stands, and once fetched, its sealed
    blob in the media store. No content and no file name here: the name is in the sealed
    message; the file_id is kept only until the file is fetched."""

    PENDING, STORED, FAILED, TOO_LARGE = "pending", "stored", "failed", "too_large"
    STATUSES = [
        (PENDING, "pending"),
        (STORED, "stored"),
        (FAILED, "failed"),
        (TOO_LARGE, "too large for the Bot API"),
    ]

    chat_id = models.BigIntegerField()
    message_id = models.BigIntegerField()
    file_unique_id = models.CharField(max_length=64)
    date = models.BigIntegerField(help_text="The message's Telegram date (purges go by it).")
    kind = models.CharField(max_length=16)
    file_id = models.CharField(max_length=256, blank=True)
    declared_size = models.BigIntegerField(null=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    next_attempt_at = models.DateTimeField(null=True)
    blob_name = models.CharField(max_length=200, blank=True)
    key_version = models.PositiveIntegerField(null=True)
    size = models.BigIntegerField(null=True, help_text="Bytes of the file, as stored.")
    content_type = models.CharField(max_length=100, blank=True, help_text="Sniffed, not told.")
    created_at = models.DateTimeField(auto_now_add=True)
    fetched_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "media file"
        constraints = [
            models.UniqueConstraint(
                fields=["chat_id", "message_id", "file_unique_id"], name="one_media_file_per_place"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="media_by_status"),
            models.Index(fields=["chat_id", "date"], name="media_by_chat_date"),
            models.Index(fields=["chat_id", "key_version"], name="media_by_key_version"),
        ]

    LABELS = {"voice": "voice note", "video_note": "video message", "animation": "animation"}

    def __str__(self) -> str:
        return f"{self.label} of chat {self.chat_id} message {self.message_id}"

    @property
    def label(self) -> str:
        """The kind as people say it: "voice note", not "voice"."""
        return self.LABELS.get(self.kind, self.kind)


class SearchIndex(models.Model):
    """A chat whose messages are indexed for search (off for every chat until turned on).

    While ``building``, new messages are indexed as they arrive and ``build_search_index``
    indexes what was stored before; ``ready`` once it has. Searches use the index only when
    ready. The blind tokens themselves live beside the records, in the store."""

    BUILDING, READY = "building", "ready"
    STATES = [(BUILDING, "building"), (READY, "ready")]

    chat_id = models.BigIntegerField(primary_key=True)
    state = models.CharField(max_length=8, choices=STATES, default=BUILDING)
    enabled_at = models.DateTimeField()
    built_at = models.DateTimeField(null=True, blank=True)
    # Where an interrupted build resumes: the last (message_id, edit_date) indexed.
    resume_message_id = models.BigIntegerField(null=True, blank=True)
    resume_edit_date = models.BigIntegerField(null=True, blank=True)
    revisions_indexed = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "search index"
        verbose_name_plural = "search indexes"
        default_permissions = ("view",)
        permissions = [("manage_search_index", "Can turn a chat's search index on and off")]

    def __str__(self) -> str:
        return f"chat {self.chat_id}: {self.state}"


class SearchToken(models.Model):
    """The ORM store's blind index: one row per (chat, term token, message, chat-key version).

    ``token`` is a term's 8-byte keyed HMAC (``crypto.blindindex``) read as a signed 64-bit
    integer; no term is ever stored. A message's rows are the union of its revisions' terms
    (a search confirms each candidate on its latest text)."""

    pk = models.CompositePrimaryKey("chat_id", "token", "message_id", "key_version")
    chat_id = models.BigIntegerField()
    token = models.BigIntegerField()
    message_id = models.BigIntegerField()
    key_version = models.PositiveIntegerField()

    class Meta:
        # The key serves "which messages have this token"; this index serves "does this
        # message have one of these tokens" (a search over many chats) and deleting a
        # message's entries. It holds the token too, so neither reads the table.
        indexes = [
            models.Index(fields=["chat_id", "message_id", "token"], name="search_token_message")
        ]

    def __str__(self) -> str:
        return f"search token of {self.chat_id}:{self.message_id}"


class ArchiveIdentity(models.Model):
    """This archive's own random id, made on first use (one row). Its media files are named
    under it, so two archives that share a media directory or bucket (two databases, two
    deployments) never name the same object, and each sees only its own files."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    archive_id = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"archive {self.archive_id}"


# -- the archive log (docs/transparency.md) ---------------------------------------------------


class PendingLeaf(models.Model):
    """A log leaf not yet sequenced. The ORM store writes one with each revision it stores, in
    the same commit, keyed by the record (no row shared by a chat or the archive); the
    sequencer moves them into ``LogLeaf`` in (created, key) order."""

    key = models.CharField(max_length=128, primary_key=True)
    leaf = models.BinaryField()
    created = models.BigIntegerField()  # microseconds since the epoch: the sequencer's order

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["created", "key"], name="pending_leaf_order")]

    def __str__(self) -> str:
        return f"pending leaf {self.key}"


class LogLeaf(models.Model):
    """The log's leaves at their indices: 0, 1, 2, … with no gap. A record's leaf names it, so
    an export finds the leaf of the revision it writes out."""

    index = models.BigIntegerField(primary_key=True)
    key = models.CharField(max_length=128, unique=True)
    leaf = models.BinaryField()
    hash = models.BinaryField()  # RFC 6962 leaf hash
    chat_id = models.BigIntegerField()
    message_id = models.BigIntegerField(null=True)  # None for a tombstone
    edit_date = models.BigIntegerField(null=True)

    class Meta:
        default_permissions = ()
        indexes = [
            models.Index(fields=["chat_id", "message_id", "edit_date"], name="log_leaf_record")
        ]

    def __str__(self) -> str:
        return f"log leaf {self.index}"


class LogNode(models.Model):
    """The hash of a complete subtree: 2^level leaves from index * 2^level (level >= 1). Any
    root or proof is then O(log n) rows, and sequencing m leaves writes O(m) rows."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField()

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="log_node_position")]

    def __str__(self) -> str:
        return f"log node {self.level}/{self.index}"


class LogCheckpoint(models.Model):
    """A signed checkpoint (C2SP signed note) the log made, and when it was published."""

    size = models.BigIntegerField()
    root = models.BinaryField()
    note = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_as = models.CharField(max_length=255, blank=True, default="")
    published_at = models.DateTimeField(null=True)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["size"], name="log_checkpoint_size")]

    def __str__(self) -> str:
        return f"checkpoint at {self.size}"


class SignInIdentity(models.Model):
    """Which Django user an OpenID provider's account signs in as: the provider's issuer and
    its ``sub`` claim, which the provider promises never to reassign (an e-mail address can
    change hands, so it is never what a sign-in is matched on)."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class UserSession(models.Model):
    """The sessions a user signed in with, by key: deactivating the user deletes exactly these
    (an index, so the cost is that user's sessions, not every session of the site)."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"session of user {self.user_id}"


class ChatEvent(models.Model):
    """A chat event (a reaction, Telegram's reaction totals, a membership change): sealed like
    a message. Plain here: the chat, the message reacted to (0 for membership), Telegram's
    date, the kind and the event's identity (update_id); who did what is in the envelope."""

    chat_id = models.BigIntegerField()
    event_id = models.BigIntegerField()
    kind = models.CharField(max_length=24)
    date = models.BigIntegerField()
    message_id = models.BigIntegerField(default=0)
    sort_key = models.CharField(max_length=40)  # records.event_sort_key(date, event_id)
    key_version = models.PositiveIntegerField()
    envelope = models.BinaryField()

    class Meta:
        constraints = [
            # The natural key, and the timeline's index: a redelivery meets it and is a no-op.
            models.UniqueConstraint(fields=["chat_id", "sort_key"], name="chat_event_natural_key")
        ]
        indexes = [
            models.Index(fields=["chat_id", "message_id", "sort_key"], name="chat_event_message"),
            models.Index(fields=["chat_id", "kind", "sort_key"], name="chat_event_kind"),
        ]

    def __str__(self) -> str:
        return f"chat event {self.chat_id}:{self.event_id}"


class ReceivedUpdate(models.Model):
    """The update_id of every Update taken in (archived or ignored), kept a few days: where the
    ids Telegram numbered in sequence have holes, updates may have been lost (``bot_status``'s
    gaps). Ids only, nothing of the update."""

    update_id = models.BigIntegerField(primary_key=True)
    received_at = models.BigIntegerField(db_index=True)  # unix seconds

    def __str__(self) -> str:
        return f"update {self.update_id}"

    @staticmethod
    def note(update_id: int) -> None:
        """Records that ``update_id`` was taken in; a redelivery changes nothing."""
        ReceivedUpdate.objects.bulk_create(
            [ReceivedUpdate(update_id=update_id, received_at=int(time.time()))],
            ignore_conflicts=True,
        )

    @staticmethod
    def noting(
        update_id: int | None, then: Callable[[], object] | None
    ) -> Callable[[], object] | None:
        """``then`` (a write that belongs with a record) preceded by noting ``update_id``, the
        update that brought the record, for a store that runs it in the record's commit."""
        if update_id is None:
            return then

        def note_then() -> None:
            ReceivedUpdate.note(update_id)
            if then is not None:
                then()

        return note_then


class ViewerSettings(models.Model):
    """A staff member's own display settings: the time zone dates are shown in (stored dates
    stay UTC). No row: the server's ``TIME_ZONE``."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="+")
    time_zone = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()
        verbose_name = "viewer settings"
        verbose_name_plural = "viewer settings"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.time_zone}"


class ChatAccess(models.Model):
    """A grant: which chats a user, or every member of a group, may read decrypted.

    Reading also needs ``archive.view_decrypted`` (what a user may do); grants say where.
    ``chat_id`` None grants every chat, present and future. Superusers need none. Made and
    revoked only through ``messages.grants`` (audited), never edited in place."""

    user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_access"
    )
    group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_access"
    )
    chat_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "chat access grant"
        default_permissions = ("view",)
        permissions = [("manage_chat_access", "Can grant and revoke access to chats")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=True, group__isnull=False)
                | models.Q(user__isnull=False, group__isnull=True),
                name="chat_access_user_or_group",
            )
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{who}: {'every chat' if self.chat_id is None else f'chat {self.chat_id}'}"


class LegalHold(models.Model):
    """A chat that nothing may delete (purge, retention, shred, media deletion) until the
    hold is released. Set and released only through ``messages.legal_hold`` (audited)."""

    chat_id = models.BigIntegerField(primary_key=True)
    reason = models.TextField()
    since = models.DateTimeField(auto_now_add=True)
    by = models.CharField(max_length=200)

    class Meta:
        default_permissions = ("view",)
        permissions = [("manage_legal_hold", "Can set and release legal holds on chats")]

    def __str__(self) -> str:
        return f"legal hold on chat {self.chat_id}"
