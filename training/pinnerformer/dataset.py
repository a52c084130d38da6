"""A data set ready for training and evaluation: events, item table, user split, cutoffs.

Time split: the evaluation cutoff t is 14 days before the end of the data (the end of the
last day with events). Training uses only events before t (sequences and labels); evaluation
embeds held-out users at t and scores their positives in (t, t + 14 d].
User split: a stable hash puts `eval_percent` % of users in the evaluation set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from .config import DAY_MS, FeatureConfig, PositiveConfig
from .data import is_eval_user
from .features import EventStore, ItemTable

EVAL_DAYS = 14


@dataclass
class Dataset:
    store: EventStore
    items: ItemTable
    train_users: np.ndarray  # store user positions
    eval_users: np.ndarray
    eval_cutoff_ms: int
    end_ms: int  # end of the last day with events
    fingerprint: str
    positives: PositiveConfig
    item_topics: np.ndarray | None = None  # [N] ground-truth topic per corpus item, when known
    info: dict = field(default_factory=dict)

    @classmethod
    def from_tables(
        cls,
        events: pa.Table,
        items: ItemTable,
        features: FeatureConfig,
        positives: PositiveConfig | None = None,
        eval_percent: int = 10,
        eval_days: int = EVAL_DAYS,
        id_vocab: bool = False,
        fingerprint: str = "",
        item_topics: np.ndarray | None = None,
    ) -> Dataset:
        positives = positives or PositiveConfig()
        store = EventStore(events, items, features, positives, id_vocab=items.ids if id_vocab else None)
        if store.num_events == 0:
            raise ValueError("no events in the action vocabulary")
        end_ms = (int(store.ts.max()) // DAY_MS + 1) * DAY_MS
        eval_cutoff = end_ms - eval_days * DAY_MS
        is_eval = np.array([is_eval_user(u, eval_percent) for u in store.user_ids], dtype=bool)
        return cls(
            store=store,
            items=items,
            train_users=np.flatnonzero(~is_eval),
            eval_users=np.flatnonzero(is_eval),
            eval_cutoff_ms=eval_cutoff,
            end_ms=end_ms,
            fingerprint=fingerprint,
            positives=positives,
            item_topics=item_topics,
            info={"events": int(store.num_events), "users": store.num_users, "items": len(items)},
        )


def fingerprint_files(root: Path) -> str:
    """sha256 over (relative path, content sha256) of every file under events/ and items/."""
    h = hashlib.sha256()
    for sub in ("events", "items"):
        base = root / sub
        if not base.exists():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(root)).encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def load_item_topics(root: Path, item_ids: list[str]) -> np.ndarray | None:
    """Ground-truth topic per item from the synthetic generator's truth files, when present."""
    from .truth import read_item_topics

    topics = read_item_topics(root)
    if topics is None:
        return None
    return np.array([topics.get(i, -1) for i in item_ids], dtype=np.int64)


def load_dataset(
    root: str | Path,
    features: FeatureConfig,
    positives: PositiveConfig | None = None,
    eval_percent: int = 10,
    id_vocab: bool = False,
) -> Dataset:
    from .events import read_events, read_items

    root = Path(root)
    item_ids, vectors = read_items(root)
    items = ItemTable(ids=list(item_ids), vectors=np.asarray(vectors, dtype=np.float32))
    return Dataset.from_tables(
        read_events(root),
        items,
        features,
        positives,
        eval_percent=eval_percent,
        id_vocab=id_vocab,
        fingerprint=fingerprint_files(root),
        item_topics=load_item_topics(root, items.ids),
    )
