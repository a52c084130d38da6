"""Events alone (no item table): the split protocols, the positive-rule error, a model that
learns, baselines and the exported id vocabulary."""

import argparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch

from pinnerformer.baselines import (
    baseline_cooccurrence,
    baseline_popular,
    baseline_recent_popular,
    baseline_repeat,
    baselines_for,
)
from pinnerformer.config import DAY_MS, FeatureConfig, ModelConfig, PositiveConfig, TrainConfig
from pinnerformer.dataset import Dataset, NoPositivesError, Split
from pinnerformer.evaluate import eval_set, evaluate_model
from pinnerformer.train import (
    REPEAT_SKIP_START,
    choose_split,
    history_share,
    skip_start,
    train_model,
    validation_target,
)

from conftest import START_MS, make_events

FC = FeatureConfig(max_length=32)


def id_only(split: Split, users: int = 150, items: int = 100, **kw) -> Dataset:
    table, _, _ = make_events(users=users, items=items, days=40, topics=5, seed=4)
    return Dataset.from_tables(table, None, FC, id_vocab=True, split=split, fingerprint="t", **kw)


@pytest.fixture(scope="module")
def llo():
    return id_only(Split(protocol="leave_last_out", eval_percent=100, validation=True), min_item_count=2,
                   hash_buckets=8)


def model_cfg(ds: Dataset) -> ModelConfig:
    return ModelConfig(layers=1, hidden=32, heads=2, embedding=32, max_length=32, item_vector=0, id_dim=32,
                       id_vocab_size=len(ds.store.vocab.ids), hash_buckets=ds.store.vocab.hash_buckets)


def test_data_without_positives_names_the_rule_and_the_flag():
    table, _, _ = make_events(users=10, items=20, days=20)
    views = table.filter(pc.equal(table["action"], "view"))
    with pytest.raises(NoPositivesError) as e:
        Dataset.from_tables(views, None, FC, id_vocab=True)
    assert "action in {save}" in str(e.value) and "--positive-actions" in str(e.value) and "view" in str(e.value)
    # the same events train once views count
    ds = Dataset.from_tables(views, None, FC, PositiveConfig(actions=("view",), min_duration_ms={}), id_vocab=True)
    assert ds.store.positive.all()


def test_leave_last_out_holds_out_each_users_last_positive_and_the_one_before(llo):
    s = llo.store
    assert llo.items.dim == 0 and s.vectors.shape[1] == 0 and s.num_corpus == len(llo.store.vocab.ids)
    for k, u in enumerate(llo.test.users[:40]):
        lo, hi = s.offsets[u], s.offsets[u + 1]
        pos_ts = s.ts[lo:hi][s.positive[lo:hi]]
        assert llo.test.cutoffs_ms[k] == pos_ts.max()
        earlier = pos_ts[pos_ts < pos_ts.max()]
        # training labels end at the validation target (the last positive before the test target)
        assert llo.label_end_ms[u] == (earlier.max() if len(earlier) else pos_ts.max())
    # the vocabulary counts only what training sees: an item seen only in held-out events is not in it
    visible = s.ts < llo.label_end_ms[s.event_user]
    counts = pc.value_counts(s.item_ids.filter(pa.array(visible)))
    seen = {v for v, c in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()) if c >= 2}
    assert set(llo.store.vocab.ids) == seen


def test_time_protocol_honours_the_end_date_window_and_user_share():
    ds = id_only(Split(protocol="time", eval_end="2026-10-20", eval_days=10, eval_percent=30))
    end = int(np.datetime64("2026-10-20", "ms").astype(np.int64))
    assert ds.eval_cutoff_ms == end - 10 * DAY_MS
    assert (ds.test.ends_ms == end).all() and set(ds.test.users) <= set(ds.eval_users)
    assert 0.15 < len(ds.eval_users) / ds.store.num_users < 0.45
    assert not set(ds.eval_users) & set(ds.train_users)


def test_automatic_protocol_counts_the_users_the_time_window_can_score(capsys):
    """Held-out users without a positive in the window (or without history) cannot be scored: the
    choice between protocols counts the users that can."""
    def args(protocol=None):
        return argparse.Namespace(protocol=protocol, eval_days=None, eval_end=None, eval_percent=None,
                                  max_eval_users=None, eval_every=0)

    table, _, _ = make_events(users=150, items=100, days=40, topics=5, seed=4)
    # a third of the users go quiet for the last two weeks: held out, but nothing to score
    quiet = pc.and_(pc.greater_equal(table["ts"], START_MS + 26 * DAY_MS),
                    pc.match_substring_regex(table["user_id"], "[036]$"))
    table = table.filter(pc.invert(quiet))

    def load(split: Split) -> Dataset:
        return Dataset.from_tables(table, None, FC, id_vocab=True, split=split, fingerprint="t")

    split, ds = choose_split(args(), load, min_users=1)
    held_out, scorable = len(ds.test.users), len(eval_set(ds))
    assert split.protocol == "time" and 0 < scorable < held_out
    split, ds = choose_split(args(), load, min_users=scorable)
    assert split.protocol == "time"
    # as many held out as required, but not as many scorable: leave-last-out, with the reason
    split, ds = choose_split(args(), load, min_users=held_out)
    assert split.protocol == "leave_last_out" and len(eval_set(ds)) > held_out
    assert f"can score only {scorable} of {held_out} held-out users" in capsys.readouterr().err
    # an explicit --protocol is kept
    split, _ = choose_split(args("time"), load, min_users=10_000)
    assert split.protocol == "time"


def test_training_learns_from_ids_alone(llo):
    """Issue 21: loss falls, and Recall@10 beats an untrained model of the same shape."""
    mcfg = model_cfg(llo)
    tcfg = TrainConfig(steps=50, batch_size=16, random_negatives=64, warmup_steps=5, pool=4, lr=5e-3, seed=0)
    torch.manual_seed(0)
    untrained, _ = train_model(llo.store, llo.train_users, llo.label_end_ms, mcfg, TrainConfig(steps=0, seed=0), 32,
                               progress=False)
    before = evaluate_model(untrained, llo, FC)
    model, stats = train_model(llo.store, llo.train_users, llo.label_end_ms, mcfg, tcfg, 32, progress=False)
    after = evaluate_model(model, llo, FC)
    assert stats["final_loss"] < stats["initial_loss"] - 0.2  # mean of the last 50 vs the first 10 steps
    assert after["recall_at_10"] > before["recall_at_10"] + 2 * max(after["recall_at_10_stderr"], 0.01)
    assert after["users"] == before["users"] > 100
    assert 0 <= after["ndcg_at_10"] <= after["hr_at_10"] <= 1


def test_early_stopping_keeps_the_best_validated_weights(llo):
    mcfg = model_cfg(llo)
    scores = iter([0.1, 0.3, 0.2, 0.2, 0.9])
    tcfg = TrainConfig(steps=50, batch_size=4, random_negatives=8, pool=1, eval_every=2, patience=2)
    _, stats = train_model(llo.store, llo.train_users, llo.label_end_ms, mcfg, tcfg, 32, progress=False,
                           validate=lambda m: next(scores))
    assert stats["early_stopped"] and stats["steps"] == 8 and stats["best_step"] == 4
    assert stats["validation_recall_at_10"] == 0.3


def test_baselines_score_the_same_users(llo):
    results = baselines_for(llo)
    assert set(results) == {"baseline_popular", "baseline_recent_popular", "baseline_cooccurrence", "baseline_repeat"}
    users = {r["users"] for r in results.values()}
    assert users == {len(llo.test.users)} or len(users) == 1
    assert results["baseline_popular"]["p90_coverage_at_10"] <= 10 / results["baseline_popular"]["index_size"]
    # the fixture's users stay on two topics: items that follow their last items find more than popularity
    assert results["baseline_cooccurrence"]["recall_at_10"] > results["baseline_popular"]["recall_at_10"]
    assert baseline_recent_popular(llo)["users"] == baseline_popular(llo)["users"]


def test_cooccurrence_recommends_what_followed_the_users_last_item():
    # teachers show a -> b (their last positive, c, is held out); students end on a, b is held out
    rows = []
    for u in range(4):
        rows += [(f"t{u}", "x", "view", 0), (f"t{u}", "a", "save", 1), (f"t{u}", "b", "save", 2), (f"t{u}", "c", "save", 3)]
    for u in range(2):
        rows += [(f"s{u}", "x", "view", 0), (f"s{u}", "a", "save", 1), (f"s{u}", "b", "save", 2)]
    t = pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "action": [r[2] for r in rows],
                  "surface": pa.array([None] * len(rows), pa.string()),
                  "ts": [1_790_000_000_000 + r[3] * DAY_MS for r in rows],
                  "duration_ms": pa.array([None] * len(rows), pa.int64())})
    ds = Dataset.from_tables(t, None, FC, id_vocab=True, split=Split(protocol="leave_last_out", eval_percent=100))
    ev_students = [i for i, u in enumerate(ds.test.users) if ds.store.user_ids[u].startswith("s")]
    assert len(ev_students) == 2
    m = baseline_cooccurrence(ds)
    assert m["users"] == 2 and m["hr_at_10"] == 1.0  # only the students: c never shows in training
    from pinnerformer.baselines import cooccurrence

    indptr, cols, values = cooccurrence(ds)
    a, b = ds.store.corpus_ids.index("a"), ds.store.corpus_ids.index("b")
    row = dict(zip(cols[indptr[a] : indptr[a + 1]].tolist(), values[indptr[a] : indptr[a + 1]].tolist()))
    assert max(row, key=row.get) == b and abs(sum(row.values()) - 1.0) < 1e-9  # P(. follows a)


def test_repeat_baseline_recommends_the_users_own_recent_items_newest_first():
    # each user views items, then saves the one viewed two events back: a repeat the baseline finds
    rows = []
    for u in range(3):
        seq = [f"v{u}{j}" for j in range(12)]
        rows += [(f"u{u}", item, "view", j) for j, item in enumerate(seq)]
        rows += [(f"u{u}", "p", "save", 12), (f"u{u}", seq[-2], "save", 13)]
    t = pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "action": [r[2] for r in rows],
                  "surface": pa.array([None] * len(rows), pa.string()),
                  "ts": [1_790_000_000_000 + r[3] * 60_000 for r in rows],
                  "duration_ms": pa.array([None] * len(rows), pa.int64())})
    ds = Dataset.from_tables(t, None, FC, id_vocab=True, split=Split(protocol="leave_last_out", eval_percent=100))
    m = baseline_repeat(ds)
    assert m["users"] == 3 and m["hr_at_10"] == 1.0
    # newest first: p (saved last), then the last view, then the target
    assert abs(m["ndcg_at_10"] - 1 / np.log2(4)) < 1e-9
    from pinnerformer.baselines import last_distinct_items

    u = ds.test.users[0]
    last = last_distinct_items(ds, int(u), int(ds.test.cutoffs_ms[0]), 3)
    assert [ds.store.corpus_ids[i] for i in last][0] == "p"


def _table(rows: list[tuple[str, str, str, int]]) -> pa.Table:
    return pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "action": [r[2] for r in rows],
                     "surface": pa.array([None] * len(rows), pa.string()),
                     "ts": [1_790_000_000_000 + r[3] * 60_000 for r in rows],
                     "duration_ms": pa.array([None] * len(rows), pa.int64())})


def test_new_items_scores_only_positives_the_user_never_had_and_ranks_without_its_history():
    # r* users end on a save of an item they viewed before (a repeat), n* users on "w", new to them;
    # t* users teach "w" (their held-out last save repeats their first view)
    rows = []
    for u in range(3):
        rows += [(f"t{u}", "v2", "view", 0), (f"t{u}", "w", "save", 1), (f"t{u}", "v2", "save", 2)]
        for who, last in (("r", "v1"), ("n", "w")):
            rows += [(f"{who}{u}", f"v{j}", "view", j) for j in range(4)]
            rows += [(f"{who}{u}", "v0", "save", 4), (f"{who}{u}", last, "save", 5)]
    ds = Dataset.from_tables(_table(rows), None, FC, id_vocab=True, split=Split(protocol="leave_last_out", eval_percent=100))
    ev = eval_set(ds)
    new = ev.new_items()
    ids = ds.store.corpus_ids
    assert sorted(ds.store.user_ids[u] for u in new.users) == ["n0", "n1", "n2"] and len(ev) == 9
    for r, (items, exclude) in enumerate(zip(new.positives, new.exclude)):
        assert [ids[i] for i in items] == ["w"]
        assert sorted(ids[new.index[e]] for e in exclude) == ["v0", "v1", "v2", "v3"]
        assert ev.users[new.rows[r]] == new.users[r]
    # the repeat baseline finds every repeat, and none of the new items: its own picks are left out
    m = baseline_repeat(ds)
    assert m["new_items"]["users"] == 3 and m["users"] == 9
    # popularity fills the freed slots: "w" is the only item left, so it is first
    assert m["new_items"]["hr_at_10"] == 1.0 and m["new_items"]["ndcg_at_10"] == 1.0
    assert m["hr_at_10"] == 1.0 and m["recall_at_10"] == 1.0  # the v items and w fit in one top 10


def test_skip_starts_high_when_positives_repeat_the_item_just_before(llo):
    # retail-like: each saved item was viewed just before; the saves are the positives
    rows = []
    for u in range(4):
        for j, item in enumerate(["a", "b", "c"]):
            rows += [(f"u{u}", f"{item}{u % 2}", "view", 2 * j), (f"u{u}", f"{item}{u % 2}", "save", 2 * j + 1)]
    t = pa.table({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "action": [r[2] for r in rows],
                  "surface": pa.array([None] * len(rows), pa.string()),
                  "ts": [1_790_000_000_000 + r[3] * 60_000 for r in rows],
                  "duration_ms": pa.array([None] * len(rows), pa.int64())})
    retail = Dataset.from_tables(t, None, FC, id_vocab=True, split=Split(protocol="leave_last_out", eval_percent=100))
    assert skip_start(retail) == (REPEAT_SKIP_START, 1.0)
    start, share = skip_start(llo)  # the fixture's saves rarely follow an event on the same item
    assert start == ModelConfig().last_item_skip_init and share < 0.1


def test_validation_scores_new_items_when_positives_almost_never_repeat_an_earlier_item():
    # ratings-like: every user rates each film once; retail-like: each save follows views of its item,
    # one of them many events earlier (not just before, which the skip's share would count)
    ratings, retail = [], []
    for u in range(4):
        ratings += [(f"u{u}", f"m{(u + j) % 6}", "save", j) for j in range(5)]
        for j, item in enumerate(["a", "b", "c"]):
            retail += [(f"u{u}", f"{item}{u % 2}", "view", j), (f"u{u}", f"x{j}", "view", 3 + j),
                       (f"u{u}", f"{item}{u % 2}", "save", 10 + j)]
    split = Split(protocol="leave_last_out", eval_percent=100)
    films = Dataset.from_tables(_table(ratings), None, FC, id_vocab=True, split=split)
    shop = Dataset.from_tables(_table(retail), None, FC, id_vocab=True, split=split)
    assert history_share(films) == 0.0 and validation_target(films) == ("new_items", 0.0)
    assert history_share(shop) == 1.0 and skip_start(shop)[1] == 0.0
    assert validation_target(shop) == ("all", 1.0)
