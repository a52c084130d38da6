"""`make ablation`: objectives, negative samplers with/without logQ, baselines, and inference
frequency, on synthetic data; writes reports/ablation.{json,md,png}.

Every configuration trains the same small model for the same number of steps on the same data
and is evaluated with the protocol of docs/model.md. Results are saved after each run, and a
rerun with the same settings skips the runs already done (delete the JSON to start over).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .config import FeatureConfig, ModelConfig, TrainConfig, to_jsonable
from .dataset import load_dataset
from .baselines import baseline_mean_item, baseline_popular
from .evaluate import evaluate_model
from .synthetic import REPO, SyntheticSpec, ensure_synthetic
from .train import train_model

DATA = SyntheticSpec(users=4000, days=60, seed=11, start="2026-06-01", root="training/runs/ablation-data")
MODEL = ModelConfig(layers=2, hidden=64, heads=4, embedding=64, max_length=128, item_vector=32)
# Learned item-id embeddings next to the frozen vectors: the synthetic vectors carry topic but not
# popularity or identity, and without ids every model sits near the popularity baseline
# (measured: R@10 0.090 without, 0.161 with, at 200 steps; popular 0.087).
ID_VOCAB = True
EVAL_PERCENT = 20  # more evaluation users than the default 10 %: less noise between configurations
# SASRec queries at most 32 positions per sequence, as many as dense all action samples, so the
# two differ only in their targets (and memory stays bounded).
BASE = TrainConfig(steps=200, batch_size=64, lr=2e-3, seed=0, threads=1, pool=8, sasrec_positions=32)

# name -> overrides of BASE (the default is dense all action, mixed negatives, logQ)
RUNS: dict[str, dict] = {
    "dense_all_action": {},
    "next_action": {"objective": "next_action"},
    "sasrec": {"objective": "sasrec"},
    "all_action": {"objective": "all_action"},
    "neg_random_logq": {"negatives": "random"},
    "neg_random_no_logq": {"negatives": "random", "logq": False},
    "neg_in_batch_logq": {"negatives": "in_batch"},
    "neg_in_batch_no_logq": {"negatives": "in_batch", "logq": False},
    "neg_mixed_no_logq": {"logq": False},
}
SAME_AS = {"neg_mixed_logq": "dense_all_action"}  # identical configuration, reported under both names
FREQUENCY_RUNS = ("sasrec", "dense_all_action")
ORDER = [
    "next_action", "sasrec", "all_action", "dense_all_action",
    "neg_random_no_logq", "neg_random_logq", "neg_in_batch_no_logq", "neg_in_batch_logq",
    "neg_mixed_no_logq", "neg_mixed_logq", "baseline_popular", "baseline_mean_item",
]
PAPER = {  # R@10 / P90 coverage@10 from the paper (Tables 2 and 3), for the report
    "next_action": (0.186, 0.050), "sasrec": (0.198, 0.048), "all_action": (0.224, 0.028),
    "dense_all_action": (0.229, 0.042), "neg_random_no_logq": (0.136, 0.002), "neg_random_logq": (0.139, 0.001),
    "neg_in_batch_no_logq": (0.071, 0.163), "neg_in_batch_logq": (0.167, 0.119),
    "neg_mixed_no_logq": (0.138, 0.083), "neg_mixed_logq": (0.229, 0.042),
}
PAPER_FREQUENCY = {"sasrec": (0.198, 0.216, 0.251), "dense_all_action": (0.229, 0.243, 0.264)}


def settings_key(spec: SyntheticSpec, steps: int) -> str:
    blob = json.dumps([spec.to_json(), to_jsonable(MODEL), to_jsonable(replace(BASE, steps=steps)), RUNS, EVAL_PERCENT, ID_VOCAB])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_all(out: Path, spec: SyntheticSpec, steps: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "ablation.json"
    state_path = REPO / "training" / "runs" / "ablation-state.json"
    key = settings_key(spec, steps)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("key") != key:
        state = {"key": key, "results": {}, "frequency": {}}
    root = ensure_synthetic(spec)
    fcfg = FeatureConfig(max_length=MODEL.max_length)
    ds = load_dataset(root, fcfg, eval_percent=EVAL_PERCENT, id_vocab=ID_VOCAB)
    mcfg = replace(MODEL, item_vector=ds.items.dim, id_vocab_size=len(ds.store.vocab.ids) if ID_VOCAB else 0)
    print(f"ablation data {ds.info}: {len(ds.train_users)} training / {len(ds.eval_users)} evaluation users", file=sys.stderr)
    results, frequency = state["results"], state["frequency"]
    if "baseline_popular" not in results:
        results["baseline_popular"] = baseline_popular(ds)
        results["baseline_mean_item"] = baseline_mean_item(ds)
    for i, (name, overrides) in enumerate(RUNS.items()):
        if name in results:
            continue
        metrics = run_one(ds, fcfg, mcfg, replace(BASE, steps=steps, **overrides), name in FREQUENCY_RUNS,
                          f"{i + 1}/{len(RUNS)} {name}")
        if "frequency" in metrics:
            frequency[name] = {k: metrics["frequency"][k] for k in ("once", "daily", "realtime")}
            del metrics["frequency"]
        results[name] = metrics
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps(state, indent=2))
        print(f"{name}: recall@10 {metrics['recall_at_10']:.4f} coverage {metrics['p90_coverage_at_10']:.4f}", file=sys.stderr)
    for alias, source in SAME_AS.items():
        results[alias] = {**results[source], "same_run_as": source}
    report = {name: results[name] for name in ORDER}
    report["frequency"] = {name: frequency[name] for name in FREQUENCY_RUNS}
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    meta = {
        "data": {**spec.to_json(), **ds.info, "train_users": len(ds.train_users), "eval_users": len(ds.eval_users),
                 "fingerprint": ds.fingerprint},
        "model": to_jsonable(mcfg),
        "train": to_jsonable(replace(BASE, steps=steps)),
    }
    write_markdown(out / "ablation.md", report, meta)
    write_chart(out / "ablation.png", report)
    return report


def run_one(ds, fcfg: FeatureConfig, mcfg: ModelConfig, tcfg: TrainConfig, frequency: bool, desc: str) -> dict:  # noqa: ANN001
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, desc=desc)
    t0 = time.time()
    metrics = evaluate_model(model, ds, fcfg, frequency=frequency)
    metrics.update(train_seconds=stats["seconds"], eval_seconds=round(time.time() - t0, 1),
                   final_loss=stats["final_loss"], temperature=stats["temperature"])
    return metrics


def run_only(names: list[str], spec: SyntheticSpec, steps: int, device: str = BASE.device) -> None:
    """Trains and evaluates just the named configurations and prints their metrics (JSON lines);
    the reports are left alone. For budget checks such as `--only all_action,sasrec --steps 600`,
    and for checking training on a GPU (`--device cuda`: bf16 autocast, as train.py does)."""
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown configurations {unknown}; choose from {list(RUNS)}")
    fcfg = FeatureConfig(max_length=MODEL.max_length)
    ds = load_dataset(ensure_synthetic(spec), fcfg, eval_percent=EVAL_PERCENT, id_vocab=ID_VOCAB)
    mcfg = replace(MODEL, item_vector=ds.items.dim, id_vocab_size=len(ds.store.vocab.ids) if ID_VOCAB else 0)
    for name in names:
        m = run_one(ds, fcfg, mcfg, replace(BASE, steps=steps, device=device, **RUNS[name]), False, name)
        print(json.dumps({"name": name, "steps": steps, "device": device, **m}), flush=True)


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def write_markdown(path: Path, r: dict, meta: dict) -> None:
    d, t = meta["data"], meta["train"]
    lines = [
        "# Ablation: objectives, negatives, logQ, inference frequency",
        "",
        "Generated by `make ablation` (training/pinnerformer/ablation.py); measured numbers, one seed each.",
        f"Data: synthetic, {d['users']} users with events x {d['days']} days (seed {d['seed']}), {d['events']} events, "
        f"{d['items']} items; {d['train_users']} training users, {d['eval_users']} disjoint evaluation users "
        f"({r['dense_all_action']['users']} with a positive in the 14-day window); index = all {r['dense_all_action']['index_size']} items.",
        f"Model: {meta['model']['layers']} layers, H={meta['model']['hidden']}, D={meta['model']['embedding']}, "
        f"M={meta['model']['max_length']}; {t['steps']} steps of {t['batch_size']} sequences, K={t['horizon_days']} d, "
        f"{t['random_negatives']} random negatives, up to {t['max_in_batch']} in-batch candidates.",
        "Protocol and metric definitions: docs/model.md. `±` is the standard error of Recall@10 over users.",
        "",
        "| configuration | Recall@10 | P90 coverage@10 | paper R@10 / coverage |",
        "|---|---|---|---|",
    ]
    for name in ORDER:
        m = r[name]
        paper = PAPER.get(name)
        ps = f"{paper[0]:.3f} / {paper[1]:.3f}" if paper else "-"
        note = " (same run as dense_all_action)" if m.get("same_run_as") else ""
        lines.append(
            f"| `{name}`{note} | {_fmt(m['recall_at_10'])} ± {m['recall_at_10_stderr']:.4f} | {_fmt(m['p90_coverage_at_10'])} | {ps} |"
        )
    lines += ["", "## Inference frequency (Recall@10 over the 14-day window)", "",
              "| objective | once | daily | realtime | daily loss vs realtime | paper (once / daily / realtime) |",
              "|---|---|---|---|---|---|"]
    for name, f in r["frequency"].items():
        loss = (f["realtime"] - f["daily"]) / f["realtime"] if f["realtime"] else 0.0
        p = PAPER_FREQUENCY[name]
        lines.append(f"| `{name}` | {_fmt(f['once'])} | {_fmt(f['daily'])} | {_fmt(f['realtime'])} | {loss:.1%} | "
                     f"{p[0]:.3f} / {p[1]:.3f} / {p[2]:.3f} |")
    lines += ["", "## Orderings the paper reports, checked", ""]
    checks = [
        ("dense all action beats next action", r["dense_all_action"]["recall_at_10"] > r["next_action"]["recall_at_10"]),
        ("dense all action beats SASRec", r["dense_all_action"]["recall_at_10"] > r["sasrec"]["recall_at_10"]),
        ("all action beats SASRec", r["all_action"]["recall_at_10"] > r["sasrec"]["recall_at_10"]),
        ("all action has lower coverage than dense all action",
         r["all_action"]["p90_coverage_at_10"] < r["dense_all_action"]["p90_coverage_at_10"]),
        ("logQ helps in-batch negatives", r["neg_in_batch_logq"]["recall_at_10"] > r["neg_in_batch_no_logq"]["recall_at_10"]),
        ("in-batch without logQ has the highest coverage", r["neg_in_batch_no_logq"]["p90_coverage_at_10"]
         >= max(r[n]["p90_coverage_at_10"] for n in ORDER if n.startswith("neg_"))),
        ("random-only negatives give the lowest coverage", min(r["neg_random_logq"]["p90_coverage_at_10"],
         r["neg_random_no_logq"]["p90_coverage_at_10"]) <= min(r[n]["p90_coverage_at_10"] for n in ORDER if n.startswith("neg_"))),
        ("mixed + logQ is the best sampler", r["neg_mixed_logq"]["recall_at_10"]
         >= max(r[n]["recall_at_10"] for n in ORDER if n.startswith("neg_"))),
        ("every objective (mixed negatives + logQ) beats both baselines",
         min(r[n]["recall_at_10"] for n in ORDER[:4])
         > max(r["baseline_popular"]["recall_at_10"], r["baseline_mean_item"]["recall_at_10"])),
        ("in-batch + logQ beats random-only negatives",
         r["neg_in_batch_logq"]["recall_at_10"] > max(r["neg_random_logq"]["recall_at_10"], r["neg_random_no_logq"]["recall_at_10"])),
        ("logQ helps mixed negatives", r["neg_mixed_logq"]["recall_at_10"] > r["neg_mixed_no_logq"]["recall_at_10"]),
    ]
    f = r["frequency"]

    def gap(n: str) -> float:
        return (f[n]["realtime"] - f[n]["daily"]) / f[n]["realtime"] if f[n]["realtime"] else 0.0

    checks.append(("daily loses less against realtime for dense all action than for SASRec", gap("dense_all_action") < gap("sasrec")))
    for text, ok in checks:
        lines.append(f"- {'reproduced' if ok else 'NOT reproduced'}: {text}")
    lines += ["", "Discussion of what does and does not reproduce, and why: docs/model.md (\"Ablation\").", ""]
    path.write_text("\n".join(lines))


def write_chart(path: Path, r: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ORDER
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5), gridspec_kw={"width_ratios": [3, 3, 1.4]})
    x = np.arange(len(names))
    colors = ["#4c72b0"] * 4 + ["#dd8452"] * 6 + ["#8c8c8c"] * 2
    rec = [r[n]["recall_at_10"] for n in names]
    err = [r[n]["recall_at_10_stderr"] for n in names]
    axes[0].bar(x, rec, yerr=err, color=colors)
    axes[0].set_title("Recall@10 (± s.e.)")
    axes[1].bar(x, [r[n]["p90_coverage_at_10"] for n in names], color=colors)
    axes[1].set_title("P90 coverage@10")
    for ax in axes[:2]:
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    modes = ("once", "daily", "realtime")
    for i, (name, f) in enumerate(r["frequency"].items()):
        axes[2].bar(np.arange(3) + i * 0.38, [f[m] for m in modes], width=0.38, label=name)
    axes[2].set_xticks(np.arange(3) + 0.19, modes)
    axes[2].set_title("Inference frequency (Recall@10)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="reports")
    p.add_argument("--steps", type=int, default=BASE.steps, help="training steps per configuration")
    p.add_argument("--users", type=int, default=DATA.users)
    p.add_argument("--only", default=None, help="comma-separated configurations: train, evaluate and print only these")
    p.add_argument("--device", default=BASE.device, choices=["cpu", "cuda"], help="with --only: where to train")
    args = p.parse_args(argv)
    if args.device != BASE.device and not args.only:
        p.error("--device goes with --only (the full ablation's numbers are all measured on the CPU)")
    torch.set_num_threads(BASE.threads)
    started = time.time()
    if args.only:
        run_only(args.only.split(","), replace(DATA, users=args.users), args.steps, args.device)
        return
    run_all(Path(args.out), replace(DATA, users=args.users), args.steps)
    print(f"ablation done in {time.time() - started:.0f} s -> {args.out}/ablation.{{json,md,png}}", file=sys.stderr)


if __name__ == "__main__":
    main()
