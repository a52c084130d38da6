"""Offline evaluation (docs/model.md, "Evaluation").

Protocol (dataset.py): each scored user is embedded at its cutoff t from its events before t
(time protocol: one t for all held-out users; leave-last-out: just before the user's last
positive). Its positives are the distinct corpus items of positive actions in [t, end). Each
user's top 10 comes from the index (every corpus item, or a random sample of at most
`max_index` items that always holds every evaluation positive), by cosine: full ranking.

Recall@10 = mean over evaluation users with >= 1 positive of |top10(u) & P(u)| / |P(u)|.
HR@10 = share of those users with at least one positive in the top 10.
NDCG@10 = mean of DCG / ideal DCG, DCG = sum over hits at rank r (0-based) of 1 / log2(r + 2).
Each comes with its standard error over users.
P90 coverage@10 = (fewest index items that account for 90 % of all top-10 slots) / index size.
Interest entropy = mean over users of the Shannon entropy (bits) of the ground-truth topics of
their top 10 (and, for reference, of their positives), when topics are known.
Inference frequency: for each user's distinct positive item (its first positive action a in
the window), a hit is the item being in the top 10 of the embedding in use at a:
  once      computed at t;
  daily     computed at the start of a's day (from everything before that day);
  realtime  computed just before a (from everything before a).
The score is averaged per user, then over users; `once` equals Recall@10 by construction.

CLI: python -m pinnerformer.evaluate --model DIR [--data ROOT] [--protocol ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .config import DAY_MS, FeatureConfig, to_jsonable
from .corpus import item_embeddings
from .dataset import EVAL_DAYS, Dataset, Split, Targets, load_dataset
from .export import load_model_dir
from .features import EventStore, featurize
from .model import PinnerFormer
from .synthetic import ensure_training_data

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
            lo = int(store.offsets[u])
            a = store.end_before(int(u), int(cut))
            if a == lo:
                continue  # no history before t: no embedding
            b = store.end_before(int(u), int(window_end))
            ev = np.arange(a, b)
            ev = ev[store.positive[ev] & (store.item_index[ev] >= 0)]
            if len(ev) == 0:
                continue
            items, first = np.unique(store.item_index[ev], return_index=True)
            users.append(int(u))
            positives.append(items)
            first_ts.append(store.ts[ev[first]])
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

    def __len__(self) -> int:
        return len(self.users)

    def retrieval_metrics(
        self, user_vecs: np.ndarray, index_vecs: np.ndarray, item_topics: np.ndarray | None = None
    ) -> dict:
        """Ranking metrics for user vectors [n, D] vs index vectors [I, D] (full ranking by dot product)."""
        return self.metrics_of_top(top_k(user_vecs, index_vecs), item_topics)

    def metrics_of_top(self, top: np.ndarray, item_topics: np.ndarray | None = None) -> dict:
        """Recall@10, HR@10, NDCG@10 (each ± standard error over users), P90 coverage@10, users
        scored, for each user's top 10 as positions in the index, best first. [n, 10]"""
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


def eval_set(ds: Dataset, targets: Targets | None = None) -> EvalSet:
    """The scored users of a data set: its test targets (default) or `targets` (e.g. validation)."""
    t = targets if targets is not None else ds.test
    if t is None:  # a data set built without a split (tests): the time protocol's defaults
        return EvalSet(ds.store, ds.eval_users, ds.eval_cutoff_ms)
    return EvalSet(ds.store, t.users, t.cutoffs_ms, ends_ms=t.ends_ms)


def evaluate_model(
    model: PinnerFormer, ds: Dataset, features: FeatureConfig, frequency: bool = False, targets: Targets | None = None
) -> dict:
    """Ranking metrics of a trained model on the data set's test users (or `targets`), and
    optionally the inference-frequency comparison (time protocol)."""
    ev = eval_set(ds, targets)
    if len(ev) == 0:
        raise ValueError(
            "no evaluation user has history and a positive in the evaluation window: "
            "widen it (--eval-days, --eval-percent) or use --protocol leave_last_out"
        )
    items = item_embeddings(model, ds.store)[ev.index]
    users, _ = embed_sequences(model, ds.store, ev.users, ev.cutoffs, features.max_length)
    out = ev.retrieval_metrics(users, items, ds.item_topics)
    if frequency:
        out["frequency"] = ev.frequency_metrics(model, items, features.max_length)
    return out


def main(argv: list[str] | None = None) -> None:
    from .baselines import baselines_for  # baselines build on this module

    p = argparse.ArgumentParser(prog="python -m pinnerformer.evaluate", description="Offline evaluation of a model directory")
    p.add_argument("--model", required=True, help="model directory (model.pt + manifest.json)")
    p.add_argument("--data", default=None, help="data root; default: regenerate the manifest's synthetic data")
    p.add_argument("--out", default=None, help="write the metrics JSON here")
    p.add_argument("--no-frequency", action="store_true", help="skip the once/daily/realtime comparison")
    add_split_args(p, default_protocol=None)
    args = p.parse_args(argv)
    loaded = load_model_dir(args.model)
    trained = loaded.manifest["training"]
    split = split_from_args(args, trained.get("split"))
    data = Path(args.data) if args.data else ensure_training_data(loaded.manifest)
    items = loaded.manifest.get("items", {})
    ds = load_dataset(
        data, loaded.features, loaded.positives, id_vocab=loaded.model.cfg.id_vocab_size > 0, split=split,
        min_item_count=int(items.get("minCount", 1)), hash_buckets=loaded.model.cfg.hash_buckets,
    )
    if ds.fingerprint != loaded.manifest.get("dataFingerprint"):
        print("note: data fingerprint differs from the one the model was trained on", file=sys.stderr)
    if loaded.id_vocab is not None:
        ds.store.attach_items(ds.items, loaded.vocabulary)  # the model's own vocabulary, not a recount
    frequency = not args.no_frequency and split.protocol == "time"
    metrics = {"model": evaluate_model(loaded.model, ds, loaded.features, frequency=frequency)}
    metrics.update(baselines_for(ds))
    metrics["data"] = {"root": str(data), "fingerprint": ds.fingerprint, **ds.info}
    metrics["protocol"] = to_jsonable(split)
    text = json.dumps(metrics, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)


def add_split_args(p: argparse.ArgumentParser, default_protocol: str | None = "time") -> None:
    p.add_argument("--protocol", default=default_protocol, choices=["time", "leave_last_out"],
                   help="time: a window after a cutoff, held-out users; leave_last_out: each user's last positive")
    p.add_argument("--eval-days", type=int, default=None, help=f"time: evaluation window in days (default {EVAL_DAYS})")
    p.add_argument("--eval-end", default=None, help="time: YYYY-MM-DD end (exclusive) of the window (default: the data's end)")
    p.add_argument("--eval-percent", type=int, default=None,
                   help="share of users scored (default: 10 for time, 100 for leave_last_out)")
    p.add_argument("--max-eval-users", type=int, default=None, help="at most this many users scored (default 20000)")


def split_from_args(args: argparse.Namespace, recorded: dict | None = None, validation: bool = False) -> Split:
    """A Split from the CLI flags; unset flags fall back to `recorded` (a model's manifest), then defaults."""
    base = dict(recorded or {})
    base.pop("validation", None)
    protocol = args.protocol or base.get("protocol", "time")
    if protocol != base.get("protocol", protocol):
        base = {}
    fields = {"protocol": protocol, **{k: v for k, v in base.items() if k in Split.__dataclass_fields__}}
    fields.setdefault("eval_percent", 10 if protocol == "time" else 100)
    for flag, key in (("eval_days", "eval_days"), ("eval_end", "eval_end"), ("eval_percent", "eval_percent"),
                      ("max_eval_users", "max_eval_users")):
        if getattr(args, flag) is not None:
            fields[key] = getattr(args, flag)
    return Split(**fields, validation=validation)


if __name__ == "__main__":
    main()
