"""crypto.tlog against the RFC 6962 test vectors of Certificate Transparency's reference
implementation (the same ones the Go tlog and transparency-dev merkle packages pin)."""

from __future__ import annotations

import pytest

from crypto import tlog

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
HASHES = [tlog.leaf_hash(leaf) for leaf in LEAVES]


def _nodes(hashes: list[bytes]) -> tlog.NodeReader:
    """A node reader over a tree grown the way a sequencer grows it."""
    stored = {(0, i): h for i, h in enumerate(hashes)}
    stored.update(tlog.new_nodes(0, hashes, lambda level, index: stored[level, index]))
    return lambda level, index: stored[level, index]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_reference_vectors(size: int) -> None:
    assert tlog.root_of(HASHES[:size]).hex() == ROOTS[size]
    assert tlog.root(_nodes(HASHES[:size]), size).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_inclusion_proofs_match_and_verify(index: int, size: int) -> None:
    proof = tlog.inclusion_proof(_nodes(HASHES[:size]), index, size)
    assert [p.hex() for p in proof] == INCLUSION[index, size]
    tlog.verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new"), list(CONSISTENCY))
def test_consistency_proofs_match_and_verify(old: int, new: int) -> None:
    proof = tlog.consistency_proof(_nodes(HASHES[:new]), old, new)
    assert [p.hex() for p in proof] == CONSISTENCY[old, new]
    tlog.verify_consistency(old, new, proof, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]))


def test_every_proof_of_every_small_tree_verifies_and_a_changed_one_does_not() -> None:
    hashes = [tlog.leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    nodes = _nodes(hashes)
    roots = [tlog.root_of(hashes[:n]) for n in range(41)]
    for size in range(1, 41):
        for index in range(size):
            proof = tlog.inclusion_proof(nodes, index, size)
            tlog.verify_inclusion(hashes[index], index, size, proof, roots[size])
            with pytest.raises(tlog.ProofError):
                tlog.verify_inclusion(hashes[index], index, size, proof, roots[size - 1])
            if proof:
                bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
                with pytest.raises(tlog.ProofError):
                    tlog.verify_inclusion(hashes[index], index, size, bad, roots[size])
        for old in range(1, size + 1):
            proof = tlog.consistency_proof(nodes, old, size)
            tlog.verify_consistency(old, size, proof, roots[old], roots[size])
            if old < size:
                with pytest.raises(tlog.ProofError):
                    tlog.verify_consistency(old, size, proof, roots[old - 1], roots[size])


def test_a_sequencer_growing_the_tree_in_steps_stores_the_same_nodes() -> None:
    hashes = [tlog.leaf_hash(i.to_bytes(2, "big")) for i in range(37)]
    stored = {(0, i): h for i, h in enumerate(hashes)}
    size = 0
    for step in (1, 2, 5, 8, 3, 18):
        batch = hashes[size : size + step]
        stored.update(tlog.new_nodes(size, batch, lambda lv, ix: stored[lv, ix]))
        size += step
        assert tlog.root(lambda lv, ix: stored[lv, ix], size) == tlog.root_of(hashes[:size])


def test_a_leaf_outside_the_tree_has_no_proof() -> None:
    with pytest.raises(tlog.ProofError):
        tlog.inclusion_proof(_nodes(HASHES), 8, 8)
    with pytest.raises(tlog.ProofError):
        tlog.verify_inclusion(HASHES[0], 8, 8, [], bytes.fromhex(ROOTS[8]))
