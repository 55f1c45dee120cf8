"""The search index's primitive: a text's search terms, and the keyed tokens that stand for
them. Plain Python, no Django. (Issue 19: the stores, queries and commands build on this.)

**Terms.** Text is NFKC-normalised and case-folded (``str.casefold``: "Straße" and "STRASSE"
agree, as do the three forms of sigma), then read character by character:

- letters and digits of any script (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, …)
  make words, split at anything else; a word needs two characters (one letter says nothing
  and would match half the archive). Diacritics are kept: "café" is not "cafe";
- Han, Hiragana, Katakana and Hangul are written without spaces between words, so a run of
  them is indexed as its overlapping bigrams (東京都 → 東京, 京都), as CJK full-text engines
  do (Lucene's CJK bigram filter); a query is split the same way, so every substring of two
  or more characters is found. A run of one character is its own term;
- each emoji is its own term (skin-tone modifiers, variation selectors and joiners dropped).

**Tokens.** A term's token is HMAC-SHA256 under the chat's *index key*, truncated to 8 bytes.
The index key is HKDF-SHA256 over the chat key (info ``groupie/v1/search-index``), so a
chat's tokens mean nothing without its key, and shredding the key leaves them meaningless.
Eight bytes: the chance that a query term's token equals another term's in a chat of ``T``
distinct terms is about T / 2^64 (5e-13 for ten million terms); candidates are confirmed by
decrypting them anyway, so a collision costs a decryption, never a wrong result. Shorter
tokens would hide nothing more (equal terms still share a token) and would cost decryptions.
"""

from __future__ import annotations

import functools
import hmac
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_BYTES = 8
HKDF_INFO = b"groupie/v1/search-index"
_TERM_PREFIX = b"groupie/v1/term|"
MIN_WORD = 2

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B-G
)
_EMOJI_RANGES = (
    (0x2600, 0x27BF),  # miscellaneous symbols, dingbats
    (0x1F000, 0x1FAFF),  # mahjong to symbols and pictographs extended-A
)
_EMOJI_IGNORED = frozenset({0x200D, 0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)})
_PHRASE = re.compile(r'"([^"]*)"')


def _in(ranges: tuple[tuple[int, int], ...], char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in ranges)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def terms(text: str) -> set[str]:
    """The search terms of ``text`` (see the module's docstring)."""
    return set(_terms(normalise(text)))


_WORD, _CJK, _MARK, _EMOJI, _OTHER = range(5)


@functools.lru_cache(maxsize=65_536)
def _kind(char: str) -> int:
    """What a character is to the tokenizer (cached: text repeats its characters)."""
    if _in(_CJK_RANGES, char):
        return _CJK
    if char.isalnum():
        return _WORD
    if unicodedata.combining(char):
        return _MARK
    if _in(_EMOJI_RANGES, char) and ord(char) not in _EMOJI_IGNORED:
        return _EMOJI
    return _OTHER


def _terms(text: str) -> Iterator[str]:
    word: list[str] = []
    cjk: list[str] = []
    for char in text:
        kind = _kind(char)
        if kind == _CJK:
            yield from _word(word)
            cjk.append(char)
            continue
        if cjk:
            yield from _bigrams(cjk)
        if kind == _WORD or (kind == _MARK and word):
            word.append(char)  # a mark that NFKC did not compose stays with its letter
        else:
            yield from _word(word)
            if kind == _EMOJI:
                yield char
    yield from _word(word)
    yield from _bigrams(cjk)


def _word(word: list[str]) -> Iterator[str]:
    if len(word) >= MIN_WORD:
        yield "".join(word)
    if word:
        word.clear()


def _bigrams(run: list[str]) -> Iterator[str]:
    if len(run) == 1:
        yield run[0]
    for first, second in itertools.pairwise(run):
        yield first + second
    run.clear()


def index_key(chat_key: bytes) -> bytes:
    if len(chat_key) != 32:
        raise ValueError("a chat key is 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(chat_key)


def token(key: bytes, term: str) -> bytes:
    """The keyed token of one term under an index key."""
    return hmac.digest(key, _TERM_PREFIX + term.encode(), "sha256")[:TOKEN_BYTES]


def tokens(key: bytes, found: Iterable[str]) -> set[bytes]:
    return {token(key, term) for term in found}


class BadSearch(ValueError):
    """A search with nothing the index can look for; the text says why."""


@dataclass(frozen=True)
class Search:
    """A parsed search: every term must be in a message; each phrase (a quoted part) must
    also appear as it is, which only decrypting the candidates can tell."""

    terms: frozenset[str]
    phrases: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Search:
        phrases = tuple(_squeeze(normalise(p)) for p in _PHRASE.findall(text) if p.strip())
        found = terms(text.replace('"', " "))
        if not found:
            raise BadSearch(
                "nothing to search for: use words of two letters or more, CJK characters or emoji"
            )
        return cls(frozenset(found), phrases)

    def matches(self, text: str) -> bool:
        """Whether ``text`` (a decrypted message's) holds every term and phrase: the
        confirmation that makes a token collision harmless."""
        if not self.terms <= terms(text):
            return False
        squeezed = _squeeze(normalise(text))
        return all(phrase in squeezed for phrase in self.phrases)


def _squeeze(text: str) -> str:
    return " ".join(text.split())
