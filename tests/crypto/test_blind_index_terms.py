"""crypto/blindindex.py: the search terms of text in any script, and their keyed tokens."""

from __future__ import annotations

import os

import pytest

from crypto import blindindex
from crypto.blindindex import BadSearch, Search, terms

KEY = blindindex.index_key(bytes(range(32)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Code freeze tonight, 17:00 UTC!", {"code", "freeze", "tonight", "17", "00", "utc"}),
        ("STRASSE Straße", {"strasse"}),
        ("ΣΟΦΙΑ σοφία", {"σοφια", "σοφία"}),
        ("Проверьте релиз до пятницы", {"проверьте", "релиз", "до", "пятницы"}),
        ("مرحبا بالعالم", {"مرحبا", "بالعالم"}),
        ("東京都に行く", {"東京", "京都", "都に", "に行", "行く"}),
        ("한국어 검색", {"한국", "국어", "검색"}),
        ("a b c I", set()),  # one letter says nothing
        ("ship it 🚀🎉👍🏽", {"ship", "it", "🚀", "🎉", "👍"}),
        ("\uff46\uff55\uff4c\uff4c", {"full"}),  # fullwidth letters, made plain by NFKC
        ("snake_case-word", {"snake", "case", "word"}),
    ],
)
def test_terms_of_every_script(text: str, expected: set[str]) -> None:
    assert terms(text) == expected


def test_a_cjk_query_finds_any_two_character_part() -> None:
    indexed = terms("東京都庁に行きました")
    assert terms("都庁") <= indexed
    assert terms("東京") <= indexed
    assert not terms("大阪") <= indexed


def test_tokens_are_keyed_stable_and_short() -> None:
    assert blindindex.token(KEY, "freeze") == blindindex.token(KEY, "freeze")
    assert len(blindindex.token(KEY, "freeze")) == blindindex.TOKEN_BYTES == 8
    other_chat = blindindex.index_key(os.urandom(32))
    assert blindindex.token(other_chat, "freeze") != blindindex.token(KEY, "freeze")
    assert blindindex.token(KEY, "freeze") != blindindex.token(KEY, "freezer")
    assert blindindex.index_key(bytes(range(32))) != bytes(range(32))  # never the chat key


def test_no_two_of_a_hundred_thousand_terms_share_a_token() -> None:
    words = {f"term{n}" for n in range(100_000)}
    assert len(blindindex.tokens(KEY, words)) == len(words)


def test_a_search_needs_every_term_and_each_quoted_phrase_as_it_is() -> None:
    search = Search.parse('freeze "17:00 UTC"')
    assert search.terms == {"freeze", "17", "00", "utc"}
    assert search.phrases == ("17:00 utc",)
    assert search.matches("Code  FREEZE at 17:00   UTC tonight")
    assert not search.matches("UTC freeze at 17:00? no, 00:17")  # terms, not the phrase
    assert not search.matches("17:00 UTC")  # the phrase, not every term


@pytest.mark.parametrize("text", ["", "a", '""', "?!"])
def test_a_search_with_nothing_to_look_for_says_so(text: str) -> None:
    with pytest.raises(BadSearch, match="two letters or more"):
        Search.parse(text)
