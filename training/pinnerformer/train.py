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
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .config import FeatureConfig, ModelConfig, TrainConfig, to_jsonable
from .data import Batch, ExampleSampler
from .features import FIRST_ID
from .losses import ItemFrequency, log_q, sampled_softmax_loss
from .model import PinnerFormer


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


class Corpus:
    """The item tower's inputs for every corpus item (the item table), on the device."""

    def __init__(self, vectors: np.ndarray, id_vocab: bool, device: torch.device) -> None:
        n = vectors.shape[0]
        self.size = n
        self.vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(device)  # [N, Ev]
        codes = np.arange(n) + FIRST_ID if id_vocab else np.full(n, FIRST_ID)
        self.codes = torch.from_numpy(codes.astype(np.int64)).to(device)  # [N]

    def embed(self, model: PinnerFormer, items: torch.Tensor) -> torch.Tensor:
        return model.embed_items(self.vectors[items], self.codes[items])  # [n, D]


def batch_loss(
    model: PinnerFormer,
    corpus: Corpus,
    freq: ItemFrequency,
    batch: Batch,
    cfg: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
) -> torch.Tensor:
    x = {k: torch.from_numpy(v).to(device) for k, v in batch.inputs.items()}
    hidden = model.encode(x["item_vec"], x["item_id"], x["action"], x["surface"], x["time_frac"], x["scalars"])  # [B, L, H]
    rows = torch.from_numpy(batch.query_row).to(device)
    query = model.embed_hidden(hidden[rows, torch.from_numpy(batch.query_pos).to(device)])  # [N, D]
    pos_items = torch.from_numpy(batch.positive_item).to(device)  # [N]
    freq.update(pos_items)
    n = len(batch.positive_item)
    # in-batch candidates: the batch's positives (with repeats), at most max_in_batch of them
    if cfg.negatives in ("in_batch", "mixed"):
        keep = np.arange(n) if n <= cfg.max_in_batch else np.sort(rng.choice(n, size=cfg.max_in_batch, replace=False))
    else:
        keep = np.zeros(0, dtype=np.int64)
    n_rand = cfg.random_negatives if cfg.negatives in ("random", "mixed") else 0
    rand_items = torch.from_numpy(rng.integers(0, corpus.size, size=n_rand)).to(device)  # [R]
    keep_t = torch.from_numpy(keep).to(device)
    uniq, inverse = torch.unique(torch.cat([pos_items, rand_items]), return_inverse=True)
    item_emb = corpus.embed(model, uniq)  # [U, D]
    positive = item_emb[inverse[:n]]  # [N, D]
    negative = torch.cat([positive[keep_t], item_emb[inverse[n:]]])  # [C + R, D]
    negative_item = torch.cat([pos_items[keep_t], rand_items])
    negative_user = torch.cat([rows[keep_t], torch.full((n_rand,), -1, dtype=torch.long, device=device)])
    pos_lq = neg_lq = None
    if cfg.logq:
        pos_lq = log_q(freq, pos_items, cfg.negatives, len(keep), n_rand)
        neg_lq = log_q(freq, negative_item, cfg.negatives, len(keep), n_rand)
    return sampled_softmax_loss(
        query=query.float(),
        positive=positive.float(),
        positive_item=pos_items,
        query_user=rows,
        negative=negative.float(),
        negative_item=negative_item,
        negative_user=negative_user,
        temperature=model.temperature(),
        weight=torch.from_numpy(batch.weight).to(device),
        positive_logq=pos_lq,
        negative_logq=neg_lq,
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train_model(
    store,  # noqa: ANN001 - features.EventStore
    train_users: np.ndarray,
    label_end_ms: int,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    max_length: int,
    checkpoint: Path | None = None,
    progress: bool = True,
    desc: str = "train",
    stop_at: int | None = None,
) -> tuple[PinnerFormer, dict]:
    """Trains a model; resumes from `checkpoint` when it exists and saves to it periodically.
    `stop_at` ends the run early (after that step, with a checkpoint), as an interruption would."""
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    device = pick_device(tcfg.device)
    set_seed(tcfg.seed)
    # two streams: examples (restartable at a pool boundary) and negatives
    data_rng, rng = (np.random.default_rng(s) for s in np.random.SeedSequence(tcfg.seed).spawn(2))
    model = PinnerFormer(mcfg).to(device)
    corpus = Corpus(store.vectors, mcfg.id_vocab_size > 0, device)
    freq = ItemFrequency(corpus.size).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tcfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=tcfg.lr
    )
    sampler = ExampleSampler(store, train_users, label_end_ms, tcfg, max_length, data_rng)
    step, losses, seconds = 0, [], 0.0
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
        # re-draw the current pool from its starting state and skip the batches already used
        data_rng.bit_generator.state = state["pool_state"]
        pool_state, pool_used = state["pool_state"], state["pool_used"]
        if pool_used:
            pool = sampler.sample_pool(tcfg.batch_size, tcfg.pool)[pool_used:]
        print(f"resumed from {checkpoint} at step {step}", file=sys.stderr)
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
            loss = batch_loss(model, corpus, freq, batch, tcfg, rng, device)
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
        if checkpoint is not None and (step % tcfg.checkpoint_every == 0 or step == last):
            save_checkpoint(
                checkpoint, model, opt, freq, rng, step, losses, seconds + elapsed,
                pool_state if pool else data_rng.bit_generator.state, pool_used if pool else 0,
            )
    bar.close()
    seconds += time.perf_counter() - t0
    model.eval()
    stats = {
        "steps": step,
        "seconds": round(seconds, 1),
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        "temperature": float(model.temperature().detach()),
        "device": device.type,
    }
    return model, stats


def save_checkpoint(path: Path, model, opt, freq, rng, step, losses, seconds, pool_state, pool_used) -> None:  # noqa: ANN001
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
        },
        tmp,
    )
    os.replace(tmp, path)


def add_train_args(p: argparse.ArgumentParser) -> None:
    d, m = TrainConfig(), ModelConfig()
    p.add_argument("--objective", default=d.objective, choices=["next_action", "sasrec", "all_action", "dense_all_action"])
    p.add_argument("--negatives", default=d.negatives, choices=["random", "in_batch", "mixed"])
    p.add_argument("--no-logq", action="store_true", help="disable the logQ correction")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--horizon-days", type=int, default=d.horizon_days)
    p.add_argument("--random-negatives", type=int, default=d.random_negatives)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda or auto")
    p.add_argument("--no-bf16", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--layers", type=int, default=m.layers)
    p.add_argument("--hidden", type=int, default=m.hidden)
    p.add_argument("--heads", type=int, default=m.heads)
    p.add_argument("--embedding", type=int, default=m.embedding)
    p.add_argument("--max-length", type=int, default=m.max_length)
    p.add_argument("--id-vocab", action="store_true", help="learn an embedding per item id of the item table")


def configs_from_args(args: argparse.Namespace, item_dim: int) -> tuple[FeatureConfig, ModelConfig, TrainConfig]:
    fcfg = FeatureConfig(max_length=args.max_length)
    mcfg = ModelConfig(
        layers=args.layers, hidden=args.hidden, heads=args.heads, embedding=args.embedding,
        max_length=args.max_length, item_vector=item_dim,
        num_actions=len(fcfg.action_vocab), num_surfaces=len(fcfg.surface_vocab), time_dims=fcfg.time_dims,
    )
    tcfg = TrainConfig(
        objective=args.objective, negatives=args.negatives, logq=not args.no_logq, steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, horizon_days=args.horizon_days,
        random_negatives=args.random_negatives, seed=args.seed, device=args.device, bf16=not args.no_bf16,
        threads=args.threads,
    )
    return fcfg, mcfg, tcfg


def main(argv: list[str] | None = None) -> None:
    from .dataset import load_dataset
    from .export import export_model_dir
    from .evaluate import evaluate_model
    from .synthetic import REPO

    p = argparse.ArgumentParser(prog="python -m pinnerformer.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="data root with events/ and items/")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--eval-percent", type=int, default=10, help="share of users held out for evaluation")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default training/runs/<OUT name>-<config hash>.ckpt)")
    add_train_args(p)
    args = p.parse_args(argv)
    fcfg = FeatureConfig(max_length=args.max_length)
    ds = load_dataset(args.data, fcfg, eval_percent=args.eval_percent, id_vocab=args.id_vocab)
    fcfg, mcfg, tcfg = configs_from_args(args, ds.items.dim)
    mcfg = replace(mcfg, id_vocab_size=len(ds.items) if args.id_vocab else 0)
    out = Path(args.out)
    # a checkpoint only resumes the same configuration on the same data
    key = hashlib.sha256(json.dumps([to_jsonable(mcfg), to_jsonable(tcfg), ds.fingerprint]).encode()).hexdigest()[:12]
    ckpt = Path(args.checkpoint) if args.checkpoint else REPO / "training" / "runs" / f"{out.name}-{key}.ckpt"
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, ckpt)
    metrics = evaluate_model(model, ds, fcfg)
    export_model_dir(out, model, ds, fcfg, mcfg, tcfg, stats, metrics, command=" ".join(["python -m pinnerformer.train", *sys.argv[1:]]), data={"root": str(args.data)}, eval_percent=args.eval_percent)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
