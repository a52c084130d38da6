"""Scoring users against the corpus: the scored users and their positives (EvalSet), exact top 10
by dot product over the full index, and the ranking metrics (docs/model.md, "Evaluation").
Shared by the model's evaluation (evaluate.py) and the baselines (baselines.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from .config import DAY_MS
from .dataset import EVAL_DAYS, Dataset, Targets
from .corpus import embed_sequences
from .features import EventStore
from .model import PinnerFormer

TOP_K = 10


def top_k(
    queries: np.ndarray, index_vecs: np.ndarray, k: int = TOP_K, chunk: int = 1024,
    exclude: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Rows of `index_vecs` with the k highest dot products per query, best first, leaving out
    `exclude[q]` (rows of the index) for query q; -1 fills slots that exclusion leaves empty. [n, k]"""
    out = np.zeros((len(queries), min(k, len(index_vecs))), dtype=np.int64)
    for i in range(0, len(queries), chunk):
        s = queries[i : i + chunk] @ index_vecs.T  # [c, N]
        if exclude is not None:
            for j, rows in enumerate(exclude[i : i + chunk]):
                s[j, rows] = -np.inf
        part = np.argpartition(-s, out.shape[1] - 1, axis=1)[:, : out.shape[1]]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        out[i : i + chunk] = np.where(np.take_along_axis(ps, order, axis=1) == -np.inf, -1, np.take_along_axis(part, order, axis=1))
    return out


def ranked_excluding(order: np.ndarray, k: int, exclude: np.ndarray | None, first: list[int] | np.ndarray = ()) -> list[int]:
    """`first`, then `order`, as index rows without repeats or `exclude`, up to k: a baseline's own
    picks filled from a fallback ranking."""
    banned = set() if exclude is None else set(exclude.tolist())
    picked: list[int] = []
    for source in (first, order):
        for row in source:
            row = int(row)
            if row not in banned:
                picked.append(row)
                banned.add(row)
                if len(picked) == k:
                    return picked
    return picked


def p90_coverage(top: np.ndarray, index_size: int) -> float:
    """Share of the index that fills 90 % of the top-10 slots (-1, an empty slot, is not counted)."""
    counts = np.sort(np.bincount(top[top >= 0], minlength=index_size))[::-1]
    if counts.sum() == 0:
        return 0.0
    needed = int(np.searchsorted(np.cumsum(counts), 0.9 * counts.sum(), side="left")) + 1
    return needed / index_size


def entropy_bits(labels: np.ndarray) -> float:
    labels = labels[labels >= 0]
    if len(labels) == 0:
        return 0.0
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


class EvalSet:
    """Evaluation users, their positives in the window, and the retrieval index.

    `exclude` (None here) holds, per user, index rows a ranking must leave out; `rows` maps each
    user to its row in the set it was derived from (`new_items`)."""

    def __init__(
        self,
        store: EventStore,
        eval_users: np.ndarray,
        cutoff_ms: int | np.ndarray,
        days: int = EVAL_DAYS,
        max_index: int = 1_000_000,
        seed: int = 0,
        ends_ms: np.ndarray | None = None,
    ) -> None:
        """`cutoff_ms`: one cutoff, or one per user; positives in [cutoff, end) with `ends_ms`
        (default cutoff + `days`)."""
        self.store = store
        cutoffs = np.broadcast_to(np.asarray(cutoff_ms, dtype=np.int64), (len(eval_users),))
        ends = cutoffs + days * DAY_MS if ends_ms is None else np.asarray(ends_ms, dtype=np.int64)
        self.cutoff_ms = int(cutoffs.max()) if len(cutoffs) else 0
        users, positives, first_ts, cuts = [], [], [], []
        for u, cut, window_end in zip(eval_users, cutoffs, ends):
            found = store.positives_between(int(u), int(cut), int(window_end))
            if found is None:
                continue  # no history before the cutoff (no embedding), or no positive in the window
            items, first = found
            users.append(int(u))
            positives.append(items)
            first_ts.append(first)
            cuts.append(int(cut))
        self.cutoffs = np.asarray(cuts, dtype=np.int64)  # per scored user
        self.users = np.asarray(users, dtype=np.int64)
        self.positives = positives  # per user: distinct corpus items
        self.first_ts = first_ts  # per user: ts of each positive item's first positive action
        n_items = store.num_corpus
        if n_items <= max_index:
            self.index = np.arange(n_items)
        else:
            rng = np.random.default_rng(seed)
            must = np.unique(np.concatenate(positives)) if positives else np.zeros(0, np.int64)
            rest = np.setdiff1d(np.arange(n_items), must)
            extra = rng.choice(rest, size=max(0, max_index - len(must)), replace=False)
            self.index = np.sort(np.concatenate([must, extra]))
        self.position_in_index = np.full(n_items, -1, dtype=np.int64)
        self.position_in_index[self.index] = np.arange(len(self.index))
        self.exclude: list[np.ndarray] | None = None
        self.rows = np.arange(len(self.users))

    def new_items(self) -> EvalSet:
        """The same users scored on items new to them: each user's positives among items it had no
        event on before its cutoff, ranked with those earlier items left out (a repeat can neither
        hit nor take a slot). Users whose positives are all repeats drop out."""
        new = copy.copy(self)
        keep, positives, first_ts, exclude = [], [], [], []
        for r, (u, cut, items, first) in enumerate(zip(self.users, self.cutoffs, self.positives, self.first_ts)):
            before = self.store.item_index[int(self.store.offsets[u]) : self.store.end_before(int(u), int(cut))]
            before = np.unique(before[before >= 0])
            fresh = ~np.isin(items, before)
            if not fresh.any():
                continue
            keep.append(r)
            positives.append(items[fresh])
            first_ts.append(first[fresh])
            rows = self.position_in_index[before]
            exclude.append(rows[rows >= 0])
        new.rows = self.rows[np.asarray(keep, dtype=np.int64)]
        new.users, new.cutoffs = self.users[keep], self.cutoffs[keep]
        new.positives, new.first_ts, new.exclude = positives, first_ts, exclude
        return new

    def __len__(self) -> int:
        return len(self.users)

    def retrieval_metrics(
        self, user_vecs: np.ndarray, index_vecs: np.ndarray, item_topics: np.ndarray | None = None
    ) -> dict:
        """Ranking metrics for user vectors [n, D] vs index vectors [I, D] (full ranking by dot product)."""
        return self.metrics_of_top(top_k(user_vecs, index_vecs, exclude=self.exclude), item_topics)

    def metrics_of_top(self, top: np.ndarray, item_topics: np.ndarray | None = None) -> dict:
        """Recall@10, HR@10, NDCG@10 (each ± standard error over users), P90 coverage@10, users
        scored, for each user's top 10 as positions in the index, best first (-1: empty). [n, 10]"""
        discount = 1.0 / np.log2(np.arange(TOP_K) + 2.0)
        recall, hit, ndcg = [], [], []
        for row, items in zip(top, self.positives):
            relevant = np.isin(row, self.position_in_index[items])
            recall.append(relevant.sum() / len(items))
            hit.append(float(relevant.any()))
            ideal = discount[: min(len(items), TOP_K)].sum()
            ndcg.append(float((discount[: len(row)] * relevant).sum() / ideal))
        out: dict = {}
        for name, values in (("recall_at_10", recall), ("hr_at_10", hit), ("ndcg_at_10", ndcg)):
            out[name] = float(np.mean(values)) if values else 0.0
            out[f"{name}_stderr"] = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
        out.update(p90_coverage_at_10=p90_coverage(top, len(self.index)), users=int(len(self.users)),
                   index_size=int(len(self.index)))
        if item_topics is not None:
            out["interest_entropy_top10_bits"] = float(np.mean([entropy_bits(item_topics[self.index[r[r >= 0]]]) for r in top]))
            out["interest_entropy_positives_bits"] = float(
                np.mean([entropy_bits(item_topics[p]) for p in self.positives])
            )
        return out

    def frequency_metrics(self, model: PinnerFormer, index_vecs: np.ndarray, max_length: int) -> dict:
        """Recall@10 of positives with the embedding refreshed once / daily / after every action."""
        result = {}
        for mode in ("once", "daily", "realtime"):
            req_user, req_cut, owner = [], [], []
            for k, (u, ts) in enumerate(zip(self.users, self.first_ts)):
                if mode == "once":
                    cuts = np.full(len(ts), self.cutoffs[k], dtype=np.int64)
                elif mode == "daily":
                    cuts = (ts // DAY_MS) * DAY_MS
                else:
                    cuts = ts.astype(np.int64)
                req_user.append(np.full(len(ts), u))
                req_cut.append(cuts)
                owner.append(np.full(len(ts), k))
            users_all, cuts_all, owner_all = (np.concatenate(x) for x in (req_user, req_cut, owner))
            # one embedding per distinct (user, cutoff)
            keys, inv = np.unique(np.stack([users_all, cuts_all], axis=1), axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            vecs, _ = embed_sequences(model, self.store, keys[:, 0], keys[:, 1], max_length)
            top = top_k(vecs, index_vecs)  # [keys, 10]
            items_all = np.concatenate(self.positives)
            hits = np.array([self.position_in_index[it] in top[j] for it, j in zip(items_all, inv)], dtype=np.float64)
            per_user = np.bincount(owner_all, weights=hits, minlength=len(self.users)) / np.bincount(
                owner_all, minlength=len(self.users)
            )
            result[mode] = float(per_user.mean()) if len(per_user) else 0.0
            result[f"{mode}_embeddings"] = int(len(keys))
        return result


def metrics_with_new_items(
    ev: EvalSet, rank: Callable[[EvalSet], np.ndarray], item_topics: np.ndarray | None = None
) -> dict:
    """`ev.metrics_of_top` of a ranking, with the same metrics on new items only under "new_items".
    `rank(e)` returns the top 10 (index rows) of `e`'s users, leaving out `e.exclude`."""
    out = ev.metrics_of_top(rank(ev), item_topics)
    new = ev.new_items()
    out["new_items"] = new.metrics_of_top(rank(new))
    return out


def eval_set(ds: Dataset, targets: Targets | None = None) -> EvalSet:
    """The scored users of a data set: its test targets (default) or `targets` (e.g. validation)."""
    t = targets if targets is not None else ds.test
    if t is None:  # a data set built without a split (tests): the time protocol's defaults
        return EvalSet(ds.store, ds.eval_users, ds.eval_cutoff_ms)
    return EvalSet(ds.store, t.users, t.cutoffs_ms, ends_ms=t.ends_ms)


