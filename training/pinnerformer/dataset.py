"""A data set ready for training and evaluation: events, corpus, user split, cutoffs (docs/model.md).

Two evaluation protocols (`Split.protocol`):
  time            the evaluation cutoff t is `eval_end` (default: the end of the last day with
                  events) minus `eval_days`; held-out users (a stable hash puts `eval_percent` %
                  of users there) are embedded at t and scored on their positives in
                  [t, t + eval_days). Training uses the other users' events before t. With
                  validation, the same window one period earlier on training users is the
                  validation set, and training labels end there.
  leave_last_out  every user's last positive is the test target, scored against the user's
                  events before it; the positive before that is the validation target; labels
                  for training end at each user's validation target (or test target without
                  validation). Full ranking over every corpus item.
The id vocabulary counts only events the training may see.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import DAY_MS, FeatureConfig, PositiveConfig
from .data import is_eval_user
from .events import read_events, read_items
from .features import EventStore, ItemTable, build_vocabulary
from .truth import read_item_topics

EVAL_DAYS = 14
PROTOCOLS = ("time", "leave_last_out")


class NoPositivesError(ValueError):
    """The data has no event that counts as a positive label under the configured rule."""


@dataclass(frozen=True)
class Split:
    """How a data set is cut into training, validation and evaluation."""

    protocol: str = "time"  # one of PROTOCOLS
    eval_days: int = EVAL_DAYS  # time: the evaluation window
    eval_end: str | None = None  # time: YYYY-MM-DD, the (exclusive) end of the window; default the data's end
    eval_percent: int = 10  # share of users evaluated (time: held out from training)
    validation: bool = False  # carve a validation set from the training period
    max_eval_users: int = 20_000  # at most this many users scored (a stable hash picks them)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.eval_days < 1:
            raise ValueError(f"eval_days must be >= 1, got {self.eval_days}")
        if not 0 < self.eval_percent <= 100:
            raise ValueError(f"eval_percent must be in 1..100, got {self.eval_percent}")


@dataclass
class Targets:
    """Users to score, each with a query cutoff and a label window [cutoff, end)."""

    users: np.ndarray  # store user positions
    cutoffs_ms: np.ndarray  # [n] embed from events before this
    ends_ms: np.ndarray  # [n] positives with cutoff <= ts < end are the targets


@dataclass
class Dataset:
    store: EventStore
    items: ItemTable
    train_users: np.ndarray  # store user positions
    eval_users: np.ndarray
    eval_cutoff_ms: int  # time: the evaluation cutoff; leave_last_out: the latest test cutoff
    end_ms: int  # end of the last day with events
    fingerprint: str
    positives: PositiveConfig
    item_topics: np.ndarray | None = None  # [N] ground-truth topic per corpus item, when known
    info: dict = field(default_factory=dict)
    split: Split = field(default_factory=Split)
    label_end_ms: np.ndarray | None = None  # [users] training labels end here (per user)
    test: Targets | None = None
    validation: Targets | None = None

    def label_ends(self) -> np.ndarray:
        """[users] where each user's training labels end (without a split: the evaluation cutoff)."""
        if self.label_end_ms is not None:
            return self.label_end_ms
        return np.full(self.store.num_users, self.eval_cutoff_ms, dtype=np.int64)

    def visible_positives(self) -> np.ndarray:
        """Event positions of the positives training may see: on a corpus item, before the user's label end."""
        s = self.store
        return np.flatnonzero(s.positive & (s.item_index >= 0) & (s.ts < self.label_ends()[s.event_user]))

    @classmethod
    def from_tables(
        cls,
        events: pa.Table,
        items: ItemTable | None,
        features: FeatureConfig,
        positives: PositiveConfig | None = None,
        eval_percent: int = 10,
        eval_days: int = EVAL_DAYS,
        id_vocab: bool = False,
        fingerprint: str = "",
        item_topics: np.ndarray | None = None,
        split: Split | None = None,
        min_item_count: int = 1,
        hash_buckets: int = 0,
    ) -> Dataset:
        positives = positives or PositiveConfig()
        split = split or Split(eval_percent=eval_percent, eval_days=eval_days)
        items = items if items is not None else ItemTable(ids=[], vectors=np.zeros((0, 0), np.float32))
        store = EventStore(events, None, features, positives)
        if store.num_events == 0:
            raise ValueError(
                f"no events with an action in {list(features.action_vocab)}: check the data root's events/ folder"
            )
        if not store.positive.any():
            raise NoPositivesError(no_positives_message(events, positives))
        end_ms = (int(store.ts.max()) // DAY_MS + 1) * DAY_MS
        users = np.arange(store.num_users)
        sampled = np.array([is_eval_user(u, split.eval_percent) for u in store.user_ids], dtype=bool)
        test = validation = None
        if split.protocol == "time":
            end = _day_ms(split.eval_end) if split.eval_end else end_ms
            cutoff = end - split.eval_days * DAY_MS
            if cutoff <= int(store.ts.min()):
                raise ValueError(
                    f"the evaluation window [{_date(cutoff)}, {_date(end)}) starts before the first event "
                    f"({_date(int(store.ts.min()))}): shorten --eval-days or move --eval-end"
                )
            train_users, eval_users = users[~sampled], users[sampled]
            test = _cap(Targets(eval_users, np.full(len(eval_users), cutoff), np.full(len(eval_users), end)),
                        split.max_eval_users, store)
            label_end = np.full(store.num_users, cutoff, dtype=np.int64)
            if split.validation:
                v_cut = cutoff - split.eval_days * DAY_MS
                validation = _cap(
                    Targets(train_users, np.full(len(train_users), v_cut), np.full(len(train_users), cutoff)),
                    max(1000, split.max_eval_users // 4), store,
                )
                label_end[:] = v_cut
            eval_cutoff = cutoff
        else:
            last_pos, prev_pos = _last_two_positive_ts(store)
            has_test = last_pos >= 0
            has_val = prev_pos >= 0
            label_end = np.where(has_test, last_pos, end_ms).astype(np.int64)
            pick = has_test & sampled
            test = _cap(Targets(users[pick], last_pos[pick], last_pos[pick] + 1), split.max_eval_users, store)
            if split.validation:
                label_end = np.where(has_val, prev_pos, label_end).astype(np.int64)
                vpick = has_val
                validation = _cap(Targets(users[vpick], prev_pos[vpick], prev_pos[vpick] + 1),
                                  max(1000, split.max_eval_users // 4), store)
            train_users, eval_users = users, test.users
            eval_cutoff = int(last_pos.max())
        # the vocabulary and the corpus from what training may see
        visible = store.ts < label_end[store.event_user]
        vocab = None
        if id_vocab:
            vocab = build_vocabulary(store.item_ids.filter(pa.array(visible)), min_item_count, hash_buckets)
        store.attach_items(items, vocab)
        if store.num_corpus == 0:
            raise ValueError("no item table (items/) and no id vocabulary: nothing can be recommended; "
                             "train with an id vocabulary (the default of python -m pinnerformer.train)")
        if not (store.positive & (store.item_index >= 0) & visible).any():
            raise NoPositivesError(
                "no positive before the training label end is on a corpus item: "
                + ("lower --min-item-count" if id_vocab else "add an item table or use --id-vocab")
            )
        return cls(
            store=store,
            items=items,
            train_users=train_users,
            eval_users=eval_users,
            eval_cutoff_ms=int(eval_cutoff),
            end_ms=end_ms,
            fingerprint=fingerprint,
            positives=positives,
            item_topics=item_topics,
            info={
                "events": int(store.num_events),
                "users": store.num_users,
                "items": store.num_corpus,
                "item_table": len(items),
                "vocabulary": len(vocab.ids) if vocab else 0,
                "positives": int(store.positive.sum()),
                "first_day": _date(int(store.ts.min())),
                "last_day": _date(end_ms - DAY_MS),
            },
            split=split,
            label_end_ms=label_end,
            test=test,
            validation=validation,
        )


def no_positives_message(events: pa.Table, positives: PositiveConfig) -> str:
    counts = pc.value_counts(events["action"].combine_chunks())
    seen = ", ".join(f"{v} {c}" for v, c in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
    return (
        f"no event is a positive label under the positive rule ({positives.describe()}); actions in the data: "
        f"{seen or 'none'}. Choose the actions that count as positives with --positive-actions "
        f"(e.g. --positive-actions click,save), or --positive-actions view to learn from every view"
    )


def _day_ms(date: str) -> int:
    d = _dt.date.fromisoformat(date)
    return int(_dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc).timestamp() * 1000)


def _date(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).strftime("%Y-%m-%d")


def _last_two_positive_ts(store: EventStore) -> tuple[np.ndarray, np.ndarray]:
    """Per user: ts of the last positive, and of the last positive strictly before that (-1: none)."""
    last = np.full(store.num_users, -1, dtype=np.int64)
    prev = np.full(store.num_users, -1, dtype=np.int64)
    pos = np.flatnonzero(store.positive)
    if len(pos) == 0:
        return last, prev
    u, ts = store.event_user[pos], store.ts[pos]
    # events are sorted by (user, ts): the last positive of each user is its last entry
    is_last = np.concatenate([u[1:] != u[:-1], [True]])
    last[u[is_last]] = ts[is_last]
    earlier = ts < last[u]
    ue, te = u[earlier], ts[earlier]
    if len(ue):
        is_last_e = np.concatenate([ue[1:] != ue[:-1], [True]])
        prev[ue[is_last_e]] = te[is_last_e]
    # a user needs history before the target to be scored
    first = store.ts[store.offsets[:-1]]
    last[last <= first] = -1
    prev[prev <= first] = -1
    return last, prev


def _cap(t: Targets, max_users: int, store: EventStore) -> Targets:
    if len(t.users) <= max_users:
        return t
    key = np.array([int(hashlib.md5(store.user_ids[u].encode()).hexdigest()[:8], 16) for u in t.users])
    keep = np.sort(np.argsort(key, kind="stable")[:max_users])
    return Targets(t.users[keep], t.cutoffs_ms[keep], t.ends_ms[keep])


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
    split: Split | None = None,
    min_item_count: int = 1,
    hash_buckets: int = 0,
    with_items: bool = True,
) -> Dataset:
    """The data set under `root`; `with_items=False` ignores items/ (ids only)."""

    root = Path(root)
    if not (root / "events").is_dir():
        hint = " (the daily job's layout keeps them under objects/events/)" if (root / "objects" / "events").is_dir() else ""
        raise ValueError(f"{root} has no events/ folder{hint}: pass the data root that holds events/dt=YYYY-MM-DD/")
    item_ids, vectors = read_items(root) if with_items else ([], np.zeros((0, 0), np.float32))
    items = ItemTable(ids=list(item_ids), vectors=np.asarray(vectors, dtype=np.float32))
    ds = Dataset.from_tables(
        read_events(root),
        items,
        features,
        positives,
        eval_percent=eval_percent,
        id_vocab=id_vocab,
        fingerprint=fingerprint_files(root),
        split=split,
        min_item_count=min_item_count,
        hash_buckets=hash_buckets,
    )
    ds.item_topics = load_item_topics(root, ds.store.corpus_ids)
    return ds
