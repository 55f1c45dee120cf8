"""RFC 6962 Merkle trees (the tree of Certificate Transparency, RFC 9162 §2.1): hashes,
inclusion and consistency proofs, and how to check them. Plain Python, no Django: an auditor's
copy of ``crypto/`` runs it (``crypto.verify_export``).

- a leaf's hash is SHA-256(0x00 || leaf), an interior node's SHA-256(0x01 || left || right);
- the tree over n leaves splits at k, the largest power of two below n: MTH(D[0:k]) on the
  left, MTH(D[k:n]) on the right; the empty tree's hash is SHA-256 of nothing.

A log keeps the hash of every *complete* subtree (2^level leaves starting at a multiple of
2^level): ``node(level, index)``. Any other range's hash, every proof and the root are then
O(log n) node reads, and appending m leaves writes O(m) new nodes (``new_nodes``), whatever
the size of the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

NodeReader = Callable[[int, int], bytes]  # (level, index) -> hash of a complete subtree
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not hold, or arguments no proof can have."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes held in memory (verification recomputes the whole tree)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    # Bottom up, carrying an odd last node upwards unchanged: the same tree as RFC 6962's
    # top-down split, in O(n) without recursion.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def subtree_hash(node: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from the complete subtrees' hashes, for the ranges RFC 6962's
    recursion visits (``start`` a multiple of the largest power of two up to end - start)."""
    n = end - start
    if n <= 0:
        raise ProofError("an empty range has no subtree hash")
    if n & (n - 1) == 0 and start % n == 0:
        return node(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_hash(node, start, start + k), subtree_hash(node, start + k, end))


def root(node: NodeReader, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(node, 0, size)


def inclusion_proof(node: NodeReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree_hash(node, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(node, start, start + k))
            start += k
    proof.reverse()  # the sibling nearest the leaf first
    return proof


def consistency_proof(node: NodeReader, old_size: int, size: int) -> list[bytes]:
    """PROOF(old_size, D[0:size]) of RFC 6962 §2.1.2."""
    if not 0 <= old_size <= size:
        raise ProofError(f"a tree of {size} cannot extend one of {old_size}")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_hash(node, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(node, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree_hash(node, start, end))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf_digest: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises ProofError unless the proof holds."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf_digest
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root_hash:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError unless the tree of ``size`` extends the one of
    ``old_size`` (same leaves first, appended leaves after)."""
    if not 0 <= old_size <= size:
        raise ProofError(f"a tree of {size} cannot extend one of {old_size}")
    if old_size == size:
        if proof or old_root != new_root:
            raise ProofError("two trees of one size must have the same root and no proof")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree is empty")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError("the consistency proof does not hold")


def new_nodes(
    size: int, new_leaf_hashes: Iterable[bytes], node: NodeReader
) -> dict[tuple[int, int], bytes]:
    """The complete subtrees (level >= 1) that appending these leaves to a tree of ``size``
    completes, by (level, index): what a sequencer stores. ``node`` reads the existing ones
    (level 0: the existing leaves' hashes); O(new leaves) reads and hashes in all."""
    made: dict[tuple[int, int], bytes] = {}

    def get(level: int, index: int) -> bytes:
        found = made.get((level, index))
        return found if found is not None else node(level, index)

    for offset, digest in enumerate(new_leaf_hashes):
        level, index, current = 0, size + offset, digest
        made[(0, index)] = digest
        while index & 1:
            current = node_hash(get(level, index - 1), current)
            level, index = level + 1, index >> 1
            made[(level, index)] = current
    return {key: value for key, value in made.items() if key[0] > 0}
