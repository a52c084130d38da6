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
The SASRec-style next-item model is the `sasrec` objective of the same network (ablation.py).
"""

from __future__ import annotations

import numpy as np

from .config import DAY_MS
from .dataset import Dataset
from .ranking import EvalSet, eval_set, top_k

RECENT_DAYS = 7
COOC_WINDOW = 5  # a pair: item b within this many events after item a in one user's sequence
COOC_LAST_ITEMS = 5  # the user's last distinct items that vote


def positive_counts(ds: Dataset) -> np.ndarray:
    """Positives per corpus item among the events the training may see (ties broken by corpus order)."""
    s = ds.store
    counts = np.bincount(s.item_index[ds.visible_positives()], minlength=s.num_corpus).astype(np.float64)
    return counts + np.linspace(1e-6, 0, s.num_corpus)  # ties: corpus order


def _top_of_scores(scores: np.ndarray, ev: EvalSet) -> np.ndarray:
    return top_k(np.ones((1, 1)), scores[ev.index][:, None])[0]


def baseline_popular(ds: Dataset) -> dict:
    ev = eval_set(ds)
    row = _top_of_scores(positive_counts(ds), ev)
    return ev.metrics_of_top(np.tile(row, (len(ev), 1)), ds.item_topics)


def baseline_recent_popular(ds: Dataset, days: int = RECENT_DAYS) -> dict:
    s, ev = ds.store, eval_set(ds)
    pos = ds.visible_positives()
    pos = pos[np.argsort(s.ts[pos], kind="stable")]
    pos_ts = s.ts[pos]
    fallback = positive_counts(ds)
    top = np.zeros((len(ev), min(10, len(ev.index))), dtype=np.int64)
    days_of = ev.cutoffs // DAY_MS * DAY_MS
    for day in np.unique(days_of):
        a, b = np.searchsorted(pos_ts, [day - days * DAY_MS, day])
        counts = np.bincount(s.item_index[pos[a:b]], minlength=s.num_corpus).astype(np.float64)
        top[days_of == day] = _top_of_scores(counts + 1e-9 * fallback / max(fallback.max(), 1.0), ev)
    return ev.metrics_of_top(top, ds.item_topics)


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
    ev = eval_set(ds)
    return ev.metrics_of_top(cooccurrence_top(ds, ev, last_items), ds.item_topics)


def cooccurrence_top(ds: Dataset, ev: EvalSet, last_items: int = COOC_LAST_ITEMS) -> np.ndarray:
    """Each scored user's co-occurrence top 10 (popularity fills empty slots), as positions in the index."""
    s = ds.store
    indptr, cols, values = cooccurrence(ds)
    pop = positive_counts(ds)
    pop_top = _top_of_scores(pop, ev)  # fills slots the co-occurrence leaves empty
    k = min(10, len(ev.index))
    top = np.zeros((len(ev), k), dtype=np.int64)
    for r, (u, cut) in enumerate(zip(ev.users, ev.cutoffs)):
        recent = last_distinct_items(ds, int(u), int(cut), last_items)
        cand, score = [], []
        for rank, a in enumerate(recent):
            cand.append(cols[indptr[a] : indptr[a + 1]])
            score.append(values[indptr[a] : indptr[a + 1]] / (rank + 1))
        picked: list[int] = []
        if cand:
            c, v = np.concatenate(cand), np.concatenate(score)
            if len(c):
                items, inv = np.unique(c, return_inverse=True)
                total = np.bincount(inv, weights=v) + 1e-9 * pop[items] / max(pop.max(), 1.0)
                indexed = ev.position_in_index[items] >= 0
                items, total = items[indexed], total[indexed]
                picked = [int(ev.position_in_index[i]) for i in items[np.argsort(-total, kind="stable")][:k]]
        top[r] = _filled(picked, pop_top, k)
    return top


def last_distinct_items(ds: Dataset, user: int, cutoff_ms: int, n: int) -> np.ndarray:
    """The user's last `n` distinct corpus items before the cutoff, newest first."""
    s = ds.store
    recent = s.item_index[int(s.offsets[user]) : s.end_before(user, cutoff_ms)][::-1]
    recent = recent[recent >= 0]
    _, first = np.unique(recent, return_index=True)
    return recent[np.sort(first)][:n]


def _filled(picked: list[int], pop_top: np.ndarray, k: int) -> list[int]:
    """`picked` (index positions), then the most popular items not in it, up to k."""
    picked = list(picked)
    for p in pop_top:
        if len(picked) >= k:
            break
        if int(p) not in picked:
            picked.append(int(p))
    return picked[:k]


def baseline_repeat(ds: Dataset) -> dict:
    ev = eval_set(ds)
    pop_top = _top_of_scores(positive_counts(ds), ev)
    k = min(10, len(ev.index))
    top = np.zeros((len(ev), k), dtype=np.int64)
    for r, (u, cut) in enumerate(zip(ev.users, ev.cutoffs)):
        own = ev.position_in_index[last_distinct_items(ds, int(u), int(cut), k)]
        top[r] = _filled([int(i) for i in own if i >= 0], pop_top, k)
    return ev.metrics_of_top(top, ds.item_topics)


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
    return ev.retrieval_metrics(users, vecs[ev.index], ds.item_topics)


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
