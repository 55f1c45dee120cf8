"""What a file is, from its first bytes: never from what the sender or Telegram said.

Only the formats Telegram media come in are recognised; anything else is
application/octet-stream. SVG and HTML are deliberately never recognised: a browser would run
their scripts on our origin, so they are served, like everything unknown, as an attachment.
"""

from __future__ import annotations

SNIFF_BYTES = 64
OCTET_STREAM = "application/octet-stream"

# Shown inline by the admin (images, players); everything else is a download.
INLINE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "video/mp4",
        "video/webm",
    }
)


# Downloaded under their own type (always as an attachment, never inline): a browser saves
# them as what they are, where application/octet-stream would lose it; with nosniff and the
# sandbox CSP none of them runs as our page even when opened.
DOWNLOADED = frozenset({"application/pdf", "application/zip", "application/gzip"})


def sniff(head: bytes) -> str:
    """The content type of a file starting with ``head`` (its first SNIFF_BYTES or more)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"OggS"):
        return "audio/ogg"  # voice notes: Opus in Ogg
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:11] == b"M4A" else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"  # Matroska/WebM (video stickers, some videos)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"  # also animated stickers (.tgs)
    return OCTET_STREAM


def is_inline(content_type: str) -> bool:
    return content_type in INLINE


def served_type(content_type: str) -> str:
    """The Content-Type a file is served with: the sniffed type when it is one shown inline
    or one downloaded under its own type, else application/octet-stream."""
    return content_type if content_type in INLINE | DOWNLOADED else OCTET_STREAM
