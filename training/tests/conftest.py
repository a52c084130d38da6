"""Tiny synthetic fixtures: topic-structured items and users, written with pyarrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pinnerformer.config import DAY_MS, FeatureConfig, ModelConfig
from pinnerformer.dataset import Dataset
from pinnerformer.features import ItemTable

START_MS = 1_790_000_000_000 // DAY_MS * DAY_MS  # a day boundary in 2026


def make_events(users: int = 60, items: int = 200, days: int = 40, topics: int = 5, seed: int = 0):
    """Users with one or two favourite topics act on items of those topics; some actions are saves."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(topics, 8))
    item_topic = rng.integers(0, topics, size=items)
    vectors = (centroids[item_topic] + 0.3 * rng.normal(size=(items, 8))).astype(np.float32)
    item_ids = [f"i{j:04d}" for j in range(items)]
    rows = {k: [] for k in ("user_id", "item_id", "action", "surface", "ts", "duration_ms")}
    actions = ["view", "closeup", "click", "save", "hide"]
    surfaces = ["home", "search", "related", "profile", None]
    for u in range(users):
        fav = rng.choice(topics, size=2, replace=False)
        n = int(rng.integers(5, 120))
        ts = np.sort(START_MS + rng.integers(0, days * DAY_MS, size=n))
        for t in ts:
            topic = fav[0] if rng.random() < 0.7 else fav[1]
            pool = np.flatnonzero(item_topic == topic)
            item = int(rng.choice(pool))
            action = actions[int(rng.choice(5, p=[0.5, 0.15, 0.15, 0.15, 0.05]))]
            rows["user_id"].append(f"u{u:03d}")
            rows["item_id"].append(item_ids[item] if rng.random() > 0.02 else "unknown-item")
            rows["action"].append(action)
            rows["surface"].append(surfaces[int(rng.integers(0, 5))])
            rows["ts"].append(int(t))
            rows["duration_ms"].append(int(rng.integers(0, 30_000)) if action in ("click", "closeup") else None)
    table = pa.table(
        {
            "user_id": pa.array(rows["user_id"], pa.string()),
            "item_id": pa.array(rows["item_id"], pa.string()),
            "action": pa.array(rows["action"], pa.string()),
            "surface": pa.array(rows["surface"], pa.string()),
            "ts": pa.array(rows["ts"], pa.int64()),
            "duration_ms": pa.array(rows["duration_ms"], pa.int64()),
        }
    )
    return table, ItemTable(ids=item_ids, vectors=vectors), item_topic


@pytest.fixture(scope="session")
def tiny():
    table, items, topics = make_events()
    fcfg = FeatureConfig(max_length=32)
    ds = Dataset.from_tables(table, items, fcfg, eval_percent=20, item_topics=topics, fingerprint="test")
    mcfg = ModelConfig(layers=2, hidden=16, heads=2, embedding=8, max_length=32, item_vector=8)
    return ds, fcfg, mcfg, table
