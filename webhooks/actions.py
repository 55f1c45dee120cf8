"""The operator actions at Telegram's edge, as ``do_*`` functions (zulip's actions; the model
is ``messages/keys/actions.py``): registering and deleting the webhook, importing a Telegram
Desktop export with its files, and fetching failed media again. Each validates, changes state,
writes its audit entry and counts it (``messages.audit.record_action``); the commands parse
their arguments, call one of these and print the ``Outcome``. ``Refused``: nothing changed;
``Stopped``: an outage part way, and running it again carries on.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from crypto.errors import CryptoError
from groupie.commands import counted
from groupie.progress import Progress
from messages import audit
from messages.importing import Tally
from messages.models import MediaFile
from messages.outcome import Outcome, Refused, Stopped
from messages.stores.records import StoreError
from messages.telegram_desktop.read import BadExport, messages
from webhooks.botapi import BotApi, BotApiError
from webhooks.media import BACKOFF_SECONDS, ENQUEUE_FAILURES, keep_exported_file, requeue
from webhooks.polling import ALLOWED_UPDATES

# A pending file whose next attempt is this late has lost its task (a worker's database was
# reset, a queue purged): retry_media_fetches --stuck queues it again.
STUCK_AFTER = timedelta(seconds=max(BACKOFF_SECONDS) + 3600)


def do_set_webhook(
    url: str, *, max_connections: int = 40, drop_pending_updates: bool = False
) -> None:
    """Registers ``url`` (already checked to be HTTPS) with WEBHOOK_SECRET as secret_token
    and the update kinds groupie archives; audited (never the secret)."""
    if not 1 <= max_connections <= 100:
        raise Refused("--max-connections must be between 1 and 100")
    try:
        BotApi().call(
            "setWebhook",
            url=url,
            secret_token=settings.WEBHOOK_SECRET,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=max_connections,
            drop_pending_updates=drop_pending_updates or None,
        )
    except BotApiError as exc:
        raise Refused(str(exc)) from None
    filters = {"url": url, "max_connections": max_connections, "drop": drop_pending_updates}
    audit.record_action("set_webhook", filters=filters)


def do_delete_webhook(*, drop_pending_updates: bool = False) -> None:
    """Deletes the bot's webhook (Telegram keeps the updates for getUpdates unless told to
    drop them); audited."""
    try:
        BotApi().call("deleteWebhook", drop_pending_updates=drop_pending_updates or None)
    except BotApiError as exc:
        raise Refused(str(exc)) from None
    audit.record_action("delete_webhook", filters={"drop": drop_pending_updates})


def do_retry_media_fetches(
    chat_ids: list[int], *, stuck: bool = False, dry_run: bool = False
) -> Outcome:
    """Queues the failed fetches (and with ``stuck`` the pending ones whose task was lost) of
    ``chat_ids`` (every chat if empty) again, their attempts counted afresh; audited."""
    wanted = Q(status=MediaFile.FAILED)
    if stuck:
        late = timezone.now() - STUCK_AFTER
        wanted |= Q(status=MediaFile.PENDING) & (
            Q(next_attempt_at__lt=late) | Q(next_attempt_at=None)
        )
    rows = MediaFile.objects.filter(wanted)
    if chat_ids:
        rows = rows.filter(chat_id__in=chat_ids)
    if dry_run:
        count = rows.count()
        return Outcome(f"retry_media_fetches: {count} {_files(count)} would be queued")
    try:
        queued = requeue(rows.iterator())
    except ENQUEUE_FAILURES as exc:
        raise Stopped(
            f"queueing failed ({type(exc).__name__}) part way; run it again to finish"
        ) from None
    audit.record_action(
        "retry_media_fetches", filters={"chat": chat_ids, "stuck": stuck, "queued": queued}
    )
    return Outcome(f"retry_media_fetches: {queued} {_files(queued)} queued to be fetched again")


def _files(count: int) -> str:
    return "file" if count == 1 else "files"


def do_import_telegram_export(
    path: Path,
    chat_ids: list[int] | tuple[int, ...] = (),
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Archives the messages of the export ``path`` (its result.json; only ``chat_ids`` if
    given) and seals the files it holds beside it; audits the run's summary."""
    if not path.is_file():
        raise Refused(f"{path}: no such file (the export's result.json)")
    progress = progress or Progress(sys.stderr, enabled=False)
    wanted, tally = set(chat_ids), Tally()
    files: Counter[str] = Counter()
    chats: set[int] = set()
    with path.open("rb") as raw, progress.reading(raw, path.stat().st_size, "export") as stream:
        try:
            for exported in messages(stream, str(path)):
                if wanted and exported.chat.chat_id not in wanted:
                    continue
                chats.add(exported.chat.chat_id)
                if exported.message is None:
                    tally.skip(f"{exported.where}: {exported.refused}")
                    continue
                incoming = tally.archive(exported.message, exported.where, dry_run=dry_run)
                if incoming is not None:
                    relative = (exported.message.get("groupie_import") or {}).get("file")
                    files[keep_exported_file(incoming, relative, path.parent)] += 1
        except BadExport as exc:
            raise Refused(f"{exc}. {_after(tally)}") from None
        except (StoreError, CryptoError, DatabaseError) as exc:
            raise Stopped(
                f"the archive is unavailable ({type(exc).__name__}); "
                f"{counted(tally.counts['imported'], 'message')} imported so far. Run again: "
                "it continues."
            ) from None
    summary = f"{counted(len(chats), 'chat')}, {tally.counted(dry_run=dry_run)}"
    if files["stored"] or files["present"] or files["missing"]:
        summary += (
            f"; files: {files['stored']} sealed, {files['present']} already kept, "
            f"{files['missing']} not in the export"
        )
    if not dry_run:
        audit.record_action(
            "import_telegram_export", filters={"chat": sorted(wanted), "summary": summary}
        )
    return Outcome(f"import_telegram_export: {summary}", warnings=tally.skipped_lines())


def _after(tally: Tally) -> str:
    if not (tally.counts["imported"] or tally.counts["present"] or tally.counts["skipped"]):
        return "Nothing was imported."
    return "What came before it is archived: run again after fixing the file, and it continues."
