"""Training pairs of dense all action: the paper's random positive, and the optional next-positive
and next-event targets (TrainConfig.next_positive_share / next_event_share)."""

import numpy as np
import pytest

from pinnerformer.config import TrainConfig
from pinnerformer.data import ExampleSampler


def sample(tiny, **kw):
    ds, fcfg, _, _ = tiny
    cfg = TrainConfig(dense_positions=8, **kw)
    sampler = ExampleSampler(ds.store, ds.train_users, ds.eval_cutoff_ms, cfg, fcfg.max_length, np.random.default_rng(5))
    examples = sampler._examples(40)
    return ds.store, sampler, examples, sampler._batch(examples)


def test_paper_loss_has_one_pair_per_position(tiny):
    _, _, examples, batch = sample(tiny)
    for (_, _, queries, _, weights) in examples:
        assert len(set(queries)) == len(queries)  # one pair per sampled position
        assert weights == [1.0] * len(queries)
    assert np.allclose(np.bincount(batch.query_row, weights=batch.weight), 1.0)


def test_next_event_pairs_target_the_event_right_after_the_position(tiny):
    store, sampler, examples, batch = sample(tiny, next_event_share=1.0)
    event_pairs = 0
    for (start, _), _, queries, positives, weights in examples:
        for q, p, w in zip(queries, positives, weights):
            if w == 1.0 and queries.count(q) == 2 and p == start + q + 1:
                event_pairs += 1
                assert store.item_index[p] >= 0 and store.ts[p] < sampler.label_end[store.event_user[p]]
        # every position keeps its random positive: positives-only targets among the pairs
        assert sum(bool(store.positive[p]) for p in positives) >= len(set(queries))
    assert event_pairs > 0
    assert np.allclose(np.bincount(batch.query_row, weights=batch.weight), 1.0)  # each user weighs 1


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_next_positive_pairs_carry_their_share(tiny, share):
    store, sampler, examples, batch = sample(tiny, next_positive_share=share)
    for (start, _), _, queries, positives, weights in examples:
        assert len(queries) % 2 == 0
        for k in range(0, len(queries), 2):
            q, nxt = queries[k + 1], positives[k + 1]
            assert queries[k] == q and weights[k] == pytest.approx(1 - share) and weights[k + 1] == pytest.approx(share)
            # the next positive: the first positive on a corpus item after the position
            usable = store.positive & (store.item_index >= 0)
            later = np.flatnonzero(usable[start + q + 1 : nxt + 1])
            assert usable[nxt] and later[0] == nxt - (start + q + 1)
    assert np.allclose(np.bincount(batch.query_row, weights=batch.weight), 1.0)
