#!/usr/bin/env bash
# One GPU session: the ablation's runs as independent jobs (one process per data/protocol/config/seed),
# 16 at a time, most important first; each writes its own state file; then states are merged per group.
set -u
OUT=${OUT:-/tmp/out}; W=/tmp/abl; rm -rf $W; mkdir -p $W/jobs
POOL=${POOL:-16}; BUDGET=${BUDGET:-470}
COMMON="--steps ${STEPS:-2000} --eval-every ${EVAL_EVERY:-250} --patience 3 --threads 1 --device cuda --seeds 3"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
start=$SECONDS
jobs=()
add() { jobs+=("$*"); }  # group|args
if [ -n "${JOBS:-}" ]; then  # a job list file: one "group|ablation arguments" per line
  while read -r line; do [ -n "$line" ] && add "$line"; done < "$JOBS"
else
OBJ="dense_all_action dense_all_action_next sasrec next_action all_action"
for s in 0 1; do
  for c in $OBJ; do add "ratings|--data training/runs/ratings-data --no-items --protocols leave_last_out --configs $c --seed-list $s"; done
  for c in $OBJ; do add "synthetic|--protocols leave_last_out --configs $c --seed-list $s"; done
  for c in $OBJ; do add "synthetic|--protocols time --configs $c --seed-list $s"; done
done
E="--steps 3000 --eval-every 250 --max-length 128 --no-baselines --device cuda"
add "exp|$E --data training/runs/ablation-data --no-items --objective sasrec --lr 5e-3 --tag syn-sasrec-lr5"
add "exp|$E --data training/runs/ablation-data --no-items --next-share 0.5 --lr 5e-3 --tag syn-dnext-lr5"
add "exp|$E --data training/runs/ratings-data --next-share 0.5 --lr 5e-3 --tag rat-dnext-lr5"
add "exp|$E --data training/runs/ratings-data --objective sasrec --sasrec-positions 0 --tag rat-sasrec-all"
add "exp|$E --data training/runs/ratings-data --next-share 0.5 --hidden 128 --embedding 128 --tag rat-dnext-h128"
add "exp|$E --data training/runs/ablation-data --no-items --next-share 0.5 --hidden 128 --embedding 128 --tag syn-dnext-h128"
for c in $OBJ; do add "ids|--no-items --protocols leave_last_out --configs $c --seed-list 0"; done
for c in $OBJ; do add "ratings|--data training/runs/ratings-data --no-items --protocols leave_last_out --configs $c --seed-list 2"; done
for c in $OBJ; do add "synthetic|--protocols leave_last_out --configs $c --seed-list 2"; done
for c in $OBJ; do add "synthetic|--protocols time --configs $c --seed-list 2"; done
for c in neg_random_logq neg_random_no_logq neg_in_batch_logq neg_in_batch_no_logq neg_mixed_no_logq; do
  add "synthetic|--protocols time --configs $c --seed-list 0"; done
fi
i=0
for j in "${jobs[@]}"; do
  i=$((i+1)); g=${j%%|*}; a=${j#*|}
  printf '%s\t%s\t%s\n' $i "$g" "$a" >> $W/jobs/list
done
run_job() {
  local i=$1 g=$2 a=$3
  if [ "$g" = exp ]; then
    OMP_NUM_THREADS=1 PYTHONPATH=training PYTHONUNBUFFERED=1 python3 training/gpu/trial.py $a > $W/jobs/log-$i 2>&1
    grep -h "^\[" $W/jobs/log-$i >> $OUT/exp.log
  else
  OMP_NUM_THREADS=1 PYTHONPATH=training PYTHONUNBUFFERED=1 python3 -m pinnerformer.ablation $COMMON $a \
    --state $W/jobs/state-$g-$i.json --out $W/jobs/out-$i > $W/jobs/log-$i 2>&1
  fi
  echo "[$((SECONDS))s] job $i ($g: $a) exit $? $(grep -h 'recall@10' $W/jobs/log-$i | grep -v baseline | tail -1)"
}
export -f run_job; export W COMMON OUT
timeout $BUDGET bash -c "cut -f1-3 $W/jobs/list | tr '\t' '\001' | xargs -d '\n' -P $POOL -I{} bash -c 'IFS=\$(printf \"\\001\") read -r i g a <<< \"{}\"; run_job \"\$i\" \"\$g\" \"\$a\"'"
echo "pool ended after $((SECONDS-start))s"
python3 - $W $OUT <<'PY'
import json, sys, pathlib
w, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
groups = {}
for p in sorted((w / "jobs").glob("state-*.json")):
    g = p.name.split("-")[1]
    s = json.loads(p.read_text())
    m = groups.setdefault(g, {})
    m.setdefault(s["key"], {"key": s["key"], "runs": {}})["runs"].update(s["runs"])
for g, by_key in groups.items():
    for n, (k, st) in enumerate(by_key.items()):
        (out / f"state-{g}-{n}.json").write_text(json.dumps(st, indent=1))
        for name, v in sorted(st["runs"].items()):
            if "baselines" in name:
                print(g, name, {b: round(x["recall_at_10"], 4) for b, x in v.items()})
            else:
                print(g, name, "R@10", round(v["recall_at_10"], 4), "steps", v.get("steps"), "best", v.get("best_step"), "train_s", v.get("train_seconds"))
PY
cp $W/jobs/list $OUT/ 2>/dev/null; tail -n 3 $W/jobs/log-1 | tr '\r' '\n' | tail -2
echo "total $((SECONDS-start))s"
