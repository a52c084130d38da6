"""One training trial: a configuration trained with validation and early stopping on one data root,
its validation curve and test metrics (training/gpu/variants.sh runs several at once)."""
import argparse, json, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np, torch
from pinnerformer.baselines import baselines_for
from pinnerformer.config import FeatureConfig, ModelConfig, TrainConfig
from pinnerformer.dataset import Split, load_dataset
from pinnerformer.evaluate import evaluate_model
from pinnerformer.train import train_model

p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--steps", type=int, default=2000); p.add_argument("--eval-every", type=int, default=250)
p.add_argument("--objective", default="dense_all_action"); p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--dropout", type=float, default=0.1); p.add_argument("--max-length", type=int, default=256)
p.add_argument("--hidden", type=int, default=64); p.add_argument("--layers", type=int, default=2)
p.add_argument("--embedding", type=int, default=64); p.add_argument("--negatives", default="mixed")
p.add_argument("--device", default="cpu"); p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch-size", type=int, default=64); p.add_argument("--dense-positions", type=int, default=32)
p.add_argument("--sasrec-positions", type=int, default=32)
p.add_argument("--no-baselines", action="store_true"); p.add_argument("--patience", type=int, default=100)
p.add_argument("--protocol", default="leave_last_out"); p.add_argument("--seed", type=int, default=0)
p.add_argument("--horizon-days", type=int, default=28); p.add_argument("--tag", default="")
p.add_argument("--min-item-count", type=int, default=2); p.add_argument("--wd", type=float, default=0.01); p.add_argument("--next-share", type=float, default=0.0); p.add_argument("--no-items", action="store_true"); p.add_argument("--next-event-share", type=float, default=0.0)
p.add_argument("--random-negatives", type=int, default=1024)
p.add_argument("--validate-new", action="store_true", help="early stopping on new-items recall (both are printed)")
p.add_argument("--save", default="", help="write the trained weights to SAVE.pt and the model config to SAVE.json");
p.add_argument("--last-item-skip", action="store_true"); p.add_argument("--skip-init", type=float, default=0.5); p.add_argument("--random-id-init", action="store_true"); p.add_argument("--no-logq", action="store_true"); p.add_argument("--heads", type=int, default=4)
a = p.parse_args()
fcfg = FeatureConfig(max_length=a.max_length)
split = Split(protocol=a.protocol, eval_percent=100 if a.protocol == "leave_last_out" else 10, validation=True)
t = time.time()
ds = load_dataset(a.data, fcfg, id_vocab=True, split=split, min_item_count=a.min_item_count, hash_buckets=256, with_items=not a.no_items)
print(f"[{a.tag}] loaded {ds.info} in {time.time()-t:.1f}s; train users {len(ds.train_users)} test {len(ds.test.users)}", flush=True)
if not a.no_baselines:
    for k, v in baselines_for(ds).items():
        print(f"[{a.tag}] {k}: R@10 {v['recall_at_10']:.4f} ± {v['recall_at_10_stderr']:.4f} ndcg {v['ndcg_at_10']:.4f}"
              f" new items R@10 {v['new_items']['recall_at_10']:.4f}", flush=True)
vocab = ds.store.vocab
dim = ds.items.dim if len(ds.items) else 0
m = ModelConfig(layers=a.layers, hidden=a.hidden, heads=a.heads, embedding=a.embedding, max_length=a.max_length, item_vector=dim,
                id_vocab_size=len(vocab.ids), hash_buckets=vocab.hash_buckets, id_dim=16 if dim else a.embedding, dropout=a.dropout,
                last_item_skip=a.last_item_skip, last_item_skip_init=a.skip_init)
tc = TrainConfig(objective=a.objective, negatives=a.negatives, steps=a.steps, lr=a.lr, threads=a.threads, device=a.device,
                 eval_every=a.eval_every, patience=a.patience, batch_size=a.batch_size, dense_positions=a.dense_positions,
                 sasrec_positions=a.sasrec_positions, seed=a.seed, horizon_days=a.horizon_days, weight_decay=a.wd, next_positive_share=a.next_share, next_event_share=a.next_event_share,
                 random_negatives=a.random_negatives, logq=not a.no_logq, cooccurrence_init=not a.random_id_init)
def validate(model):
    v = evaluate_model(model, ds, fcfg, targets=ds.validation)
    print(f"[{a.tag}] validation R@10 {v['recall_at_10']:.4f} new items {v['new_items']['recall_at_10']:.4f}", flush=True)
    return v["new_items"]["recall_at_10"] if a.validate_new else v["recall_at_10"]
t = time.time()
model, stats = train_model(ds.store, ds.train_users, ds.label_end_ms, m, tc, fcfg.max_length, None, progress=False, validate=validate)
met = evaluate_model(model, ds, fcfg)
if a.save:
    torch.save(model.state_dict(), a.save + ".pt"); Path(a.save + ".json").write_text(json.dumps(m.__dict__))
print(f"[{a.tag}] {a.objective} steps {stats['steps']} best {stats.get('best_step')} {time.time()-t:.0f}s hist {stats.get('validation_history')}", flush=True)
if a.last_item_skip:
    print(f"[{a.tag}] last-item skip weight {model.skip_weight.item():.3f}", flush=True)
print(f"[{a.tag}] TEST R@10 {met['recall_at_10']:.4f} ± {met['recall_at_10_stderr']:.4f} ndcg {met['ndcg_at_10']:.4f} cov {met.get('p90_coverage_at_10')}"
      f" new items R@10 {met['new_items']['recall_at_10']:.4f} ± {met['new_items']['recall_at_10_stderr']:.4f} ({met['new_items']['users']} users)", flush=True)
