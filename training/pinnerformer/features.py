"""Featurization per docs/model-interface.md, in numpy (float64 arithmetic, then float32).

`EventStore` holds every user's events filtered to the action vocabulary, de-duplicated and
sorted once; a sequence at a cutoff is then a prefix of the user's slice (the kept events are
its last M), so training, evaluation and the embed CLI all share one featurization.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import FeatureConfig, PositiveConfig

INPUT_NAMES = ("item_vec", "item_id", "action", "surface", "time_frac", "scalars", "lengths")
OUTPUT_NAME = "embedding"
PAD_ID, OOV_ID, FIRST_ID = 0, 1, 2


@dataclass(frozen=True)
class ItemTable:
    """Pretrained item vectors; row i belongs to ids[i]."""

    ids: list[str]
    vectors: np.ndarray  # [N, Ev] float32

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the UTF-8 bytes (docs/model-interface.md, "Item ids")."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


@dataclass(frozen=True)
class ItemVocabulary:
    """The learned item ids: `ids[i]` gets code 2 + i; another id gets a hashed bucket
    2 + len(ids) + fnv1a32(id) % hash_buckets, or 1 (OOV) without buckets."""

    ids: list[str]
    hash_buckets: int = 0
    min_count: int = 1

    @property
    def codes_needed(self) -> int:
        """Rows of the id embedding beyond padding and OOV."""
        return len(self.ids) + self.hash_buckets

    def codes(self, item_ids: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
        arr = pa.array(item_ids, pa.string()) if isinstance(item_ids, list) else item_ids
        idx = pc.fill_null(pc.index_in(arr, value_set=pa.array(self.ids, pa.string())), -1)
        idx = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)
        out = np.where(idx >= 0, idx + FIRST_ID, OOV_ID).astype(np.int64)
        if self.hash_buckets and (idx < 0).any():
            # hash each distinct unknown id once
            missing = pc.filter(arr, pa.array(idx < 0))
            uniq = pc.unique(missing)
            buckets = np.array([fnv1a32(u) % self.hash_buckets for u in uniq.to_pylist()], dtype=np.int64)
            where = np.asarray(pc.index_in(missing, value_set=uniq).to_numpy(zero_copy_only=False), dtype=np.int64)
            out[idx < 0] = FIRST_ID + len(self.ids) + buckets[where]
        return out


def build_vocabulary(item_ids: pa.Array | pa.ChunkedArray, min_count: int, hash_buckets: int) -> ItemVocabulary:
    """Items with at least `min_count` occurrences in `item_ids`, most frequent first (ties by id)."""
    if isinstance(item_ids, pa.ChunkedArray):
        item_ids = item_ids.combine_chunks()
    counts = pc.value_counts(item_ids)
    values = counts.field("values").to_pylist()
    n = np.asarray(counts.field("counts").to_numpy(zero_copy_only=False), dtype=np.int64)
    keep = [(int(c), v) for v, c in zip(values, n) if c >= min_count and v is not None]
    keep.sort(key=lambda cv: (-cv[0], cv[1]))
    return ItemVocabulary(ids=[v for _, v in keep], hash_buckets=hash_buckets, min_count=min_count)


class EventStore:
    """All users' events, filtered/de-duplicated/sorted per the contract, as flat numpy arrays."""

    def __init__(
        self,
        table: pa.Table,
        items: ItemTable | None,
        features: FeatureConfig,
        positives: PositiveConfig,
        id_vocab: ItemVocabulary | list[str] | None = None,
    ) -> None:
        self.features = features
        actions = pa.array(list(features.action_vocab), pa.string())
        table = table.select(["user_id", "item_id", "action", "surface", "ts", "duration_ms"])
        table = table.filter(pc.is_in(table["action"], value_set=actions))
        # (user, ts, item, action, surface null first); duration only breaks ties between duplicates.
        keys = ("user_id", "ts", "item_id", "action", "surface", "duration_ms")
        try:  # pyarrow >= 20: null placement per key
            order = pc.sort_indices(table, sort_keys=[(c, "ascending", "at_start") for c in keys])
        except (TypeError, ValueError):
            order = pc.sort_indices(table, sort_keys=[(c, "ascending") for c in keys], null_placement="at_start")
        table = table.take(order)
        n = table.num_rows
        users = table["user_id"].combine_chunks()
        item_ids = table["item_id"].combine_chunks()
        surface = table["surface"].combine_chunks()
        self.ts = table["ts"].to_numpy(zero_copy_only=False).astype(np.int64)
        # Exact duplicates (same user, item, action, surface, ts): keep the first.
        if n > 1:
            same = np.ones(n - 1, dtype=bool)
            for col in (users, item_ids, table["action"].combine_chunks()):
                same &= pc.equal(col[1:], col[:-1]).to_numpy(zero_copy_only=False)
            surf_eq = pc.fill_null(pc.equal(surface[1:], surface[:-1]), False).to_numpy(zero_copy_only=False)
            both_null = (pc.is_null(surface[1:]).to_numpy(zero_copy_only=False)) & (
                pc.is_null(surface[:-1]).to_numpy(zero_copy_only=False)
            )
            same &= surf_eq | both_null
            same &= self.ts[1:] == self.ts[:-1]
            keep = np.concatenate([[True], ~same])
            if not keep.all():
                mask = pa.array(keep)
                table = table.filter(mask)
                users, item_ids, surface = users.filter(mask), item_ids.filter(mask), surface.filter(mask)
                self.ts = self.ts[keep]
                n = table.num_rows
        self.num_events = n
        self.item_ids = item_ids
        self.action = (
            pc.index_in(table["action"], value_set=actions).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        )
        surf_idx = pc.index_in(surface, value_set=pa.array(list(features.surface_vocab), pa.string()))
        self.surface = np.where(
            pc.is_null(surf_idx).to_numpy(zero_copy_only=False),
            OOV_ID,
            pc.fill_null(surf_idx, 0).to_numpy(zero_copy_only=False).astype(np.int64) + FIRST_ID,
        ).astype(np.int64)
        dur = table["duration_ms"].to_numpy(zero_copy_only=False)
        self.duration_ms = np.asarray(dur, dtype=np.float64)  # NaN when null
        self.attach_items(items, id_vocab)
        self.positive = positive_mask(table["action"], self.duration_ms, positives)
        # Per-user contiguous slices.
        starts = np.flatnonzero(
            np.concatenate([[True], ~pc.equal(users[1:], users[:-1]).to_numpy(zero_copy_only=False)])
            if n > 1
            else np.ones(n, dtype=bool)
        )
        self.offsets = np.concatenate([starts, [n]]).astype(np.int64)
        self.event_user = np.repeat(np.arange(len(starts), dtype=np.int64), np.diff(self.offsets))
        self.user_ids: list[str] = users.take(pa.array(starts)).to_pylist() if n else []
        self.user_position = {u: i for i, u in enumerate(self.user_ids)}

    def attach_items(self, items: ItemTable | None, id_vocab: ItemVocabulary | list[str] | None) -> None:
        """The corpus (items that can be labels and candidates): the item table's ids in order, then
        vocabulary ids without a vector (zero vectors). Sets each event's corpus index and `item_id` code."""
        if isinstance(id_vocab, list):
            id_vocab = ItemVocabulary(ids=id_vocab)
        self.vocab = id_vocab
        table_ids = list(items.ids) if items is not None else []
        dim = features_item_dim(items)
        extra: list[str] = []
        if id_vocab is not None:
            known = set(table_ids)
            extra = [i for i in id_vocab.ids if i not in known]
        self.corpus_ids: list[str] = table_ids + extra
        vectors = items.vectors.astype(np.float32, copy=False) if items is not None and len(items) else None
        self.vectors = np.zeros((len(self.corpus_ids), dim), dtype=np.float32)
        if vectors is not None:
            self.vectors[: len(table_ids)] = vectors
        corpus = pa.array(self.corpus_ids, pa.string())
        idx = pc.fill_null(pc.index_in(self.item_ids, value_set=corpus), -1)
        self.item_index = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)
        if id_vocab is None:
            has_vector = (self.item_index >= 0) & (self.item_index < len(table_ids))
            self.item_code = np.where(has_vector, FIRST_ID, OOV_ID).astype(np.int64)
            self.corpus_codes = np.where(np.arange(len(self.corpus_ids)) < len(table_ids), FIRST_ID, OOV_ID)
        else:
            self.item_code = id_vocab.codes(self.item_ids)
            self.corpus_codes = id_vocab.codes(corpus)
        self.corpus_codes = np.asarray(self.corpus_codes, dtype=np.int64)

    @property
    def num_corpus(self) -> int:
        return len(self.corpus_ids)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    def nearby_pairs(
        self, ok: np.ndarray, window: int, max_per_offset: int | None = None, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Per offset d in 1..window: corpus indices (a, b) of events d apart in one user's sequence,
        both `ok` (a mask over events), a != b; at most `max_per_offset` pairs (a uniform sample by `rng`)."""
        for d in range(1, window + 1):
            i = np.flatnonzero(ok[:-d] & ok[d:] & (self.event_user[:-d] == self.event_user[d:]))
            if max_per_offset is not None and len(i) > max_per_offset:
                i = np.sort((rng or np.random.default_rng(0)).choice(i, size=max_per_offset, replace=False))
            a, b = self.item_index[i], self.item_index[i + d]
            keep = a != b
            yield d, a[keep], b[keep]

    def end_before(self, user: int, cutoff_ms: int) -> int:
        """Index one past the user's last event with ts < cutoff_ms."""
        lo, hi = self.offsets[user], self.offsets[user + 1]
        return int(lo + np.searchsorted(self.ts[lo:hi], cutoff_ms, side="left"))

    def positives_between(self, user: int, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The user's distinct positive corpus items in [start_ms, end_ms) and the time of each one's
        first positive; None when the user has no event before start_ms (no embedding) or no such positive."""
        a = self.end_before(user, start_ms)
        if a == int(self.offsets[user]):
            return None
        ev = np.arange(a, self.end_before(user, end_ms))
        ev = ev[self.positive[ev] & (self.item_index[ev] >= 0)]
        if len(ev) == 0:
            return None
        items, first = np.unique(self.item_index[ev], return_index=True)
        return items, self.ts[ev[first]]

    def window(self, user: int, end: int, max_length: int) -> tuple[int, int]:
        """The kept events [start, end) of a sequence ending (exclusive) at `end`."""
        lo = int(self.offsets[user])
        return max(lo, end - max_length), end


def features_item_dim(items: ItemTable | None) -> int:
    return items.dim if items is not None else 0


def positive_mask(action: pa.ChunkedArray | pa.Array, duration_ms: np.ndarray, positives: PositiveConfig) -> np.ndarray:
    """True where the event is a positive label: an action in `positives.actions`, or an action
    with a minimum duration that it reaches."""
    act = np.asarray(action.to_numpy(zero_copy_only=False), dtype=object)
    pos = np.isin(act, list(positives.actions))
    for name, min_ms in positives.min_duration_ms.items():
        with np.errstate(invalid="ignore"):
            pos |= (act == name) & (np.nan_to_num(duration_ms, nan=-1.0) >= min_ms)
    return pos


def time_features(
    ts: np.ndarray, prev_ts: np.ndarray, cutoff_ms: np.ndarray, duration_ms: np.ndarray, features: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """`time_frac` [..., 76] and `scalars` [..., 4] for real positions (all inputs broadcast).

    ts, prev_ts, cutoff_ms: int64 epoch ms (prev_ts == ts where there is no previous event);
    duration_ms: float64, NaN when null.
    """
    ts = ts.astype(np.int64)
    ts_sec = ts.astype(np.float64) / 1000.0
    age_sec = (cutoff_ms.astype(np.int64) - ts).astype(np.float64) / 1000.0
    gap_sec = (ts - prev_ts.astype(np.int64)).astype(np.float64) / 1000.0
    absp = np.asarray(features.abs_periods_sec, dtype=np.float64)
    relp = np.asarray(features.rel_periods_sec, dtype=np.float64)

    def frac(x: np.ndarray) -> np.ndarray:
        return x - np.floor(x)

    time_frac = np.concatenate(
        [frac(ts_sec[..., None] / absp), frac(age_sec[..., None] / relp), frac(gap_sec[..., None] / relp)], axis=-1
    )
    dur = np.where(np.isnan(duration_ms), 0.0, np.maximum(np.nan_to_num(duration_ms, nan=0.0), 0.0))
    scalars = np.stack(
        [
            np.log1p(dur / 1000.0),
            np.log1p(np.maximum(ts - features.time_reference_ms, 0).astype(np.float64) / 86400000.0),
            np.log1p(age_sec),
            np.log1p(gap_sec),
        ],
        axis=-1,
    )
    return time_frac.astype(np.float32), scalars.astype(np.float32)


def featurize(
    store: EventStore, spans: list[tuple[int, int]], cutoffs_ms: np.ndarray, pad_to: int | None = None
) -> dict[str, np.ndarray]:
    """Model inputs for sequences store[start:end] (each non-empty), right padded to the batch's
    longest (or `pad_to`). `cutoffs_ms[b]` is sequence b's inference cutoff."""
    if any(e <= s for s, e in spans):
        raise ValueError("every sequence needs at least one event")
    b = len(spans)
    lengths = np.array([e - s for s, e in spans], dtype=np.int64)
    length = int(pad_to if pad_to is not None else lengths.max())
    if lengths.max() > length:
        raise ValueError(f"sequence longer than pad_to={length}")
    pos = np.arange(length)[None, :]
    starts = np.array([s for s, _ in spans], dtype=np.int64)[:, None]
    real = pos < lengths[:, None]  # [B, L]
    idx = np.where(real, starts + pos, 0)  # [B, L]
    prev = np.where(pos > 0, idx - 1, idx)
    cut = np.broadcast_to(np.asarray(cutoffs_ms, dtype=np.int64)[:, None], (b, length))
    ts = np.where(real, store.ts[idx], cut)  # padding: a harmless in-range time, zeroed below
    prev_ts = np.where(real, store.ts[prev], ts)
    time_frac, scalars = time_features(ts, prev_ts, cut, store.duration_ms[idx], store.features)
    ev = store.vectors.shape[1]
    item_index = np.where(real, store.item_index[idx], -1)
    item_vec = np.zeros((b, length, ev), dtype=np.float32)
    has = item_index >= 0
    if ev:
        item_vec[has] = store.vectors[item_index[has]]
    zero = ~real
    time_frac[zero] = 0.0
    scalars[zero] = 0.0
    return {
        "item_vec": item_vec,
        "item_id": np.where(real, store.item_code[idx], PAD_ID).astype(np.int64),
        "action": np.where(real, store.action[idx], PAD_ID).astype(np.int64),
        "surface": np.where(real, store.surface[idx], PAD_ID).astype(np.int64),
        "time_frac": time_frac,
        "scalars": scalars,
        "lengths": lengths,
    }
