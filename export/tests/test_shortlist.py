"""The lexical shortlist learner: co-occurrence counts, frequent pieces, candidates per source."""

import numpy as np
import pytest

from padir_export.config import EOS_ID
from padir_export.data import TokenizedCorpus
from padir_export.shortlist import Shortlist, cooccurrence, learn, padded


def corpus(pairs):
    def flat(seqs):
        off = np.zeros(len(seqs) + 1, dtype=np.int64)
        off[1:] = np.cumsum([len(s) for s in seqs])
        return np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs]), off

    return TokenizedCorpus(*flat([s for s, _ in pairs]), *flat([t for _, t in pairs]))


# source 10 translates as 20, source 11 as 21; target 5 is in every pair (a function word)
PAIRS = [
    ([10, 12, EOS_ID], [5, 20, 20]),
    ([10, EOS_ID], [5, 20]),
    ([11, 12, EOS_ID], [5, 21, 22]),
    ([11, EOS_ID], [21, 5]),
    ([12, EOS_ID], [5, 23]),
]


def test_counts_are_pairs_holding_both_pieces():
    counts, src_df, tgt_df = cooccurrence(corpus(PAIRS), 30, pairs=10, chunk=2)
    assert counts[10, 20] == 2  # two pairs, although pair 1 holds 20 twice
    assert counts[12, 5] == 3 and counts[11, 20] == 0
    assert src_df[12] == 3 and tgt_df[5] == 5 and tgt_df[20] == 2
    assert counts.sum() == sum(len(set(s)) * len(set(t)) for s, t in PAIRS)
    # `pairs` limits the count
    assert cooccurrence(corpus(PAIRS), 30, pairs=1)[0].sum() == 3 * 2


def test_learned_list_keeps_frequent_pieces_and_each_sources_translations():
    sl = learn(*cooccurrence(corpus(PAIRS), 30, pairs=10), frequent=1, per_source=1)
    assert sl.frequent.tolist() == [5]
    assert sl.candidates[10].tolist() == [20] and sl.candidates[11].tolist() == [21]
    assert sl.candidates[29].tolist() == [-1]  # never seen: no candidate
    got = sl.for_source(np.array([10, 13, EOS_ID])).tolist()
    # frequent, 10's translation, the source pieces themselves (copies), </s>
    assert got == sorted({5, 20, 10, 13, EOS_ID})


def test_ties_go_to_the_more_frequent_piece_then_the_lower_id():
    # Source 10 is seen with 24, 22, 23 and 25 once each (and 5, the frequent piece): all tie;
    # 25 is in more pairs than the others.
    pairs = [([10, EOS_ID], [5, 24, 22, 23, 25]), ([11, EOS_ID], [5, 21, 25])]
    counts = cooccurrence(corpus(pairs), 30, pairs=10)
    for rows in (1, 7, 30):  # the row blocks do not change the result
        sl = learn(*counts, frequent=1, per_source=3, rows=rows)
        assert sl.candidates[10].tolist() == [25, 22, 23]
        assert sl.candidates[11].tolist() == [25, 21, -1]  # 21 and 25 tie too


def test_file_round_trip_and_padding(tmp_path):
    sl = learn(*cooccurrence(corpus(PAIRS), 30, pairs=10), frequent=2, per_source=3)
    sl.save(tmp_path / "shortlist.bin")
    back = Shortlist.load(tmp_path / "shortlist.bin")
    np.testing.assert_array_equal(back.frequent, sl.frequent)
    np.testing.assert_array_equal(back.candidates, sl.candidates)
    assert (back.candidates == -1).any()  # "none" survives the u16 encoding
    rows = padded([np.array([1, 4]), np.array([2, 3, 9])], 30)
    assert rows.tolist() == [[1, 4, 30], [2, 3, 9]]
    (tmp_path / "bad.bin").write_bytes(b"PDSL" + bytes(16) + b"\x01")
    with pytest.raises(ValueError):
        Shortlist.load(tmp_path / "bad.bin")
