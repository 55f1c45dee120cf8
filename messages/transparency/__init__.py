"""The archive log: an append-only RFC 6962 Merkle tree over every sealed record and every
deletion, with signed checkpoints (docs/transparency.md)."""
