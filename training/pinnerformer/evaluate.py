"""Offline evaluation (docs/model.md, "Evaluation").

Protocol: held-out users (disjoint from training users) are embedded at the cutoff t from
their events before t. Their positives are the distinct corpus items of positive actions with
t <= ts < t + 14 d. Each user's top 10 comes from the index (every corpus item, or a random
sample of at most `max_index` items that always holds every evaluation positive), by cosine.

Recall@10 = mean over evaluation users with >= 1 positive of |top10(u) & P(u)| / |P(u)|.
P90 coverage@10 = (fewest index items that account for 90 % of all top-10 slots) / index size.
Interest entropy = mean over users of the Shannon entropy (bits) of the ground-truth topics of
their top 10 (and, for reference, of their positives), when topics are known.
Inference frequency: for each user's distinct positive item (its first positive action a in
the window), a hit is the item being in the top 10 of the embedding in use at a:
  once      computed at t;
  daily     computed at the start of a's day (from everything before that day);
  realtime  computed just before a (from everything before a).
The score is averaged per user, then over users; `once` equals Recall@10 by construction.

CLI: python -m pinnerformer.evaluate --model DIR [--data ROOT] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .config import DAY_MS, FeatureConfig
from .features import EventStore, featurize
from .model import PinnerFormer

EVAL_DAYS = 14
TOP_K = 10


@torch.no_grad()
def embed_sequences(
    model: PinnerFormer,
    store: EventStore,
    users: np.ndarray,
    cutoffs_ms: np.ndarray,
    max_length: int,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings [n, D] of (user, cutoff) requests from events before each cutoff, and a mask of
    requests that had >= 1 event (others get zeros)."""
    model.eval()
    device = next(model.parameters()).device
    n = len(users)
    out = np.zeros((n, model.cfg.embedding), dtype=np.float32)
    spans = []
    for u, c in zip(users, cutoffs_ms):
        end = store.end_before(int(u), int(c))
        spans.append(store.window(int(u), end, max_length))
    lengths = np.array([e - s for s, e in spans], dtype=np.int64)
    valid = lengths > 0
    order = np.flatnonzero(valid)
    order = order[np.argsort(lengths[order], kind="stable")]  # similar lengths share a batch
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        x = featurize(store, [spans[j] for j in idx], np.asarray(cutoffs_ms)[idx])
        t = {k: torch.from_numpy(v).to(device) for k, v in x.items()}
        emb = model(t["item_vec"], t["item_id"], t["action"], t["surface"], t["time_frac"], t["scalars"], t["lengths"])
        out[idx] = emb.float().cpu().numpy()
    return out, valid


@torch.no_grad()
def item_embeddings(model: PinnerFormer, store: EventStore, id_vocab: bool, batch_size: int = 8192) -> np.ndarray:
    """The item tower over every corpus item, [N, D]."""
    from .train import Corpus

    device = next(model.parameters()).device
    corpus = Corpus(store.vectors, id_vocab, device)
    parts = []
    for i in range(0, corpus.size, batch_size):
        items = torch.arange(i, min(i + batch_size, corpus.size), device=device)
        parts.append(corpus.embed(model, items).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, model.cfg.embedding), np.float32)


def top_k(queries: np.ndarray, index_vecs: np.ndarray, k: int = TOP_K, chunk: int = 1024) -> np.ndarray:
    """Rows of `index_vecs` with the k highest dot products per query, best first. [n, k]"""
    out = np.zeros((len(queries), min(k, len(index_vecs))), dtype=np.int64)
    for i in range(0, len(queries), chunk):
        s = queries[i : i + chunk] @ index_vecs.T  # [c, N]
        part = np.argpartition(-s, out.shape[1] - 1, axis=1)[:, : out.shape[1]]
        ps = np.take_along_axis(s, part, axis=1)
        out[i : i + chunk] = np.take_along_axis(part, np.argsort(-ps, axis=1, kind="stable"), axis=1)
    return out


def p90_coverage(top: np.ndarray, index_size: int) -> float:
    counts = np.sort(np.bincount(top.ravel(), minlength=index_size))[::-1]
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
    """Evaluation users, their positives in the window, and the retrieval index."""

    def __init__(
        self,
        store: EventStore,
        eval_users: np.ndarray,
        cutoff_ms: int,
        days: int = EVAL_DAYS,
        max_index: int = 1_000_000,
        seed: int = 0,
    ) -> None:
        self.store, self.cutoff_ms = store, int(cutoff_ms)
        window_end = self.cutoff_ms + days * DAY_MS
        users, positives, first_ts = [], [], []
        for u in eval_users:
            lo, hi = int(store.offsets[u]), int(store.offsets[u + 1])
            if store.end_before(int(u), self.cutoff_ms) == lo:
                continue  # no history before t: no embedding
            a = store.end_before(int(u), self.cutoff_ms)
            b = store.end_before(int(u), window_end)
            ev = np.arange(a, b)
            ev = ev[store.positive[ev] & (store.item_index[ev] >= 0)]
            if len(ev) == 0:
                continue
            items, first = np.unique(store.item_index[ev], return_index=True)
            users.append(int(u))
            positives.append(items)
            first_ts.append(store.ts[ev[first]])
        self.users = np.asarray(users, dtype=np.int64)
        self.positives = positives  # per user: distinct corpus items
        self.first_ts = first_ts  # per user: ts of each positive item's first positive action
        n_items = store.vectors.shape[0]
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

    def __len__(self) -> int:
        return len(self.users)

    def retrieval_metrics(
        self, user_vecs: np.ndarray, index_vecs: np.ndarray, item_topics: np.ndarray | None = None
    ) -> dict:
        """Recall@10, P90 coverage@10 (and entropies) for user vectors [n, D] vs index vectors [I, D]."""
        top = top_k(user_vecs, index_vecs)  # [n, 10] positions in the index
        recalls = []
        for row, items in zip(top, self.positives):
            hit = np.isin(self.position_in_index[items], row).sum()
            recalls.append(hit / len(items))
        out = {
            "recall_at_10": float(np.mean(recalls)) if recalls else 0.0,
            "recall_at_10_stderr": float(np.std(recalls) / np.sqrt(len(recalls))) if len(recalls) > 1 else 0.0,
            "p90_coverage_at_10": p90_coverage(top, len(self.index)),
            "users": int(len(self.users)),
            "index_size": int(len(self.index)),
        }
        if item_topics is not None:
            out["interest_entropy_top10_bits"] = float(np.mean([entropy_bits(item_topics[self.index[r]]) for r in top]))
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
                    cuts = np.full(len(ts), self.cutoff_ms, dtype=np.int64)
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


def evaluate_model(model: PinnerFormer, ds, features: FeatureConfig, frequency: bool = False) -> dict:  # noqa: ANN001
    """Recall@10 etc. of a trained model on the data set's held-out users (and optionally the
    inference-frequency comparison)."""
    ev = EvalSet(ds.store, ds.eval_users, ds.eval_cutoff_ms)
    if len(ev) == 0:
        raise ValueError("no evaluation user has a positive in the evaluation window")
    items = item_embeddings(model, ds.store, model.cfg.id_vocab_size > 0)[ev.index]
    users, _ = embed_sequences(model, ds.store, ev.users, np.full(len(ev), ev.cutoff_ms), features.max_length)
    out = ev.retrieval_metrics(users, items, ds.item_topics)
    if frequency:
        out["frequency"] = ev.frequency_metrics(model, items, features.max_length)
    return out


def baseline_popular(ds) -> dict:  # noqa: ANN001
    """Every user gets the 10 items with the most positive actions before t."""
    s = ds.store
    ev = EvalSet(s, ds.eval_users, ds.eval_cutoff_ms)
    mask = s.positive & (s.item_index >= 0) & (s.ts < ds.eval_cutoff_ms)
    counts = np.bincount(s.item_index[mask], minlength=s.vectors.shape[0])[ev.index].astype(np.float64)
    # a one-hot "embedding" per index item scored by popularity: the same top 10 for everyone
    scores = counts + np.linspace(0, 1e-6, len(counts))[::-1]
    return ev.retrieval_metrics(np.ones((len(ev), 1)), scores[:, None], ds.item_topics)


def baseline_mean_item(ds, recent: int = 32) -> dict:  # noqa: ANN001
    """A user's vector is the mean of the pretrained vectors of their `recent` latest items;
    items are scored by cosine with their pretrained vectors."""
    s = ds.store
    ev = EvalSet(s, ds.eval_users, ds.eval_cutoff_ms)
    vecs = s.vectors / np.maximum(np.linalg.norm(s.vectors, axis=1, keepdims=True), 1e-12)
    users = np.zeros((len(ev), vecs.shape[1]), dtype=np.float32)
    for k, u in enumerate(ev.users):
        end = s.end_before(int(u), ev.cutoff_ms)
        start, end = s.window(int(u), end, recent)
        idx = s.item_index[start:end]
        idx = idx[idx >= 0]
        if len(idx):
            users[k] = vecs[idx].mean(axis=0)
    return ev.retrieval_metrics(users, vecs[ev.index], ds.item_topics)


def main(argv: list[str] | None = None) -> None:
    from .export import load_model_dir
    from .synthetic import ensure_training_data

    p = argparse.ArgumentParser(prog="python -m pinnerformer.evaluate", description="Offline evaluation of a model directory")
    p.add_argument("--model", required=True, help="model directory (model.pt + manifest.json)")
    p.add_argument("--data", default=None, help="data root; default: regenerate the manifest's synthetic data")
    p.add_argument("--out", default=None, help="write the metrics JSON here")
    p.add_argument("--no-frequency", action="store_true", help="skip the once/daily/realtime comparison")
    args = p.parse_args(argv)
    from .dataset import load_dataset

    loaded = load_model_dir(args.model)
    data = Path(args.data) if args.data else ensure_training_data(loaded.manifest)
    ds = load_dataset(
        data,
        loaded.features,
        loaded.positives,
        eval_percent=loaded.manifest["training"]["evalPercent"],
        id_vocab=loaded.model.cfg.id_vocab_size > 0,
    )
    if ds.fingerprint != loaded.manifest.get("dataFingerprint"):
        print("note: data fingerprint differs from the one the model was trained on", file=sys.stderr)
    metrics = {
        "model": evaluate_model(loaded.model, ds, loaded.features, frequency=not args.no_frequency),
        "baseline_popular": baseline_popular(ds),
        "baseline_mean_item": baseline_mean_item(ds),
        "data": {"root": str(data), "fingerprint": ds.fingerprint, **ds.info},
    }
    text = json.dumps(metrics, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
