"""How stable daily embeddings are, and what "write only what changed" costs in quality.

For each objective (dense all action, next action) a small model is trained as in the ablation
(same data, model and steps); then the daily job is replayed over the 14 days after the training
cutoff t. On each day c, every user active on the day before (or whose served embedding reached
the refresh age) is re-embedded from the events before c, exactly as the embed stage does. The
served embedding is what the table would answer:

  write all   the new embedding, every time;
  policy θ    the stored one while cos(new, stored) >= θ and the stored one is younger than the
              refresh age (src/pipeline/write-policy.ts), else the new one (a write).

Reported per objective: the distribution of cos(new, stored) over the active users' re-embeddings
(stored = the served one under "write all": yesterday's, or the last day the user was embedded),
and per θ the writes a day, the share saved, and Recall@10 of the served embeddings (daily
protocol of docs/model.md: each positive item against the embedding served on the day of its first
positive action), with the paired difference to "write all" and its standard error.

CLI: python -m pinnerformer.write_policy [--steps 200] [--data ROOT [--eval-end YYYY-MM-DD]] [--out FILE]
Prints one JSON object on stdout (the bench reads it). Without --data it runs on the ablation's
synthetic data; --data takes an imported data root (e.g. `pinnerformer import movielens`), ids
only, with the 14 replayed days ending at --eval-end (default: the data's last day).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .ablation import BASE, DATA, EVAL_PERCENT, ID_VOCAB, MODEL, model_for, run_configs
from .config import DAY_MS, FeatureConfig
from .dataset import Split, load_dataset
from .evaluate import EVAL_DAYS, embed_sequences, item_embeddings, top_k
from .synthetic import ensure_synthetic
from .train import train_model

OBJECTIVES = ("dense_all_action", "next_action")
THRESHOLDS = (0.999, 0.995, 0.99, 0.98, 0.95, 0.9)
REFRESH_AGE_DAYS = 7  # the pipeline's default (src/pipeline/plan.ts)
PERCENTILES = (1, 5, 10, 25, 50, 75, 90)


def normalize(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1, n)


def simulate(
    fresh: np.ndarray, embedded: np.ndarray, threshold: float | None, refresh_age: int = REFRESH_AGE_DAYS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The served embeddings under one policy.

    fresh [days, users, D]: the embedding the run of each day would compute; embedded [days, users]:
    whether that run embeds the user (active the day before, or first seen). The refresh-age rule is
    applied here as in the pipeline: a user whose served item reached `refresh_age` days is embedded.
    threshold None writes every embedded user. Returns served [days, users, D], writes [days] and the
    cosines cos(new, stored) of the re-embeddings that had a stored item [n]."""
    days, users, dims = fresh.shape
    served = np.zeros_like(fresh)
    stored = np.zeros((users, dims), np.float32)
    stored_day = np.full(users, -1, np.int64)
    writes = np.zeros(days, np.int64)
    cosines = []
    for d in range(days):
        stale = (stored_day >= 0) & (d - stored_day >= refresh_age)
        pick = (embedded[d] | stale) & np.isfinite(fresh[d]).all(axis=1)
        have = pick & (stored_day >= 0)
        cos = np.einsum("ud,ud->u", fresh[d], stored)
        cosines.append(cos[have & embedded[d]])
        write = pick.copy()
        if threshold is not None:
            keep = have & (d - stored_day < refresh_age) & (cos >= threshold)
            write &= ~keep
        stored[write] = fresh[d][write]
        stored_day[write] = d
        writes[d] = int(write.sum())
        served[d] = stored
    return served, writes, np.concatenate(cosines) if cosines else np.zeros(0)


def daily_recall(served: np.ndarray, first_day: list[np.ndarray], positives: list[np.ndarray],
                 user_rows: np.ndarray, index_vecs: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per evaluation user: the share of their positive items in the top 10 of the embedding served
    on the day of the item's first positive action."""
    days = served.shape[0]
    tops = [top_k(served[d][user_rows], index_vecs) for d in range(days)]  # [users, 10] per day
    out = np.zeros(len(user_rows))
    for k, (items, day) in enumerate(zip(positives, first_day)):
        hits = [position[it] in tops[dd][k] for it, dd in zip(items, day)]
        out[k] = np.mean(hits)
    return out


def measure(steps: int, data: Path | None = None, eval_end: str | None = None) -> dict:
    fcfg = FeatureConfig(max_length=MODEL.max_length)
    if data is None:
        ds = load_dataset(ensure_synthetic(DATA), fcfg, eval_percent=EVAL_PERCENT, id_vocab=ID_VOCAB)
        mcfg = replace(MODEL, item_vector=ds.items.dim, id_vocab_size=len(ds.items) if ID_VOCAB else 0)
        described = DATA.to_json()
    else:
        # an imported data root: item ids only, as most adopters have them (the ablation's --no-items)
        split = Split(eval_end=eval_end, eval_percent=EVAL_PERCENT)
        ds = load_dataset(data, fcfg, eval_percent=EVAL_PERCENT, id_vocab=True, split=split, with_items=False)
        mcfg = model_for(ds)
        imports = sorted({json.loads(f.read_text()).get("source", "?") for f in Path(data).glob("imports/*.json")})
        described = {"root": str(data), "eval_end": eval_end, "items": "ids only",
                     "source": f"imported with pinnerformer import {', '.join(imports)}" if imports else "events only"}
    store = ds.store
    t = int(ds.eval_cutoff_ms)
    n_users = len(store.offsets) - 1
    users = np.arange(n_users)
    cuts = [t + d * DAY_MS for d in range(EVAL_DAYS)]
    # who each day's run embeds: users with an event on the day before (day 0: everyone with a history)
    embedded = np.zeros((EVAL_DAYS, n_users), bool)
    for d, c in enumerate(cuts):
        for u in users:
            a = store.end_before(int(u), c - DAY_MS)
            b = store.end_before(int(u), c)
            embedded[d, u] = (b > a) if d > 0 else b > int(store.offsets[u])
    # evaluation: each user's positive items in [t, t + 14 d), with the day of their first positive action
    eval_rows, positives, first_day = [], [], []
    for u in users:
        found = store.positives_between(int(u), t, t + EVAL_DAYS * DAY_MS)
        if found is None:
            continue
        items, first = found
        eval_rows.append(int(u))
        positives.append(items)
        first_day.append(((first - t) // DAY_MS).astype(np.int64))
    eval_rows_a = np.asarray(eval_rows)
    out: dict = {
        "data": {**described, "users": int(n_users), "days": EVAL_DAYS, "eval_users": len(eval_rows)},
        "refresh_age_days": REFRESH_AGE_DAYS,
        "thresholds": list(THRESHOLDS),
        "steps": steps,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "objectives": {},
    }
    for name in OBJECTIVES:
        t0 = time.time()
        run_model, tcfg = run_configs(name, mcfg, replace(BASE, steps=steps))
        model, stats = train_model(store, ds.train_users, t, run_model, tcfg, fcfg.max_length, progress=False, desc=name)
        train_s = time.time() - t0
        fresh = np.zeros((EVAL_DAYS, n_users, mcfg.embedding), np.float32)
        for d, c in enumerate(cuts):
            vecs, valid = embed_sequences(model, store, users, np.full(n_users, c), fcfg.max_length)
            fresh[d] = normalize(vecs)
            embedded[d] &= valid
        index_vecs = item_embeddings(model, store)
        position = np.arange(len(index_vecs))
        base_served, base_writes, cosines = simulate(fresh, embedded, None)
        base_recall = daily_recall(base_served, first_day, positives, eval_rows_a, index_vecs, position)
        rows = []
        for th in THRESHOLDS:
            served, writes, _ = simulate(fresh, embedded, th)
            recall = daily_recall(served, first_day, positives, eval_rows_a, index_vecs, position)
            diff = recall - base_recall
            rows.append({
                "threshold": th,
                # day 0 is the first run (everyone written either way): the steady days are 1..
                "writes_per_day": float(writes[1:].mean()),
                "saved_share": float(1 - writes[1:].sum() / max(1, base_writes[1:].sum())),
                "recall_at_10": float(recall.mean()),
                "recall_delta": float(diff.mean()),
                "recall_delta_stderr": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0,
            })
        out["objectives"][name] = {
            "train_seconds": round(train_s, 1),
            "final_loss": stats["final_loss"],
            "reembeddings": int(len(cosines)),
            "cosine_percentiles": {str(p): float(np.percentile(cosines, p)) for p in PERCENTILES} if len(cosines) else {},
            "cosine_mean": float(cosines.mean()) if len(cosines) else None,
            "share_at_least": {str(th): float((cosines >= th).mean()) if len(cosines) else 0.0 for th in THRESHOLDS},
            "write_all": {
                "writes_per_day": float(base_writes[1:].mean()),
                "recall_at_10": float(base_recall.mean()),
                "recall_stderr": float(base_recall.std(ddof=1) / np.sqrt(len(base_recall))),
            },
            "policy": rows,
            "default_threshold": choose_threshold(rows),
        }
        print(f"{name}: median cos {out['objectives'][name]['cosine_percentiles'].get('50')}", file=sys.stderr)
    return out


def choose_threshold(rows: list[dict]) -> float | None:
    """The threshold that saves the most writes while Recall@10 stays within noise of writing all:
    a mean paired drop no larger than one standard error of the paired difference (or than 0.001)."""
    ok = [r for r in rows if -r["recall_delta"] <= max(r["recall_delta_stderr"], 0.001)]
    return max(ok, key=lambda r: r["saved_share"])["threshold"] if ok else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=BASE.steps)
    p.add_argument("--data", type=Path, help="an imported data root (events/ only); default the ablation's synthetic data")
    p.add_argument("--eval-end", help="with --data: YYYY-MM-DD, the (exclusive) end of the 14 replayed days")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    result = measure(args.steps, args.data, args.eval_end)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
