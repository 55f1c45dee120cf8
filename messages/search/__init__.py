"""Search over the sealed archive.

- ``index``: which chats are indexed (off until turned on), the tokens a new revision carries,
  building an index over what a chat already holds, and turning it off;
- ``query``: a search as the store matches it (tokens under each chat-key version), confirmed
  by decrypting the candidates, in the same keyset pages as every listing;
- ``scan``: the bounded decrypt-and-match of chats without an index (the admin's fallback).

The keyed tokens themselves are ``crypto.blindindex``; docs/search.md says what they leak.
"""
