"""Featurization per docs/model-interface.md: ordering, de-duplication, codes, time encodings."""

import math

import numpy as np
import pyarrow as pa

from pinnerformer.config import REL_PERIODS_SEC, FeatureConfig, PositiveConfig
from pinnerformer.features import EventStore, ItemTable, featurize, time_features

FC = FeatureConfig(max_length=4)


def table(rows):
    cols = ("user_id", "item_id", "action", "surface", "ts", "duration_ms")
    types = (pa.string(), pa.string(), pa.string(), pa.string(), pa.int64(), pa.int64())
    return pa.table({c: pa.array([r[i] for r in rows], t) for i, (c, t) in enumerate(zip(cols, types))})


ITEMS = ItemTable(ids=["a", "b"], vectors=np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))


def test_relative_periods_span_one_second_to_28_days():
    assert len(REL_PERIODS_SEC) == 32
    assert REL_PERIODS_SEC[0] == 1.0
    assert math.isclose(REL_PERIODS_SEC[-1], 28 * 86400, rel_tol=1e-12)
    assert len(FC.abs_periods_sec) == 12 and FC.abs_periods_sec[0] == 900 and FC.abs_periods_sec[-1] == 365 * 86400


def test_time_feature_values_match_the_contract_formulas():
    # Prepare: an event 90 minutes after a day boundary, 30 s after its predecessor, 2 h before the cutoff
    day = 1_790_000_000_000 // 86_400_000 * 86_400_000
    ts = np.array([day + 90 * 60_000], dtype=np.int64)
    frac, scal = time_features(ts, ts - 30_000, ts + 7_200_000, np.array([12_000.0]), FC)
    # Assess: 90 min is 6 quarter hours, 3 half hours, 2 x 0.75 h (all frac 0) and 1.5 h (0.5)
    np.testing.assert_allclose(frac[0, :4], [0.0, 0.0, 0.0, 0.5], atol=1e-6)
    assert math.isclose(frac[0, 8], 90 / 1440, rel_tol=1e-6)  # one day
    age = 7200.0 / np.array(REL_PERIODS_SEC)
    np.testing.assert_allclose(frac[0, 12:44], age - np.floor(age), atol=1e-6)
    gap = 30.0 / np.array(REL_PERIODS_SEC)
    np.testing.assert_allclose(frac[0, 44:76], gap - np.floor(gap), atol=1e-6)
    days_since_ref = (ts[0] - FC.time_reference_ms) / 86_400_000
    np.testing.assert_allclose(scal[0], [math.log1p(12), math.log1p(days_since_ref), math.log1p(7200), math.log1p(30)], rtol=1e-6)


def test_sequence_is_filtered_deduplicated_ordered_and_truncated():
    # Prepare: user u with a hide (dropped), an exact duplicate, ties on ts, and 6 kept events
    rows = [
        ("u", "b", "save", "home", 5000, None),
        ("u", "a", "save", "home", 5000, None),
        ("u", "a", "save", "home", 5000, None),  # duplicate
        ("u", "zz", "view", None, 1000, None),
        ("u", "a", "hide", "home", 2000, None),  # not in the action vocabulary
        ("u", "a", "click", "search", 3000, 15_000),
        ("u", "b", "view", "weird", 4000, None),
        ("u", "b", "closeup", "related", 6000, 500),
        ("v", "a", "view", "home", 1000, None),
    ]
    store = EventStore(table(rows), ITEMS, FC, PositiveConfig())
    u = store.user_position["u"]
    # Act: the sequence before 7000 keeps the most recent 4 of 6
    end = store.end_before(u, 7000)
    span = store.window(u, end, FC.max_length)
    x = featurize(store, [span], np.array([7000]))
    # Assess: order (ts, item): click a@3000, view b@4000, save a@5000, save b@5000 ... closeup b@6000
    assert end - store.offsets[u] == 6
    np.testing.assert_array_equal(store.ts[span[0]:span[1]], [4000, 5000, 5000, 6000])
    np.testing.assert_array_equal(x["action"][0], [1, 4, 4, 2])  # view, save, save, closeup
    np.testing.assert_array_equal(x["surface"][0], [1, 2, 2, 4])  # unknown surface -> 1, home 2, related 4
    np.testing.assert_array_equal(x["item_id"][0], [2, 2, 2, 2])
    np.testing.assert_array_equal(x["item_vec"][0, 0], [3.0, 4.0])  # b
    assert x["lengths"][0] == 4
    # positives: saves and the long click
    first = int(store.offsets[u])
    assert store.positive[first : first + 6].tolist() == [False, True, False, True, True, False]


def test_unknown_items_get_the_oov_id_and_zero_vector_and_padding_is_zero():
    rows = [("u", "zz", "view", None, 1000, None), ("v", "a", "view", "home", 1000, None), ("v", "b", "view", "home", 2000, None)]
    store = EventStore(table(rows), ITEMS, FC, PositiveConfig())
    spans = [store.window(store.user_position[k], store.end_before(store.user_position[k], 10_000), 4) for k in ("u", "v")]
    x = featurize(store, spans, np.array([10_000, 10_000]))
    assert x["item_id"][0].tolist() == [1, 0]
    assert x["item_vec"][0].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert x["lengths"].tolist() == [1, 2]
    for name in ("time_frac", "scalars"):
        assert not x[name][0, 1].any()
    assert x["scalars"][1, 0, 3] == 0.0  # no previous event: gap 0
    assert math.isclose(float(x["scalars"][1, 1, 3]), math.log1p(1.0), rel_tol=1e-6)


def test_id_vocabulary_codes():
    rows = [("u", "b", "view", "home", 1, None), ("u", "zz", "view", "home", 2, None)]
    store = EventStore(table(rows), ITEMS, FC, PositiveConfig(), id_vocab=["x", "b"])
    assert store.item_code.tolist() == [3, 1]


def test_fnv1a32_known_values():
    from pinnerformer.features import fnv1a32

    # the published FNV-1a test vectors; TypeScript's src/pipeline/hash.ts gives the same
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968
    assert fnv1a32("é") == fnv1a32("\u00e9")  # UTF-8 bytes, not code points


def test_ids_outside_the_vocabulary_share_hashed_buckets():
    from pinnerformer.features import ItemVocabulary, fnv1a32

    vocab = ItemVocabulary(ids=["x", "b"], hash_buckets=5)
    codes = vocab.codes(["b", "x", "new-1", "new-2", "new-1"])
    assert codes[:2].tolist() == [3, 2]
    assert codes[2] == 2 + 2 + fnv1a32("new-1") % 5 and codes[3] == 2 + 2 + fnv1a32("new-2") % 5
    assert codes[4] == codes[2]


def test_the_vocabulary_keeps_items_with_the_minimum_count_most_frequent_first():
    from pinnerformer.features import build_vocabulary

    vocab = build_vocabulary(pa.array(["c", "a", "b", "a", "c", "c", "d"]), min_count=2, hash_buckets=3)
    assert vocab.ids == ["c", "a"] and vocab.min_count == 2 and vocab.hash_buckets == 3


def test_an_id_only_store_has_a_corpus_of_vocabulary_items_with_zero_width_vectors():
    from pinnerformer.features import ItemVocabulary

    rows = [("u", "b", "save", None, 1, None), ("u", "q", "view", None, 2, None)]
    store = EventStore(table(rows), None, FC, PositiveConfig(), id_vocab=ItemVocabulary(["q", "b"], 4))
    assert store.corpus_ids == ["q", "b"] and store.vectors.shape == (2, 0)
    assert store.item_index.tolist() == [1, 0] and store.corpus_codes.tolist() == [2, 3]
    x = featurize(store, [(0, 2)], np.array([10], dtype=np.int64))
    assert x["item_vec"].shape == (1, 2, 0) and x["item_id"].tolist() == [[3, 2]]
