"""Baselines scored by the same harness as the model (ranking.EvalSet, full ranking).

Each uses only what the training may see (events before each user's label end) and returns
ranking.EvalSet.metrics_of_top's metrics:
  baseline_popular         the items with the most positives, the same 10 for everyone
  baseline_recent_popular  the items with the most positives in the 7 days before the user's cutoff day
  baseline_cooccurrence    item-to-item: items that followed the user's last items (within 5 events)
                           in other sequences, P(b follows a), weighted by recency
  baseline_repeat          the user's own last 10 distinct items, newest first: what a model earns
                           from repeats alone (a purchase of the item carted a minute before)
  baseline_mean_item       mean pretrained vector of the last 32 items (only with an item table)
Each also scores new items only (ranking.metrics_with_new_items): the user's earlier items are left
out of its ranking, and the next ones fill in.
The SASRec-style next-item model is the `sasrec` objective of the same network (ablation.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .config import DAY_MS
from .dataset import Dataset
from .ranking import TOP_K, EvalSet, eval_set, metrics_with_new_items, ranked_excluding, top_k

RECENT_DAYS = 7
COOC_WINDOW = 5  # a pair: item b within this many events after item a in one user's sequence
COOC_LAST_ITEMS = 5  # the user's last distinct items that vote


def positive_counts(ds: Dataset) -> np.ndarray:
    """Positives per corpus item among the events the training may see (ties broken by corpus order)."""
    s = ds.store
    counts = np.bincount(s.item_index[ds.visible_positives()], minlength=s.num_corpus).astype(np.float64)
    return counts + np.linspace(1e-6, 0, s.num_corpus)  # ties: corpus order


def _order_of_scores(scores: np.ndarray, ev: EvalSet) -> np.ndarray:
    """The index rows any user's top 10 can draw on (10 plus the longest exclusion), highest score
    first (ties: index order)."""
    s = -scores[ev.index]
    need = TOP_K + max((len(e) for e in ev.exclude), default=0) if ev.exclude is not None else TOP_K
    if need >= len(s):
        return np.argsort(s, kind="stable")
    part = np.argpartition(s, need - 1)[:need]
    return part[np.lexsort((part, s[part]))]


def _top_of_order(order: np.ndarray, users: int, exclude: list[np.ndarray] | None) -> np.ndarray:
    """Each of `users` users' first 10 rows of one shared ranking, without its `exclude`. [users, 10]"""
    k = min(TOP_K, len(order))
    if exclude is None:
        return np.tile(order[:k], (users, 1))
    return np.array([_padded(ranked_excluding(order, k, ex), k) for ex in exclude], dtype=np.int64).reshape(users, k)


def _padded(picked: list[int], k: int) -> list[int]:
    # -1: an empty slot, when the user's excluded items leave fewer than k in the whole index
    return picked + [-1] * (k - len(picked))


def _picks_first(ev: EvalSet, r: int, picks: np.ndarray, fallback: np.ndarray) -> list[int]:
    """User r's top 10: its own `picks` (index rows, best first), then `fallback`, without `ev.exclude`."""
    k = min(TOP_K, len(ev.index))
    ex = None if ev.exclude is None else ev.exclude[r]
    return _padded(ranked_excluding(fallback, k, ex, first=picks), k)


def _scored(ds: Dataset, rank: Callable[[EvalSet], np.ndarray]) -> dict:
    return metrics_with_new_items(eval_set(ds), rank, ds.item_topics)


def baseline_popular(ds: Dataset) -> dict:
    counts = positive_counts(ds)
    return _scored(ds, lambda ev: _top_of_order(_order_of_scores(counts, ev), len(ev), ev.exclude))


def baseline_recent_popular(ds: Dataset, days: int = RECENT_DAYS) -> dict:
    s = ds.store
    pos = ds.visible_positives()
    pos = pos[np.argsort(s.ts[pos], kind="stable")]
    pos_ts = s.ts[pos]
    fallback = positive_counts(ds)

    def rank(ev: EvalSet) -> np.ndarray:
        top = np.zeros((len(ev), min(TOP_K, len(ev.index))), dtype=np.int64)
        days_of = ev.cutoffs // DAY_MS * DAY_MS
        for day in np.unique(days_of):
            a, b = np.searchsorted(pos_ts, [day - days * DAY_MS, day])
            counts = np.bincount(s.item_index[pos[a:b]], minlength=s.num_corpus).astype(np.float64)
            order = _order_of_scores(counts + 1e-9 * fallback / max(fallback.max(), 1.0), ev)
            on_day = np.flatnonzero(days_of == day)
            top[on_day] = _top_of_order(order, len(on_day), None if ev.exclude is None else [ev.exclude[r] for r in on_day])
        return top

    return _scored(ds, rank)


def cooccurrence(ds: Dataset, window: int = COOC_WINDOW) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse P(b follows a) as CSR (indptr [N+1], cols, values) over visible events in the corpus."""
    s = ds.store
    n = s.num_corpus
    ok = (s.item_index >= 0) & (s.ts < ds.label_ends()[s.event_user])
    keys = [a * n + b for _, a, b in s.nearby_pairs(ok, window)]
    uniq, counts = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.int64), return_counts=True)
    rows, cols = uniq // n, uniq % n
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    row_total = np.bincount(rows, weights=counts, minlength=n)
    values = counts / np.maximum(row_total[rows], 1.0)
    return indptr, cols, values


def baseline_cooccurrence(ds: Dataset, last_items: int = COOC_LAST_ITEMS) -> dict:
    cooc = cooccurrence(ds)
    return _scored(ds, lambda ev: cooccurrence_top(ds, ev, last_items, cooc))


def cooccurrence_top(
    ds: Dataset, ev: EvalSet, last_items: int = COOC_LAST_ITEMS,
    cooc: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Each scored user's co-occurrence top 10 (popularity fills empty slots), as index rows."""
    indptr, cols, values = cooc if cooc is not None else cooccurrence(ds)
    pop = positive_counts(ds)
    pop_order = _order_of_scores(pop, ev)
    top = np.zeros((len(ev), min(TOP_K, len(ev.index))), dtype=np.int64)
    for r, (u, cut) in enumerate(zip(ev.users, ev.cutoffs)):
        recent = last_distinct_items(ds, int(u), int(cut), last_items)
        cand, score = [], []
        for rank, a in enumerate(recent):
            cand.append(cols[indptr[a] : indptr[a + 1]])
            score.append(values[indptr[a] : indptr[a + 1]] / (rank + 1))
        picks = np.zeros(0, dtype=np.int64)
        if cand:
            c, v = np.concatenate(cand), np.concatenate(score)
            if len(c):
                items, inv = np.unique(c, return_inverse=True)
                total = np.bincount(inv, weights=v) + 1e-9 * pop[items] / max(pop.max(), 1.0)
                indexed = ev.position_in_index[items] >= 0
                items, total = items[indexed], total[indexed]
                picks = ev.position_in_index[items[np.argsort(-total, kind="stable")]]
        top[r] = _picks_first(ev, r, picks, pop_order)
    return top


def last_distinct_items(ds: Dataset, user: int, cutoff_ms: int, n: int) -> np.ndarray:
    """The user's last `n` distinct corpus items before the cutoff, newest first."""
    s = ds.store
    recent = s.item_index[int(s.offsets[user]) : s.end_before(user, cutoff_ms)][::-1]
    recent = recent[recent >= 0]
    _, first = np.unique(recent, return_index=True)
    return recent[np.sort(first)][:n]


def baseline_repeat(ds: Dataset) -> dict:
    pop = positive_counts(ds)

    def rank(ev: EvalSet) -> np.ndarray:
        pop_order = _order_of_scores(pop, ev)
        top = np.zeros((len(ev), min(TOP_K, len(ev.index))), dtype=np.int64)
        for r, (u, cut) in enumerate(zip(ev.users, ev.cutoffs)):
            own = ev.position_in_index[last_distinct_items(ds, int(u), int(cut), TOP_K)]
            top[r] = _picks_first(ev, r, own[own >= 0], pop_order)
        return top

    return _scored(ds, rank)


def baseline_mean_item(ds: Dataset, recent: int = 32) -> dict:
    """A user's vector is the mean of the pretrained vectors of their `recent` latest items;
    items are scored by cosine with their pretrained vectors."""
    s, ev = ds.store, eval_set(ds)
    vecs = s.vectors / np.maximum(np.linalg.norm(s.vectors, axis=1, keepdims=True), 1e-12)
    users = np.zeros((len(ev), vecs.shape[1]), dtype=np.float32)
    for k, (u, cut) in enumerate(zip(ev.users, ev.cutoffs)):
        end = s.end_before(int(u), int(cut))
        start, end = s.window(int(u), end, recent)
        idx = s.item_index[start:end]
        idx = idx[idx >= 0]
        if len(idx):
            users[k] = vecs[idx].mean(axis=0)
    return metrics_with_new_items(ev, lambda e: top_k(users[e.rows], vecs[ev.index], exclude=e.exclude), ds.item_topics)


BASELINES = {
    "baseline_popular": baseline_popular,
    "baseline_recent_popular": baseline_recent_popular,
    "baseline_cooccurrence": baseline_cooccurrence,
    "baseline_repeat": baseline_repeat,
}


def baselines_for(ds: Dataset) -> dict:
    """Every applicable baseline's metrics (mean item only when there are pretrained vectors)."""
    out = {name: fn(ds) for name, fn in BASELINES.items()}
    if ds.store.vectors.shape[1] and len(ds.items):
        out["baseline_mean_item"] = baseline_mean_item(ds)
    return out
