"""Item-id embeddings seeded from co-occurrence (item_init.py): what the vectors hold, what they
may not see, and that training starts from them."""

import numpy as np
import pyarrow as pa
import torch

from pinnerformer.config import FeatureConfig, ModelConfig, PositiveConfig, TrainConfig
from pinnerformer.dataset import Dataset, Split
from pinnerformer.features import EventStore
from pinnerformer.item_init import cooccurrence_vectors, init_id_embeddings
from pinnerformer.train import train_model

from conftest import make_events

FC = FeatureConfig(max_length=32)


def topic_data():
    table, _, topic = make_events(users=120, items=60, days=30, topics=3, seed=2)
    ds = Dataset.from_tables(table, None, FC, id_vocab=True, fingerprint="t",
                             split=Split(protocol="leave_last_out", eval_percent=100, validation=True))
    item_topic = np.array([topic[int(i[1:])] if i.startswith("i") else -1 for i in ds.store.corpus_ids])
    return table, ds, item_topic


def test_items_of_one_topic_get_closer_vectors_than_items_of_different_topics():
    _, ds, item_topic = topic_data()
    v = cooccurrence_vectors(ds.store, ds.train_users, ds.label_end_ms, dim=8)
    assert v.shape == (ds.store.num_corpus, 8) and v.dtype == np.float32
    norms = np.linalg.norm(v, axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5) and (norms > 0).mean() > 0.9
    cos = v @ v.T
    same = item_topic[:, None] == item_topic[None, :]
    off_diagonal = ~np.eye(len(v), dtype=bool)
    assert cos[same & off_diagonal].mean() > cos[~same].mean() + 0.3


def test_only_the_given_users_events_before_their_label_end_count():
    table, ds, _ = topic_data()
    s = ds.store
    users = ds.train_users[: len(ds.train_users) // 2]
    got = cooccurrence_vectors(s, users, ds.label_end_ms, dim=8)
    # the same vectors from a table that never held the other users or anything at or after a label end
    label_end = {s.user_ids[u]: int(ds.label_end_ms[u]) for u in users}
    keep = [uid in label_end and ts < label_end[uid]
            for uid, ts in zip(table["user_id"].to_pylist(), table["ts"].to_pylist())]
    visible = table.filter(pa.array(keep))
    store = EventStore(visible, None, FC, PositiveConfig())
    store.attach_items(None, s.vocab)
    assert store.corpus_ids == s.corpus_ids
    want = cooccurrence_vectors(store, np.arange(store.num_users), np.iinfo(np.int64).max, dim=8)
    assert want.any() and np.allclose(got, want, atol=1e-5)


def test_no_pairs_give_zero_vectors_and_leave_the_random_start():
    _, ds, _ = topic_data()
    v = cooccurrence_vectors(ds.store, ds.train_users[:0], ds.label_end_ms, dim=8)
    assert not v.any()
    emb = torch.nn.Embedding(ds.store.num_corpus + 2, 8)
    before = emb.weight.detach().clone()
    assert init_id_embeddings(emb, ds.store.corpus_codes, v, len(ds.store.vocab.ids)) == 0
    assert torch.equal(emb.weight, before)


def test_training_starts_from_the_vectors_and_can_start_from_noise():
    _, ds, _ = topic_data()
    vocab = ds.store.vocab
    mcfg = ModelConfig(layers=1, hidden=16, heads=2, embedding=16, max_length=32, item_vector=0, id_dim=16,
                       id_vocab_size=len(vocab.ids), hash_buckets=vocab.hash_buckets)
    want = cooccurrence_vectors(ds.store, ds.train_users, ds.label_end_ms, dim=16) * 4.0  # sqrt(16)
    seeded, _ = train_model(ds.store, ds.train_users, ds.label_end_ms, mcfg, TrainConfig(steps=0), 32, progress=False)
    rows = seeded.item_id_emb.weight.detach().numpy()[ds.store.corpus_codes]
    assert np.allclose(rows, want, atol=1e-5)
    noise, _ = train_model(ds.store, ds.train_users, ds.label_end_ms, mcfg, TrainConfig(steps=0, cooccurrence_init=False),
                           32, progress=False)
    rows = noise.item_id_emb.weight.detach().numpy()[ds.store.corpus_codes]
    assert not np.allclose(rows, want, atol=1e-2)


def test_shared_rows_keep_their_random_start():
    """An item table's item outside the vocabulary shares a hash bucket: no one item's vector may claim it."""
    emb = torch.nn.Embedding(2 + 3 + 4, 2)
    before = emb.weight.detach().clone()
    codes = np.array([2, 3, 4, 5, 8, 1])  # three vocabulary items, two hash buckets, OOV
    vectors = np.ones((6, 2), np.float32) / np.sqrt(2)
    assert init_id_embeddings(emb, codes, vectors, vocab_size=3) == 3
    assert torch.allclose(emb.weight[2:5], torch.ones(3, 2))  # unit rows scaled to sqrt(2)
    assert torch.equal(emb.weight[5:], before[5:]) and torch.equal(emb.weight[:2], before[:2])
