"""Training loop: sampled softmax over (position, positive) pairs; checkpoint, resume, progress.

CLI: python -m pinnerformer.train --data ROOT --out DIR [options]  (see --help)
trains on the data set's training users, evaluates on the held-out users and writes a model
directory (docs/model-interface.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .config import FeatureConfig, ModelConfig, PositiveConfig, TrainConfig, to_jsonable
from .corpus import Corpus
from .data import Batch, ExampleSampler
from .dataset import Dataset, NoPositivesError, Split, load_dataset
from .evaluate import add_split_args, eval_set, evaluate_model, split_from_args
from .export import export_model_dir
from .item_init import cooccurrence_vectors, init_id_embeddings
from .losses import ItemFrequency
from .model import PinnerFormer
from .synthetic import REPO


AUTO_MIN_USERS = 1000  # without --protocol: fewer users the time protocol can score -> leave_last_out
# without --skip-init: the last-item skip starts here when more than REPEAT_SHARE of the training
# positives repeat the item of the user's event just before them (a cart of the item just viewed),
# else at ModelConfig's start (reports/ablation-variants.md, "Eighth session" and "Ninth session")
REPEAT_SHARE, REPEAT_SKIP_START = 0.5, 16.0
# without --eval-every: validate once per pass over the training users, within these bounds (the
# lower one is TrainConfig.warmup_steps: weights still warming up are not worth keeping)
MIN_EVAL_EVERY, MAX_EVAL_EVERY = 50, 200
# without --validate-on: early stopping scores new items only when fewer than this share of the
# training positives are on an item the user had before (reports/ablation-variants.md, "Ninth session")
NEW_ITEMS_SHARE = 0.1


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train_model(
    store,  # noqa: ANN001 - features.EventStore
    train_users: np.ndarray,
    label_end_ms: int | np.ndarray,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    max_length: int,
    checkpoint: Path | None = None,
    progress: bool = True,
    desc: str = "train",
    stop_at: int | None = None,
    validate: Callable[[PinnerFormer], float] | None = None,
    validation_name: str = "recall@10",
) -> tuple[PinnerFormer, dict]:
    """Trains a model; resumes from `checkpoint` when it exists and saves to it periodically.
    `stop_at` ends the run early (after that step, with a checkpoint), as an interruption would.
    With `validate` (a score, higher is better) and `tcfg.eval_every`, validates every that many
    steps, stops after `tcfg.patience` validations without improvement (`tcfg.steps` is the cap)
    and returns the best validated weights (`validation_name` names the score in the progress lines).
    `label_end_ms`: one time, or one per store user."""
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    device = pick_device(tcfg.device)
    set_seed(tcfg.seed)
    # two streams: examples (restartable at a pool boundary) and negatives
    data_rng, rng = (np.random.default_rng(s) for s in np.random.SeedSequence(tcfg.seed).spawn(2))
    model = PinnerFormer(mcfg).to(device)
    corpus = Corpus(store, device)
    freq = ItemFrequency(corpus.size).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tcfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=tcfg.lr
    )
    sampler = ExampleSampler(store, train_users, label_end_ms, tcfg, max_length, data_rng)
    step, losses, seconds = 0, [], 0.0
    early = {"best": -1.0, "best_step": 0, "bad": 0, "history": [], "best_state": None}
    pool: list[Batch] = []
    pool_state, pool_used = data_rng.bit_generator.state, 0
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        freq.load_state_dict(state["freq"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, losses, seconds = state["step"], state["losses"], state["seconds"]
        early = state.get("early", early)
        # re-draw the current pool from its starting state and skip the batches already used
        data_rng.bit_generator.state = state["pool_state"]
        pool_state, pool_used = state["pool_state"], state["pool_used"]
        if pool_used:
            pool = sampler.sample_pool(tcfg.batch_size, tcfg.pool)[pool_used:]
        print(f"resumed from {checkpoint} at step {step}", file=sys.stderr)
    elif tcfg.cooccurrence_init and mcfg.id_vocab_size:  # a fresh start: id rows from the events' co-occurrence
        vectors = cooccurrence_vectors(store, train_users, label_end_ms, mcfg.id_dim, seed=tcfg.seed)
        init_id_embeddings(model.item_id_emb, store.corpus_codes, vectors, mcfg.id_vocab_size)
    use_bf16 = tcfg.bf16 and device.type == "cuda"
    model.train()
    bar = tqdm(total=tcfg.steps, initial=step, desc=desc, disable=not progress, file=sys.stderr, dynamic_ncols=True)
    sequences = tokens = 0
    t0 = time.perf_counter()
    last = tcfg.steps if stop_at is None else min(stop_at, tcfg.steps)
    while step < last:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tcfg)
        if not pool:
            pool_state, pool_used = data_rng.bit_generator.state, 0
            pool = sampler.sample_pool(tcfg.batch_size, tcfg.pool)
        batch = pool.pop(0)
        pool_used += 1
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = model.loss(batch, corpus, freq, tcfg, rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tcfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()
        step += 1
        losses.append(float(loss.detach()))
        sequences += len(batch.inputs["lengths"])
        tokens += int(batch.inputs["lengths"].sum())
        elapsed = time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", seq_s=f"{sequences / max(elapsed, 1e-9):.0f}",
                        tok_s=f"{tokens / max(elapsed, 1e-9):.0f}",
                        tau=f"{float(model.temperature().detach()):.3f}")
        stop = False
        if validate is not None and tcfg.eval_every and (step % tcfg.eval_every == 0 or step == tcfg.steps):
            stop = validation_step(model, validate, step, early, tcfg.patience)
            bar.write(f"step {step}: validation {validation_name} {early['history'][-1][1]:.4f} (best {early['best']:.4f})")
        if checkpoint is not None and (step % tcfg.checkpoint_every == 0 or step == last or stop):
            save_checkpoint(
                checkpoint, model, opt, freq, rng, step, losses, seconds + elapsed,
                pool_state if pool else data_rng.bit_generator.state, pool_used if pool else 0, early,
            )
        if stop:
            break
    bar.close()
    if early["best_state"] is not None:
        model.load_state_dict(early["best_state"])
    seconds += time.perf_counter() - t0
    model.eval()
    stats = {
        "steps": step,
        "seconds": round(seconds, 1),
        "initial_loss": float(np.mean(losses[:10])) if losses else None,
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        "temperature": float(model.temperature().detach()),
        "device": device.type,
    }
    if early["history"]:
        stats.update(best_step=early["best_step"], validation_recall_at_10=early["best"],
                     validation_history=early["history"], early_stopped=step < tcfg.steps)
    return model, stats


def validation_step(model: PinnerFormer, validate: Callable[[PinnerFormer], float], step: int, early: dict,
                    patience: int) -> bool:
    """Scores the model, keeps its weights when best so far; True when training should stop."""
    model.eval()
    score = float(validate(model))
    model.train()
    early["history"].append([step, round(score, 5)])
    if score > early["best"]:
        early.update(best=score, best_step=step, bad=0,
                     best_state={k: v.detach().clone() for k, v in model.state_dict().items()})
    else:
        early["bad"] += 1
    return early["bad"] >= patience


def save_checkpoint(path: Path, model, opt, freq, rng, step, losses, seconds, pool_state, pool_used, early=None) -> None:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "freq": freq.state_dict(),
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "losses": losses,
            "seconds": seconds,
            "pool_state": pool_state,
            "pool_used": pool_used,
            "early": early,
        },
        tmp,
    )
    os.replace(tmp, path)


NEXT_EVENT_SHARE = 1.0  # `python -m pinnerformer.train`'s default; TrainConfig keeps the paper's loss
LAST_ITEM_SKIP = True  # the same CLI's model leans toward the last item; ModelConfig keeps the paper's model


def add_train_args(p: argparse.ArgumentParser, steps: int | None = None, dropout: float | None = None,
                   next_event_share: float | None = None, last_item_skip: bool | None = None) -> None:
    d, m = TrainConfig(), ModelConfig()
    p.add_argument("--objective", default=d.objective, choices=["next_action", "sasrec", "all_action", "dense_all_action"])
    p.add_argument("--negatives", default=d.negatives, choices=["random", "in_batch", "mixed"])
    p.add_argument("--no-logq", action="store_true", help="disable the logQ correction")
    p.add_argument("--steps", "--max-steps", dest="steps", type=int, default=steps or d.steps,
                   help="training steps (with validation: the cap)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--horizon-days", type=int, default=d.horizon_days)
    p.add_argument("--random-negatives", type=int, default=d.random_negatives)
    p.add_argument("--next-positive-share", type=float, default=d.next_positive_share,
                   help="dense_all_action: weight of each position's next positive beside its random one")
    p.add_argument("--next-event-share", type=float,
                   default=d.next_event_share if next_event_share is None else next_event_share,
                   help="dense_all_action: weight of a pair whose target is the position's next event of any "
                        "action (0: the paper's positives-only loss)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda or auto")
    p.add_argument("--no-bf16", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--layers", type=int, default=m.layers)
    p.add_argument("--hidden", type=int, default=m.hidden)
    p.add_argument("--heads", type=int, default=m.heads)
    p.add_argument("--embedding", type=int, default=m.embedding)
    p.add_argument("--max-length", type=int, default=m.max_length)
    p.add_argument("--dropout", type=float, default=m.dropout if dropout is None else dropout)
    p.add_argument("--random-id-init", action="store_true",
                   help="start item-id embeddings from noise instead of the training events' co-occurrence")
    p.add_argument("--last-item-skip", action=argparse.BooleanOptionalAction,
                   default=m.last_item_skip if last_item_skip is None else last_item_skip,
                   help="lean the user embedding toward the most recent item's embedding by a learned weight")
    p.add_argument("--skip-init", type=float, default=None,
                   help=f"the last-item skip's starting weight (default: {REPEAT_SKIP_START} when most positives "
                        "repeat the item just before them, as on retail logs; else 0.5)")
    p.add_argument("--id-dim", type=int, default=0,
                   help="width of the learned item-id embedding (0: the embedding width without an item table, else 16)")


def configs_from_args(args: argparse.Namespace, item_dim: int) -> tuple[FeatureConfig, ModelConfig, TrainConfig]:
    fcfg = FeatureConfig(max_length=args.max_length)
    mcfg = ModelConfig(
        layers=args.layers, hidden=args.hidden, heads=args.heads, embedding=args.embedding,
        max_length=args.max_length, item_vector=item_dim,
        id_dim=args.id_dim or (args.embedding if item_dim == 0 else ModelConfig().id_dim), dropout=args.dropout,
        num_actions=len(fcfg.action_vocab), num_surfaces=len(fcfg.surface_vocab), time_dims=fcfg.time_dims,
        last_item_skip=args.last_item_skip,
        last_item_skip_init=ModelConfig().last_item_skip_init if args.skip_init is None else args.skip_init,
    )
    tcfg = TrainConfig(
        objective=args.objective, negatives=args.negatives, logq=not args.no_logq, steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, horizon_days=args.horizon_days,
        random_negatives=args.random_negatives, seed=args.seed, device=args.device, bf16=not args.no_bf16,
        threads=args.threads, next_positive_share=args.next_positive_share, next_event_share=args.next_event_share,
        cooccurrence_init=not args.random_id_init,
    )
    return fcfg, mcfg, tcfg


def positives_from_args(args: argparse.Namespace) -> PositiveConfig:
    """--positive-actions A,B: those actions are positives whatever their duration (replaces the
    default rule: a save, or a click/closeup of at least 10 s)."""
    if not args.positive_actions:
        return PositiveConfig()
    actions = tuple(a for a in args.positive_actions.split(",") if a)
    unknown = [a for a in actions if a not in FeatureConfig().action_vocab]
    if unknown:
        raise SystemExit(f"--positive-actions: unknown actions {unknown}; choose from {list(FeatureConfig().action_vocab)}")
    return PositiveConfig(actions=actions, min_duration_ms={})


def repeat_share(ds: Dataset) -> float:
    """Share of the training-visible positives whose item is the item of the user's event just before."""
    s, pos = ds.store, ds.visible_positives()
    if not len(pos):
        return 0.0
    prev = np.maximum(pos - 1, 0)  # events are grouped by user, in time order
    repeat = (pos > 0) & (s.event_user[prev] == s.event_user[pos]) & (s.item_index[prev] == s.item_index[pos])
    return float(repeat.mean())


def history_share(ds: Dataset) -> float:
    """Share of the training-visible positives on an item the user had any earlier event on."""
    s, pos = ds.store, ds.visible_positives()
    if not len(pos):
        return 0.0
    on_items = np.flatnonzero(s.item_index >= 0)  # grouped by user, in time order
    keys = s.event_user[on_items].astype(np.int64) * max(s.num_corpus, 1) + s.item_index[on_items]
    _, first = np.unique(keys, return_index=True)
    first_event = np.zeros(len(s.item_index), dtype=bool)
    first_event[on_items[first]] = True
    return float((~first_event[pos]).mean())


def validation_target(ds: Dataset) -> tuple[str, float]:
    """What early stopping scores: "new_items" when almost no positive repeats an item the user had
    before (ratings: nobody rates a film twice), else "all". On such data the user's own items fill
    the top of a cosine ranking and hide what the model learns about the rest: there, recall over
    every item falls while recall over new items still rises (reports/ablation-variants.md)."""
    share = history_share(ds)
    return ("new_items" if share < NEW_ITEMS_SHARE else "all"), share


def validator(ds: Dataset, fcfg: FeatureConfig, target: str) -> Callable[[PinnerFormer], float]:
    """Early stopping's score: validation Recall@10 over every item (`target` "all") or over new
    items only ("new_items"; `validation_target`)."""
    new_items = target == "new_items"

    def validate(model: PinnerFormer) -> float:
        m = evaluate_model(model, ds, fcfg, targets=ds.validation, new_items=new_items)
        return m["new_items"]["recall_at_10"] if new_items else m["recall_at_10"]

    return validate


def skip_start(ds: Dataset) -> tuple[float, float]:
    """The last-item skip's starting weight for this data, and the repeat share it follows. The
    loss moves that weight slowly (about lr a step), and a data set whose positives mostly repeat
    the last item (retail: view, cart, purchase of one item) is served by a far larger one."""
    share = repeat_share(ds)
    return (REPEAT_SKIP_START if share > REPEAT_SHARE else ModelConfig().last_item_skip_init), share


def validation_cadence(train_users: int, batch_size: int) -> int:
    """Steps between validations: one pass over the training users, clamped to
    [MIN_EVAL_EVERY, MAX_EVAL_EVERY]. A few hundred users see each sequence many times in 200
    steps, and their id table overfits within a few passes (reports/ablation-variants.md); each
    validation is a noisy draw, so validating more often keeps noise, not a better model."""
    return int(min(MAX_EVAL_EVERY, max(MIN_EVAL_EVERY, math.ceil(train_users / batch_size))))


def choose_split(args: argparse.Namespace, load: Callable[[Split], Dataset],
                 min_users: int = AUTO_MIN_USERS) -> tuple[Split, Dataset]:
    """The split of `--protocol`, or without it the time protocol unless it can score fewer than
    `min_users` users (a positive on a corpus item in the window and history before it): activity
    spread over months or years leaves a time window too few users to tell models apart."""
    auto = args.protocol is None
    if auto:
        args.protocol = "time"
    split = split_from_args(args, validation=args.eval_every != 0)
    ds = load(split)
    if not auto:
        return split, ds
    scorable = len(eval_set(ds))
    if scorable >= min_users:
        return split, ds
    print(f"the time protocol can score only {scorable} of {len(ds.test.users)} held-out users (a positive in "
          f"its window and history before it): using leave_last_out (pass --protocol to choose)", file=sys.stderr)
    args.protocol = "leave_last_out"
    split = split_from_args(args, validation=args.eval_every != 0)
    return split, load(split)


def held_out_line(protocol: str, metrics: dict) -> str:
    """The test line the CLI prints: every item, then new items only (evaluate.py)."""
    new = metrics["new_items"]
    line = (f"test ({protocol}): recall@10 {metrics['recall_at_10']:.4f} ± {metrics['recall_at_10_stderr']:.4f}, "
            f"NDCG@10 {metrics['ndcg_at_10']:.4f} over {metrics['users']} users; ")
    if not new["users"]:
        return line + "no scored user's positive is an item new to it (every one repeats an earlier item)"
    return line + (f"new items only: recall@10 {new['recall_at_10']:.4f} ± {new['recall_at_10_stderr']:.4f} "
                   f"over {new['users']} users")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="data root with events/ (items/ optional)")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default training/runs/<OUT name>-<config hash>.ckpt)")
    p.add_argument("--positive-actions", default=None,
                   help="comma-separated actions that count as positives (default: save, or click/closeup >= 10 s)")
    p.add_argument("--no-id-vocab", action="store_true", help="no learned item-id embeddings (needs an item table)")
    p.add_argument("--min-item-count", type=int, default=2, help="training events an item needs to get its own id embedding")
    p.add_argument("--hash-buckets", type=int, default=256, help="shared embeddings for the other ids (fnv1a32 %% buckets)")
    p.add_argument("--eval-every", type=int, default=None,
                   help=f"validate every N steps (default: once per pass over the training users, {MIN_EVAL_EVERY} to "
                        f"{MAX_EVAL_EVERY}; 0: no validation, train --steps)")
    p.add_argument("--patience", type=int, default=5, help="stop after N validations without improvement")
    p.add_argument("--validate-on", choices=["auto", "all", "new_items"], default="auto",
                   help="early stopping on Recall@10 over every item or over new items only (auto: new items when "
                        f"fewer than {NEW_ITEMS_SHARE:.0%} of the positives repeat an item the user had before)")
    add_split_args(p, default_protocol=None)
    # Learning item ids from scratch needs more signal than the positives alone: the next event of any
    # action as an extra target per position (reports/ablation.md, "Objective variants"); the lean toward
    # the last item gains or is level on every split measured (reports/ablation-variants.md, "Fifth session").
    add_train_args(p, steps=20_000, dropout=0.1, next_event_share=NEXT_EVENT_SHARE, last_item_skip=LAST_ITEM_SKIP)
    args = p.parse_args(argv)
    fcfg = FeatureConfig(max_length=args.max_length)

    def load(split: Split) -> Dataset:
        return load_dataset(args.data, fcfg, positives_from_args(args), id_vocab=not args.no_id_vocab, split=split,
                            min_item_count=args.min_item_count,
                            hash_buckets=0 if args.no_id_vocab else args.hash_buckets)

    try:
        split, ds = choose_split(args, load)
    except (NoPositivesError, ValueError) as e:
        print(f"pinnerformer.train: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    fcfg, mcfg, tcfg = configs_from_args(args, ds.items.dim if len(ds.items) else 0)
    vocab = ds.store.vocab
    mcfg = replace(mcfg, id_vocab_size=len(vocab.ids) if vocab else 0, hash_buckets=vocab.hash_buckets if vocab else 0)
    eval_every = validation_cadence(len(ds.train_users), tcfg.batch_size) if args.eval_every is None else args.eval_every
    tcfg = replace(tcfg, eval_every=eval_every, patience=args.patience)
    if mcfg.last_item_skip and args.skip_init is None:
        start, share = skip_start(ds)
        mcfg = replace(mcfg, last_item_skip_init=start)
        if start != ModelConfig().last_item_skip_init:
            print(f"{share:.0%} of the positives repeat the item of the event just before them: the last-item "
                  f"skip starts at {start} (--skip-init to choose)", file=sys.stderr)
    validating = bool(eval_every) and ds.validation is not None and len(ds.validation.users) > 0
    target, share = validation_target(ds) if args.validate_on == "auto" else (args.validate_on, None)
    if validating and target == "new_items" and share is not None:
        print(f"{share:.0%} of the positives are on an item the user had before: validation scores new items only "
              "(--validate-on to choose)", file=sys.stderr)
    print(f"data {ds.info}; protocol {split.protocol}; {len(ds.train_users)} training users"
          + (f"; validation every {eval_every} steps" if eval_every else ""), file=sys.stderr)
    out = Path(args.out)
    # a checkpoint only resumes the same configuration on the same data
    key = hashlib.sha256(json.dumps([to_jsonable(mcfg), to_jsonable(tcfg), to_jsonable(split), ds.fingerprint,
                                     target]).encode()).hexdigest()[:12]
    ckpt = Path(args.checkpoint) if args.checkpoint else REPO / "training" / "runs" / f"{out.name}-{key}.ckpt"
    validate = validator(ds, fcfg, target) if validating else None
    model, stats = train_model(ds.store, ds.train_users, ds.label_end_ms, mcfg, tcfg, fcfg.max_length, ckpt,
                               validate=validate,
                               validation_name="recall@10 on new items" if target == "new_items" else "recall@10")
    stats["validation_target"] = target
    metrics = evaluate_model(model, ds, fcfg)
    print(held_out_line(split.protocol, metrics), file=sys.stderr)
    export_model_dir(out, model, ds, fcfg, mcfg, tcfg, {**stats, "split": to_jsonable(split)}, metrics,
                     command=" ".join(["python -m pinnerformer.train", *sys.argv[1:]]), data={"root": str(args.data)},
                     eval_percent=split.eval_percent)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
