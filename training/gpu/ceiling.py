"""What leave-last-out Recall@10 the generator allows, and where a trained model's top 10 falls short.

    python training/gpu/ceiling.py --data ROOT [--model SAVE [--leans 0,0.5,1]]   (SAVE from trial.py --save)

Needs a generated data root (its truth/items.parquet: each item's topic, sub-cluster and
popularity rank). Prints, on the same scored users as trial.py's leave-last-out protocol:
  ceiling        the generator's own next-item law (src/synth/sessions.ts): the session's topic,
                 a posterior over its sub-cluster from the session's items, Zipf popularity inside;
                 with and without the session's items excluded
  co-occurrence  the harness's baseline (baselines.py)
  focus          for co-occurrence and the model: the share of the top 10 in the last item's topic
                 and in its sub-cluster, its median popularity rank and its "seen" share (items among
                 the user's last SEEN), beside the same figures for the targets
  leans          the model re-ranked with normalise(u + w * e(last item)) for each --leans w: how much
                 a plain pull toward the last item would add to the trained embedding; with
                 --lean-recent K the pull is toward the mean of the last K items' embeddings, the
                 newest weighted most (RECENT_DECAY per step back)
  popularity     with --pop-bias B,...: the lean-0 ranking scored cos(u, e) + B * log(1 + positives)
  recency        each ranking's Recall@10 split by where the target stands in the user's distinct
                 history: the last item, 2-5, 6-20, older, or never seen
"""
import argparse
import json

import numpy as np
import pyarrow.parquet as pq
import torch

from pinnerformer.baselines import cooccurrence_top, positive_counts
from pinnerformer.config import FeatureConfig, ModelConfig
from pinnerformer.corpus import embed_sequences, item_embeddings
from pinnerformer.dataset import Split, load_dataset
from pinnerformer.model import PinnerFormer
from pinnerformer.ranking import eval_set, top_k

SESSION_MS = 30 * 60 * 1000  # events this close before the last one count as its session
SUB_FOCUS = 0.6  # the generator's default subclusterFocus
ZIPF = 0.9  # the generator's default zipfExponent
SEEN = 20  # a top 10's "seen" share: its items among the user's last SEEN items
RECENT_DECAY = 0.7  # --lean-recent: each step back weighs this much less
RECENCY = (("last item", 0, 1), ("items 2-5", 1, 5), ("items 6-20", 5, 20), ("older", 20, np.inf))


def truth_columns(root: str, corpus_ids: list[str]) -> dict[str, np.ndarray]:
    t = pq.read_table(f"{root}/truth/items.parquet").to_pydict()
    row = {item: i for i, item in enumerate(t["item_id"])}
    take = [row[c] for c in corpus_ids]
    out = {k: np.asarray(t[k])[take] for k in ("topic", "subcluster", "popularity_rank")}
    out["group"] = out["topic"] * (out["subcluster"].max() + 1) + out["subcluster"]
    return out


def recent(ds, u: int, cut: int) -> tuple[np.ndarray, np.ndarray]:
    s = ds.store
    lo, end = int(s.offsets[u]), s.end_before(u, cut)
    return s.item_index[lo:end], s.ts[lo:end]


def ceiling_top(ds, ev, tr: dict, exclude_session: bool) -> np.ndarray:
    zipf = (tr["popularity_rank"] + 1.0) ** -ZIPF
    topic, group, subs = tr["topic"], tr["group"], tr["subcluster"].max() + 1
    group_mass = np.bincount(group, weights=zipf, minlength=group.max() + 1)
    topic_mass = np.bincount(topic, weights=zipf, minlength=topic.max() + 1)
    top = np.zeros((len(ev), 10), dtype=np.int64)
    for r, (u, cut) in enumerate(zip(ev.users, ev.cutoffs)):
        idx, ts = recent(ds, int(u), int(cut))
        t = topic[idx[-1]]
        session = idx[ts >= ts[-1] - SESSION_MS]
        groups = t * subs + np.arange(subs)
        like = np.ones(subs)  # P(session items | sub-cluster g), normalised as it goes
        for it in session[topic[session] == t]:
            own = np.where(group[it] == groups, SUB_FOCUS * zipf[it] / np.maximum(group_mass[groups], 1e-12), 0.0)
            like *= own + (1 - SUB_FOCUS) * zipf[it] / topic_mass[t]
            like /= like.sum()
        p = (1 - SUB_FOCUS) * (topic == t) * zipf / topic_mass[t]
        for g, w in zip(groups, like):
            if group_mass[g] > 0:
                p = p + w * SUB_FOCUS * (group == g) * zipf / group_mass[g]
        p = p + 1e-12 * zipf
        if exclude_session:
            p[session] = -1.0
        top[r] = np.argsort(-p, kind="stable")[:10]
    return top


def model_tops(ds, ev, save: str, histories: list[np.ndarray], leans: list[float], recent_items: int,
               pop_bias: list[float]) -> dict[str, np.ndarray]:
    """The model's top 10 per lean w: users ranked by normalise(u + w * lean) (0: as trained), where
    the lean is the last item's embedding or, with `recent_items` > 1, the decayed mean of the last ones';
    then the lean-0 ranking with each popularity bias."""
    model = PinnerFormer(ModelConfig(**json.loads(open(save + ".json").read())))
    model.load_state_dict(torch.load(save + ".pt"))
    model.eval()
    with torch.no_grad():
        every = item_embeddings(model, ds.store)
        users, _ = embed_sequences(model, ds.store, ev.users, ev.cutoffs, model.cfg.max_length)
    k = max(recent_items, 1)
    lean = np.zeros_like(users)
    for r, h in enumerate(histories):
        newest = h[::-1][:k]
        w = RECENT_DECAY ** np.arange(len(newest))
        lean[r] = (every[newest] * w[:, None]).sum(0) / w.sum()
    name = "last item" if k == 1 else f"last {k} items"
    out = {}
    for w in leans:
        q = users + w * lean
        out[f"model, lean {w:g} toward the {name}"] = ev.index[top_k(q / np.linalg.norm(q, axis=1, keepdims=True), every[ev.index])]
    log_pop = np.log1p(positive_counts(ds))[ev.index]
    ones = np.ones((len(users), 1), users.dtype)
    for b in pop_bias:  # cos(u, e) + b * log_pop as one dot product: [u, 1] . [e, b * log_pop]
        biased = np.hstack([every[ev.index], b * log_pop[:, None]]).astype(users.dtype)
        out[f"model, popularity bias {b:g}"] = ev.index[top_k(np.hstack([users, ones]), biased)]
    return out


def target_places(ev, histories: list[np.ndarray]) -> np.ndarray:
    """Per scored user: where its target first stands in its distinct history, newest first
    (0: the last item; -1: never seen)."""
    where = np.full(len(histories), -1)
    for r, (h, t) in enumerate(zip(histories, ev.positives)):
        newest = h[::-1]
        _, first = np.unique(newest, return_index=True)
        at = np.flatnonzero(np.isin(newest[np.sort(first)], t))
        where[r] = at[0] if len(at) else -1
    return where


def recency_line(top: np.ndarray, ev, places: np.ndarray) -> str:
    """Recall@10 by where the target stands in the user's distinct history (target_places)."""
    hit = np.array([np.isin(t, top[r]).any() for r, t in enumerate(ev.positives)])
    masks = [(name, (places >= lo) & (places < hi)) for name, lo, hi in RECENCY] + [("never seen", places == -1)]
    parts = [f"{name} {hit[m].mean():.3f} ({m.mean():.0%})" for name, m in masks]
    return "    recall by target: " + ", ".join(parts)


def report(name: str, top: np.ndarray, ev, tr: dict, last: np.ndarray, seen: list[set] | None = None,
           places: np.ndarray | None = None) -> None:
    m = ev.metrics_of_top(ev.position_in_index[top])
    if seen is not None:
        share = np.mean([len(seen[r].intersection(top[r].tolist())) for r in range(len(top))]) / top.shape[1]
        name = f"{name} [seen {share:.2f}]"
    same_topic = (tr["topic"][top] == tr["topic"][last][:, None]).mean()
    same_group = (tr["group"][top] == tr["group"][last][:, None]).mean()
    print(f"{name:<34} R@10 {m['recall_at_10']:.4f} ± {m['recall_at_10_stderr']:.4f}   "
          f"top 10 in last item's topic {same_topic:.3f}, sub-cluster {same_group:.3f}, "
          f"median popularity rank {np.median(tr['popularity_rank'][top]):.0f}", flush=True)
    if places is not None:
        print(recency_line(top, ev, places), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="", help="a trial.py --save prefix")
    p.add_argument("--min-item-count", type=int, default=2)
    p.add_argument("--leans", default="0", help="comma-separated weights of the last item's embedding added "
                   "to the model's user embedding after training (0: as trained)")
    p.add_argument("--lean-recent", type=int, default=1, help="lean toward the decayed mean of the last K items")
    p.add_argument("--pop-bias", default="", help="comma-separated B: rank by cos(u, e) + B * log(1 + positives)")
    a = p.parse_args()
    split = Split(protocol="leave_last_out", eval_percent=100, validation=True)
    ds = load_dataset(a.data, FeatureConfig(max_length=256), id_vocab=True, split=split,
                      min_item_count=a.min_item_count, hash_buckets=256, with_items=False)
    ev = eval_set(ds)
    tr = truth_columns(a.data, list(ds.store.corpus_ids))
    histories = [recent(ds, int(u), int(c))[0] for u, c in zip(ev.users, ev.cutoffs)]
    last = np.array([h[-1] for h in histories])
    targets = np.array([p[0] for p in ev.positives])
    seen = [set(h[-SEEN:].tolist()) for h in histories]
    places = target_places(ev, histories)
    print(f"targets among the user's last {SEEN} items: {np.mean([t in s for t, s in zip(targets, seen)]):.3f}")
    print(f"{len(ev)} users; targets in the last item's topic {np.mean(tr['topic'][targets] == tr['topic'][last]):.3f}, "
          f"sub-cluster {np.mean(tr['group'][targets] == tr['group'][last]):.3f}, "
          f"median popularity rank {np.median(tr['popularity_rank'][targets]):.0f}")
    report("ceiling, session items excluded", ceiling_top(ds, ev, tr, True), ev, tr, last, seen, places)
    report("ceiling", ceiling_top(ds, ev, tr, False), ev, tr, last, seen, places)
    report("co-occurrence baseline", ev.index[cooccurrence_top(ds, ev)], ev, tr, last, seen, places)
    if a.model:
        leans = [float(x) for x in a.leans.split(",")]
        biases = [float(x) for x in a.pop_bias.split(",") if x]
        for name, top in model_tops(ds, ev, a.model, histories, leans, a.lean_recent, biases).items():
            report(name, top, ev, tr, last, seen, places)


if __name__ == "__main__":
    main()
