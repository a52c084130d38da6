"""Evaluation: the metric definitions on hand-made cases, and the protocol on tiny data."""

import numpy as np
import torch

from pinnerformer.config import DAY_MS
from pinnerformer.baselines import baseline_cooccurrence, baseline_mean_item, baseline_popular, baseline_recent_popular
from pinnerformer.evaluate import EvalSet, evaluate_model, p90_coverage, top_k
from pinnerformer.train import train_model
from pinnerformer.config import TrainConfig


def test_top_k_orders_by_score():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    items = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [-1.0, 0.0]])
    np.testing.assert_array_equal(top_k(q, items, k=3), [[0, 2, 1], [1, 2, 0]])


def test_top_k_leaves_out_each_querys_excluded_rows():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    items = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [-1.0, 0.0]])
    excluded = [np.array([0]), np.array([1, 2])]
    np.testing.assert_array_equal(top_k(q, items, k=2, exclude=excluded), [[2, 1], [0, 3]])
    # fewer rows left than k: the empty slot is -1, which no positive and no coverage count can match
    emptied = top_k(q[:1], items, k=2, exclude=[np.array([0, 1, 2])])
    np.testing.assert_array_equal(emptied, [[3, -1]])
    assert p90_coverage(emptied, 4) == 1 / 4


def test_p90_coverage_counts_the_items_that_fill_90_percent_of_the_slots():
    # 10 slots: item 0 fills 7, item 1 fills 2, item 2 fills 1 -> 2 items reach 90 %; index of 20
    top = np.array([[0, 0, 0, 0, 0], [0, 0, 1, 1, 2]])
    assert p90_coverage(top, 20) == 2 / 20
    assert p90_coverage(np.arange(10).reshape(2, 5), 10) == 9 / 10


def test_recall_is_the_share_of_a_users_distinct_positives_in_the_top_10(tiny):
    ds, *_ = tiny
    ev = EvalSet(ds.store, ds.eval_users, ds.eval_cutoff_ms)
    assert len(ev) > 0
    # Act: a "model" whose user vector points exactly at one of the user's positives
    index_vecs = np.eye(len(ev.index))
    users = np.stack([index_vecs[ev.position_in_index[p[0]]] for p in ev.positives])
    m = ev.retrieval_metrics(users, index_vecs)
    # Assess: each user's top 10 holds that positive (ties among the rest are irrelevant here)
    expected = np.mean([np.isin(ev.position_in_index[p], top_k(u[None], index_vecs)[0]).sum() / len(p) for u, p in zip(users, ev.positives)])
    assert abs(m["recall_at_10"] - expected) < 1e-12
    assert m["recall_at_10"] >= np.mean([1 / len(p) for p in ev.positives])


def test_positives_come_from_the_14_day_window_after_the_cutoff(tiny):
    ds, *_ = tiny
    s = ds.store
    ev = EvalSet(s, ds.eval_users, ds.eval_cutoff_ms)
    for u, items, first in zip(ev.users, ev.positives, ev.first_ts):
        assert (first >= ds.eval_cutoff_ms).all() and (first < ds.eval_cutoff_ms + 14 * DAY_MS).all()
        lo, hi = s.offsets[u], s.offsets[u + 1]
        w = np.arange(lo, hi)
        w = w[(s.ts[w] >= ds.eval_cutoff_ms) & (s.ts[w] < ds.eval_cutoff_ms + 14 * DAY_MS) & s.positive[w] & (s.item_index[w] >= 0)]
        assert sorted(set(s.item_index[w].tolist())) == items.tolist()
    assert not set(ev.users.tolist()) & set(ds.train_users.tolist())


def test_model_evaluation_and_inference_frequency(tiny):
    ds, fcfg, mcfg, _ = tiny
    torch.manual_seed(0)
    model, _ = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, TrainConfig(steps=3, batch_size=8, random_negatives=16, pool=1), fcfg.max_length, progress=False)
    m = evaluate_model(model, ds, fcfg, frequency=True)
    f = m["frequency"]
    assert abs(f["once"] - m["recall_at_10"]) < 1e-12  # same embeddings, same positives
    assert f["once_embeddings"] == m["users"] <= f["daily_embeddings"] <= f["realtime_embeddings"]
    for key in ("recall_at_10", "p90_coverage_at_10", "interest_entropy_top10_bits"):
        assert 0.0 <= m[key] <= (1.0 if key != "interest_entropy_top10_bits" else np.log2(10))


def test_baselines(tiny):
    ds, *_ = tiny
    pop = baseline_popular(ds)
    assert pop["p90_coverage_at_10"] <= 10 / pop["index_size"]  # everyone gets the same 10 items
    mean = baseline_mean_item(ds)
    # the fixture's users stay on their two topics, so the mean item vector finds their items
    assert mean["recall_at_10"] > 0.0 and mean["interest_entropy_top10_bits"] < pop["interest_entropy_top10_bits"]


def test_a_sampled_index_always_holds_every_positive(tiny):
    ds, *_ = tiny
    full = EvalSet(ds.store, ds.eval_users, ds.eval_cutoff_ms)
    needed = np.unique(np.concatenate(full.positives))
    sampled = EvalSet(ds.store, ds.eval_users, ds.eval_cutoff_ms, max_index=len(needed) + 5)
    assert len(sampled.index) == len(needed) + 5 < len(full.index)
    assert set(needed.tolist()) <= set(sampled.index.tolist())
    assert (sampled.position_in_index[sampled.index] == np.arange(len(sampled.index))).all()
