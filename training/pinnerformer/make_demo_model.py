"""`make model`: train the small demo model on synthetic data and write models/demo.

Generates (or reuses) a synthetic data set whose item world matches `make demo`'s (same seed
and item count, so the same item ids and vectors) but over an earlier period, trains a
2-layer H=64 D=64 M=256 model with the dense all-action objective and mixed negatives with
logQ, evaluates it on held-out users (docs/model.md) and exports the model directory.
Deterministic for a seed on one machine; about 5 minutes of one CPU core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from .config import FeatureConfig, ModelConfig, TrainConfig, to_jsonable
from .dataset import load_dataset
from .baselines import baseline_mean_item, baseline_popular
from .evaluate import evaluate_model
from .train import train_model
from .export import export_model_dir
from .synthetic import REPO, SyntheticSpec, ensure_synthetic

# The demo world: `make demo` generates 20000 users -> 10000 items with seed 7.
DEMO_DATA = SyntheticSpec(users=8000, days=60, seed=7, start="2026-06-01", items=10000, root="training/runs/demo-data")
DEMO_MODEL = ModelConfig(layers=2, hidden=64, heads=4, embedding=64, max_length=256, item_vector=32)
# Item-id embeddings (manifest items.idVocabulary) raise recall a lot on synthetic data (see
# docs/model.md) but add 10000 x id_dim weights to model.onnx and model.pt; the committed demo
# keeps the frozen vectors only, as the paper does.
ID_VOCAB = False
DEMO_TRAIN = TrainConfig(steps=900, batch_size=64, lr=2e-3, seed=0, threads=1, checkpoint_every=100)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.make_demo_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="models/demo")
    p.add_argument("--steps", type=int, default=DEMO_TRAIN.steps)
    p.add_argument("--seed", type=int, default=DEMO_TRAIN.seed)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--users", type=int, default=DEMO_DATA.users, help="synthetic users to train on")
    args = p.parse_args(argv)

    started = time.time()
    spec = replace(DEMO_DATA, users=args.users)
    root = ensure_synthetic(spec)
    tcfg = replace(DEMO_TRAIN, steps=args.steps, seed=args.seed, device=args.device)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    fcfg = FeatureConfig(max_length=DEMO_MODEL.max_length)
    ds = load_dataset(root, fcfg, eval_percent=10, id_vocab=ID_VOCAB)
    mcfg = replace(DEMO_MODEL, item_vector=ds.items.dim, id_vocab_size=len(ds.store.vocab.ids) if ID_VOCAB else 0)
    print(f"data {ds.info}, {len(ds.train_users)} training / {len(ds.eval_users)} evaluation users", file=sys.stderr)
    key = hashlib.sha256(json.dumps([to_jsonable(mcfg), to_jsonable(tcfg), ds.fingerprint]).encode()).hexdigest()[:12]
    ckpt = REPO / "training" / "runs" / f"demo-{key}.ckpt"
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, ckpt, desc="demo")
    model = model.cpu()
    print("evaluating", file=sys.stderr)
    metrics = evaluate_model(model, ds, fcfg, frequency=True)
    metrics["baseline_popular"] = baseline_popular(ds)
    metrics["baseline_mean_item"] = baseline_mean_item(ds)
    command = "make model  # python -m pinnerformer.make_demo_model " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    out = out if out.is_absolute() else Path.cwd() / out
    manifest = export_model_dir(
        out, model, ds, fcfg, mcfg, tcfg, stats, metrics, command=command,
        data={"synthetic": spec.to_json(), **ds.info, "evalCutoffMs": ds.eval_cutoff_ms}, eval_percent=10,
    )
    print(
        f"wrote {out} ({manifest['modelVersion']}): recall@10 {metrics['recall_at_10']:.4f}, "
        f"P90 coverage@10 {metrics['p90_coverage_at_10']:.4f}, {time.time() - started:.0f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
