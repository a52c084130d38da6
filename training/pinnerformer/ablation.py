"""`make ablation`: objectives, negative samplers with/without logQ, four baselines, and inference
frequency, under both evaluation protocols and several seeds; writes reports/ablation.{json,md,png}.

Every configuration trains the same small model for the same number of steps on the same data
and is evaluated with the protocols of docs/model.md (dataset.py): `time` (held-out users, a
window after a cutoff) and `leave_last_out` (each user's last positive, full ranking). Data: the
synthetic generator (default) or any data root (`--data`), with or without its item table
(`--no-items`: ids only). Results are saved after each run, and a rerun with the same settings
skips the runs already done (delete training/runs/ablation-state.json to start over).

    python -m pinnerformer.ablation --out reports [--seeds 3] [--steps 200] [--device cuda]
        [--data ROOT] [--no-items] [--protocols time,leave_last_out] [--configs a,b] [--users N]
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

from .baselines import baselines_for
from .config import FeatureConfig, ModelConfig, TrainConfig, to_jsonable
from .dataset import Dataset, Split, load_dataset
from .evaluate import evaluate_model
from .synthetic import REPO, SyntheticSpec, ensure_synthetic
from .train import LAST_ITEM_SKIP, NEXT_EVENT_SHARE, train_model, validation_target, validator

DATA = SyntheticSpec(users=4000, days=60, seed=11, start="2026-06-01", root="training/runs/ablation-data")
MODEL = ModelConfig(layers=2, hidden=64, heads=4, embedding=64, max_length=128, item_vector=32, dropout=0.1)
# Learned item-id embeddings next to the frozen vectors: the synthetic vectors carry topic but not
# popularity or identity, and without ids every model sits near the popularity baseline
# (measured: R@10 0.090 without, 0.161 with, at 200 steps; popular 0.087).
ID_VOCAB = True
EVAL_PERCENT = 20  # more evaluation users than the default 10 %: less noise between configurations
# SASRec queries at most 32 positions per sequence, as many as dense all action samples, so the
# two differ only in their targets (and memory stays bounded).
BASE = TrainConfig(steps=200, batch_size=64, lr=2e-3, seed=0, threads=1, pool=8, sasrec_positions=32)

# name -> overrides of BASE (the default is dense all action, mixed negatives, logQ); "model": of MODEL
CLI_DEFAULT = {"next_event_share": NEXT_EVENT_SHARE, "model": {"last_item_skip": LAST_ITEM_SKIP}}
RUNS: dict[str, dict] = {
    "dense_all_action": {},
    "next_action": {"objective": "next_action"},
    "sasrec": {"objective": "sasrec"},
    "all_action": {"objective": "all_action"},
    "dense_all_action_next": {"next_positive_share": 0.5},
    "dense_all_action_events": CLI_DEFAULT,  # the train CLI's default
    "dense_all_action_events_random_ids": {**CLI_DEFAULT, "cooccurrence_init": False},
    "neg_random_logq": {"negatives": "random"},
    "neg_random_no_logq": {"negatives": "random", "logq": False},
    "neg_in_batch_logq": {"negatives": "in_batch"},
    "neg_in_batch_no_logq": {"negatives": "in_batch", "logq": False},
    "neg_mixed_no_logq": {"logq": False},
}
SAME_AS = {"neg_mixed_logq": "dense_all_action"}  # identical configuration, reported under both names
FREQUENCY_RUNS = ("sasrec", "dense_all_action")
ORDER = [
    "next_action", "sasrec", "all_action", "dense_all_action", "dense_all_action_next", "dense_all_action_events",
    "dense_all_action_events_random_ids", "neg_random_no_logq", "neg_random_logq", "neg_in_batch_no_logq", "neg_in_batch_logq",
    "neg_mixed_no_logq", "neg_mixed_logq", "baseline_popular", "baseline_mean_item",
]
PAPER = {  # R@10 / P90 coverage@10 from the paper (Tables 2 and 3), for the report
    "next_action": (0.186, 0.050), "sasrec": (0.198, 0.048), "all_action": (0.224, 0.028),
    "dense_all_action": (0.229, 0.042), "neg_random_no_logq": (0.136, 0.002), "neg_random_logq": (0.139, 0.001),
    "neg_in_batch_no_logq": (0.071, 0.163), "neg_in_batch_logq": (0.167, 0.119),
    "neg_mixed_no_logq": (0.138, 0.083), "neg_mixed_logq": (0.229, 0.042),
}
PAPER_FREQUENCY = {"sasrec": (0.198, 0.216, 0.251), "dense_all_action": (0.229, 0.243, 0.264)}


BASELINE_NAMES = ["baseline_popular", "baseline_recent_popular", "baseline_cooccurrence", "baseline_repeat",
                  "baseline_mean_item"]
OBJECTIVE_NAMES = ["next_action", "sasrec", "all_action", "dense_all_action", "dense_all_action_next",
                   "dense_all_action_events"]
PROTOCOLS = ("time", "leave_last_out")
METRICS = ("recall_at_10", "hr_at_10", "ndcg_at_10", "p90_coverage_at_10")


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def load(args: argparse.Namespace, protocol: str) -> Dataset:
    fcfg = FeatureConfig(max_length=MODEL.max_length)
    root = Path(args.data) if args.data else ensure_synthetic(replace(DATA, users=args.users))
    split = Split(protocol=protocol, eval_percent=args.eval_percent or (EVAL_PERCENT if protocol == "time" else 100),
                  eval_days=args.eval_days, max_eval_users=args.max_eval_users, validation=args.eval_every > 0)
    return load_dataset(root, fcfg, eval_percent=split.eval_percent, id_vocab=ID_VOCAB, split=split,
                        min_item_count=args.min_item_count, hash_buckets=args.hash_buckets, with_items=not args.no_items)


def model_for(ds: Dataset, model: ModelConfig = MODEL) -> ModelConfig:
    vocab = ds.store.vocab
    item_dim = ds.items.dim if len(ds.items) else 0
    return replace(model, item_vector=item_dim, id_vocab_size=len(vocab.ids) if vocab else 0,
                   hash_buckets=vocab.hash_buckets if vocab else 0, id_dim=MODEL.id_dim if item_dim else MODEL.embedding)


def run_configs(name: str, model: ModelConfig, train: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    """RUNS[name] applied: its "model" overrides to `model`, the rest to `train`."""
    overrides = dict(RUNS[name])
    return replace(model, **overrides.pop("model", {})), replace(train, **overrides)


def run_all(args: argparse.Namespace) -> dict:
    """Every (protocol, configuration, seed) not yet in the state file; returns the report."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    configs = args.configs.split(",") if args.configs else list(RUNS)
    unknown = [n for n in configs if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown configurations {unknown}; choose from {list(RUNS)}")
    protocols = args.protocols.split(",")
    base = replace(BASE, steps=args.steps, device=args.device, eval_every=args.eval_every, patience=args.patience)
    model = replace(MODEL, dropout=args.dropout)
    settings = {"data": args.data or replace(DATA, users=args.users).to_json(), "no_items": args.no_items,
                "model": to_jsonable(model), "train": to_jsonable(base), "runs": RUNS, "eval_percent": args.eval_percent,
                "eval_days": args.eval_days, "min_item_count": args.min_item_count, "hash_buckets": args.hash_buckets}
    state_path = Path(args.state)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("key") != settings_key(settings):
        if args.report_only:
            raise SystemExit(f"{state_path} holds runs of other settings: nothing to report")
        state = {"key": settings_key(settings), "runs": {}}
    seeds = [int(x) for x in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    report: dict = {"protocols": {}, "settings": settings, "seeds": args.seeds}
    for protocol in protocols:
        ds = load(args, protocol)
        mcfg = model_for(ds, model)
        fcfg = FeatureConfig(max_length=MODEL.max_length)
        print(f"[{protocol}] data {ds.info}: {len(ds.train_users)} training users, {len(ds.test.users)} scored",
              file=sys.stderr)
        runs = state["runs"]
        bkey = f"{protocol}/baselines"
        if bkey not in runs and not args.report_only:
            runs[bkey] = baselines_for(ds)
        for name in configs:
            for seed in seeds:
                key = f"{protocol}/{name}/{seed}"
                if key in runs or args.report_only:
                    continue
                frequency = protocol == "time" and name in FREQUENCY_RUNS
                run_model, tcfg = run_configs(name, mcfg, replace(base, seed=seed))
                runs[key] = run_one(ds, fcfg, run_model, tcfg, frequency, f"{protocol} {name} seed {seed}")
                state_path.parent.mkdir(parents=True, exist_ok=True)
                state_path.write_text(json.dumps(state, indent=1))
                print(f"{key}: recall@10 {runs[key]['recall_at_10']:.4f}", file=sys.stderr)
        state_path.write_text(json.dumps(state, indent=1))
        report["protocols"][protocol] = summarize(runs, protocol, configs, ds)
    report["seeds"] = max((r.get("seeds", 1) for sec in report["protocols"].values() for n, r in sec["rows"].items()
                           if not n.startswith("baseline")), default=0)
    (out / "ablation.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(out / "ablation.md", report)
    write_chart(out / "ablation.png", report)
    return report


def run_one(ds: Dataset, fcfg: FeatureConfig, mcfg: ModelConfig, tcfg: TrainConfig, frequency: bool, desc: str) -> dict:
    label_end = ds.label_end_ms if ds.label_end_ms is not None else ds.eval_cutoff_ms
    validate = None
    if tcfg.eval_every and ds.validation is not None and len(ds.validation.users):
        validate = validator(ds, fcfg, validation_target(ds)[0])  # as the train CLI chooses
    model, stats = train_model(ds.store, ds.train_users, label_end, mcfg, tcfg, fcfg.max_length, desc=desc,
                               validate=validate)
    t0 = time.time()
    metrics = evaluate_model(model, ds, fcfg, frequency=frequency)
    metrics.update(train_seconds=stats["seconds"], eval_seconds=round(time.time() - t0, 1), steps=stats["steps"],
                   best_step=stats.get("best_step"), final_loss=stats["final_loss"], temperature=stats["temperature"])
    return metrics


def summarize(runs: dict, protocol: str, configs: list[str], ds: Dataset) -> dict:
    """Per configuration: each metric's mean and standard deviation over the seeds run, and the
    mean standard error over users; baselines are deterministic (one run)."""
    rows: dict = {}
    for name, m in runs[f"{protocol}/baselines"].items():
        rows[name] = {**{k: m[k] for k in METRICS}, **{f"{k}_stderr": m.get(f"{k}_stderr", 0.0) for k in METRICS[:3]},
                      "seeds": 1, "users": m["users"], "index_size": m["index_size"], **_new_items([m])}
    frequency: dict = {}
    for name in configs:
        per_seed = [v for k, v in sorted(runs.items()) if k.startswith(f"{protocol}/{name}/")]
        if not per_seed:
            continue
        seeds = len(per_seed)
        row: dict = {"seeds": seeds, "users": per_seed[0]["users"], "index_size": per_seed[0]["index_size"]}
        for k in METRICS:
            values = np.array([m[k] for m in per_seed])
            row[k] = float(values.mean())
            row[f"{k}_seed_std"] = float(values.std(ddof=1)) if seeds > 1 else 0.0
            if k != "p90_coverage_at_10":
                row[f"{k}_stderr"] = float(np.mean([m[f"{k}_stderr"] for m in per_seed]))
        rows[name] = {**row, **_new_items(per_seed)}
        if "frequency" in per_seed[0]:
            frequency[name] = {mode: float(np.mean([m["frequency"][mode] for m in per_seed]))
                               for mode in ("once", "daily", "realtime")}
    for alias, source in SAME_AS.items():
        if source in rows:
            rows[alias] = {**rows[source], "same_run_as": source}
    return {"rows": rows, "frequency": frequency, "data": {**ds.info, "train_users": int(len(ds.train_users)),
                                                            "scored_users": int(len(ds.test.users))}}


def _new_items(per_seed: list[dict]) -> dict:
    """Recall@10 on new items only (mean over seeds, mean standard error), where every seed has it."""
    if not all("new_items" in m for m in per_seed):
        return {}
    new = [m["new_items"] for m in per_seed]
    return {"new_items_recall_at_10": float(np.mean([n["recall_at_10"] for n in new])),
            "new_items_recall_at_10_stderr": float(np.mean([n["recall_at_10_stderr"] for n in new])),
            "new_items_users": int(new[0]["users"])}


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _cell(row: dict, k: str) -> str:
    text = f"{row[k]:.4f}"
    if row.get(f"{k}_seed_std") is not None and row.get("seeds", 1) > 1:
        text += f" ± {row[f'{k}_seed_std']:.4f}"
    if row.get(f"{k}_stderr"):
        text += f" ({row[f'{k}_stderr']:.4f})"
    return text


def _new_cell(row: dict) -> str:
    if "new_items_recall_at_10" not in row:
        return "-"  # measured before the new-items column existed
    return (f"{row['new_items_recall_at_10']:.4f} ({row['new_items_recall_at_10_stderr']:.4f}; "
            f"{row['new_items_users']} users)")


def checks(rows: dict, frequency: dict) -> list[tuple[str, bool | None]]:
    """The orderings the paper and issue 17 expect; None where a configuration was not run."""
    def has(*names: str) -> bool:
        return all(n in rows for n in names)

    def r(n: str) -> float:
        return rows[n]["recall_at_10"]

    def se(n: str) -> float:
        return rows[n].get("recall_at_10_stderr", 0.0)

    baselines = [n for n in BASELINE_NAMES if n in rows]
    objectives = [n for n in OBJECTIVE_NAMES if n in rows]
    out: list[tuple[str, bool | None]] = []
    for dense, label in (("dense_all_action", "dense all action"),
                         ("dense_all_action_events", "dense all action + next event (the train CLI's default)")):
        for other in ("next_action", "sasrec"):
            out.append((f"{label} beats {other} by more than two standard errors",
                        r(dense) - r(other) > 2 * max(se(dense), se(other)) if has(dense, other) else None))
    out.append(("every trained objective beats every baseline on Recall@10",
                min(r(n) for n in objectives) > max(r(n) for n in baselines) if objectives and baselines else None))
    out.append(("the train CLI's default beats every baseline on Recall@10",
                r("dense_all_action_events") > max(r(n) for n in baselines)
                if has("dense_all_action_events") and baselines else None))
    out.append(("starting item ids from co-occurrence helps the train CLI's default",
                r("dense_all_action_events") > r("dense_all_action_events_random_ids")
                if has("dense_all_action_events", "dense_all_action_events_random_ids") else None))
    out.append(("all action beats SASRec", r("all_action") > r("sasrec") if has("all_action", "sasrec") else None))
    out.append(("logQ helps in-batch negatives", r("neg_in_batch_logq") > r("neg_in_batch_no_logq")
                if has("neg_in_batch_logq", "neg_in_batch_no_logq") else None))
    out.append(("logQ helps mixed negatives", r("neg_mixed_logq") > r("neg_mixed_no_logq")
                if has("neg_mixed_logq", "neg_mixed_no_logq") else None))
    if has("sasrec", "dense_all_action") and frequency.keys() >= {"sasrec", "dense_all_action"}:
        def gap(n: str) -> float:
            f = frequency[n]
            return (f["realtime"] - f["daily"]) / f["realtime"] if f["realtime"] else 0.0

        out.append(("daily loses less against realtime for dense all action than for SASRec",
                    gap("dense_all_action") < gap("sasrec")))
    return out


def write_markdown(path: Path, report: dict) -> None:
    st = report["settings"]
    t, m = st["train"], st["model"]
    data = st["data"] if isinstance(st["data"], str) else f"synthetic ({st['data']['users']} users, {st['data']['days']} days, seed {st['data']['seed']})"
    lines = [
        "# Ablation: objectives, negatives, logQ, baselines, inference frequency",
        "",
        "Generated by `make ablation` (training/pinnerformer/ablation.py); measured numbers.",
        f"Data: {data}{', ids only (item table dropped)' if st['no_items'] else ''}. "
        f"Model: {m['layers']} layers, H={m['hidden']}, D={m['embedding']}, M={m['max_length']}; " +
        (f"up to {t['steps']} steps (validation every {t['eval_every']}, best weights kept, stop after {t['patience']} "
         f"without improvement)" if t.get("eval_every") else f"{t['steps']} steps") +
        f" of {t['batch_size']} sequences on {t['device']}, dropout {m.get('dropout', 0.0)}, K={t['horizon_days']} d, "
        f"{t['random_negatives']} random negatives; item ids start from "
        f"{'their co-occurrence' if t.get('cooccurrence_init') else 'noise'}; {report['seeds']} seed(s) per configuration.",
        "Cells: mean ± standard deviation over seeds (standard error over users, mean over seeds). "
        "Protocols and metric definitions: docs/model.md.",
    ]
    for protocol, section in report["protocols"].items():
        rows, d = section["rows"], section["data"]
        lines += ["", f"## Protocol `{protocol}`", "",
                  f"{d['events']} events, {d['users']} users, {d['items']} corpus items ({d['item_table']} with vectors, "
                  f"{d['vocabulary']} in the id vocabulary); {d['train_users']} training users; "
                  f"{rows[next(iter(rows))]['users']} users scored over the full index of {rows[next(iter(rows))]['index_size']} items.",
                  "", "| configuration | Recall@10 | HR@10 | NDCG@10 | P90 coverage@10 | Recall@10, new items | "
                  "paper R@10 / coverage |",
                  "|---|---|---|---|---|---|---|"]
        for name in ORDER + [n for n in BASELINE_NAMES if n not in ORDER]:
            if name not in rows:
                continue
            row = rows[name]
            paper = PAPER.get(name)
            ps = f"{paper[0]:.3f} / {paper[1]:.3f}" if paper else "-"
            note = " (same run as dense_all_action)" if row.get("same_run_as") else ""
            lines.append(f"| `{name}`{note} | {_cell(row, 'recall_at_10')} | {_cell(row, 'hr_at_10')} | "
                         f"{_cell(row, 'ndcg_at_10')} | {row['p90_coverage_at_10']:.4f} | {_new_cell(row)} | {ps} |")
        f = section["frequency"]
        if f:
            lines += ["", "Inference frequency (Recall@10 over the window):", "",
                      "| objective | once | daily | realtime | daily loss vs realtime | paper (once / daily / realtime) |",
                      "|---|---|---|---|---|---|"]
            for name, v in f.items():
                loss = (v["realtime"] - v["daily"]) / v["realtime"] if v["realtime"] else 0.0
                p = PAPER_FREQUENCY[name]
                lines.append(f"| `{name}` | {_fmt(v['once'])} | {_fmt(v['daily'])} | {_fmt(v['realtime'])} | {loss:.1%} | "
                             f"{p[0]:.3f} / {p[1]:.3f} / {p[2]:.3f} |")
        lines += ["", "Checks:", ""]
        for text, ok in checks(rows, f):
            lines.append(f"- {'not run' if ok is None else 'reproduced' if ok else 'NOT reproduced'}: {text}")
    lines += ["", "Discussion: docs/model.md (\"Ablation\").", ""]
    path.write_text("\n".join(lines))


def write_chart(path: Path, report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = list(report["protocols"])
    fig, axes = plt.subplots(1, len(protocols), figsize=(8 * len(protocols), 5.5), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        rows = report["protocols"][protocol]["rows"]
        names = [n for n in ORDER + BASELINE_NAMES if n in rows and not rows[n].get("same_run_as")]
        names = list(dict.fromkeys(names))
        x = np.arange(len(names))
        colors = ["#8c8c8c" if n.startswith("baseline") else "#4c72b0" if n in OBJECTIVE_NAMES else "#dd8452" for n in names]
        err = [rows[n].get("recall_at_10_seed_std", 0.0) or rows[n].get("recall_at_10_stderr", 0.0) for n in names]
        ax.bar(x, [rows[n]["recall_at_10"] for n in names], yerr=err, color=colors)
        ax.set_title(f"Recall@10, protocol {protocol} (± seed std)")
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="reports")
    p.add_argument("--steps", type=int, default=BASE.steps, help="training steps per run")
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration (mean and spread)")
    p.add_argument("--device", default=BASE.device, choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=BASE.threads, help="torch CPU threads")
    p.add_argument("--users", type=int, default=DATA.users, help="synthetic users (without --data)")
    p.add_argument("--data", default=None, help="a data root to use instead of synthetic data")
    p.add_argument("--no-items", action="store_true", help="ignore the item table: ids only")
    p.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated: time, leave_last_out")
    p.add_argument("--configs", default=None, help=f"comma-separated subset of {list(RUNS)}")
    p.add_argument("--eval-percent", type=int, default=None, help="share of users scored (default 20 time, 100 leave_last_out)")
    p.add_argument("--eval-days", type=int, default=14, help="time protocol: evaluation window in days")
    p.add_argument("--max-eval-users", type=int, default=20_000)
    p.add_argument("--min-item-count", type=int, default=1, help="events an item needs for its own id embedding")
    p.add_argument("--hash-buckets", type=int, default=0, help="shared id embeddings for the other ids")
    p.add_argument("--eval-every", type=int, default=0,
                   help="validate every N steps and stop early as `pinnerformer.train` does (0: exactly --steps)")
    p.add_argument("--patience", type=int, default=3, help="with --eval-every: validations without improvement")
    p.add_argument("--dropout", type=float, default=MODEL.dropout)
    p.add_argument("--seed-list", default=None, help="comma-separated seeds to run (default 0..seeds-1)")
    p.add_argument("--state", default=str(REPO / "training" / "runs" / "ablation-state.json"),
                   help="resumable state file (runs done so far)")
    p.add_argument("--report-only", action="store_true", help="write the report from the state file, train nothing")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    run_all(args)
    print(f"ablation done in {time.time() - started:.0f} s -> {args.out}/ablation.{{json,md,png}}", file=sys.stderr)


if __name__ == "__main__":
    main()
