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
New items: the same metrics over each user's positives on items it had no event on before t,
with those earlier items left out of its ranking; users whose positives are all repeats are
not scored there. It says what a ranking finds beyond the user's own history.
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

from .baselines import baselines_for
from .config import FeatureConfig, to_jsonable
from .corpus import embed_sequences, item_embeddings
from .dataset import EVAL_DAYS, Dataset, Split, Targets, load_dataset, load_item_topics
from .export import load_model_dir
from .model import PinnerFormer
from .ranking import TOP_K, EvalSet, entropy_bits, eval_set, metrics_with_new_items, p90_coverage, top_k
from .synthetic import ensure_training_data

__all__ = ["TOP_K", "EvalSet", "embed_sequences", "entropy_bits", "eval_set", "evaluate_model", "p90_coverage", "top_k"]


def evaluate_model(
    model: PinnerFormer, ds: Dataset, features: FeatureConfig, frequency: bool = False, targets: Targets | None = None,
    new_items: bool = True,
) -> dict:
    """Ranking metrics of a trained model on the data set's test users (or `targets`), the same on
    new items only (`new_items`), and optionally the inference-frequency comparison (time protocol)."""
    ev = eval_set(ds, targets)
    if len(ev) == 0:
        raise ValueError(
            "no evaluation user has history and a positive in the evaluation window: "
            "widen it (--eval-days, --eval-percent) or use --protocol leave_last_out"
        )
    items = item_embeddings(model, ds.store)[ev.index]
    users, _ = embed_sequences(model, ds.store, ev.users, ev.cutoffs, features.max_length)
    if new_items:
        out = metrics_with_new_items(ev, lambda e: top_k(users[e.rows], items, exclude=e.exclude), ds.item_topics)
    else:
        out = ev.retrieval_metrics(users, items, ds.item_topics)
    if frequency:
        out["frequency"] = ev.frequency_metrics(model, items, features.max_length)
    return out


def main(argv: list[str] | None = None) -> None:

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
        with_items=loaded.model.cfg.item_vector > 0,  # an id-only model ignores any item table
    )
    if ds.fingerprint != loaded.manifest.get("dataFingerprint"):
        print("note: data fingerprint differs from the one the model was trained on", file=sys.stderr)
    if loaded.id_vocab is not None:
        ds.store.attach_items(ds.items, loaded.vocabulary)  # the model's own vocabulary, not a recount
        ds.item_topics = load_item_topics(data, ds.store.corpus_ids)
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
