#!/usr/bin/env bash
# One GPU session (16 cores, one GPU): objective variants as independent single-seed trials
# (training/gpu/trial.py), all at once; reports/ablation-variants.md is written from its exp2.log.
# LIST=FILE runs FILE's trials instead ($S, $R, $T expand), e.g. LIST=training/gpu/lists/skip.trials:
# the last-item skip against the CLI default, three seeds on each split. BUDGET: seconds per trial.
set -u
OUT=${OUT:-/tmp/out}; W=/tmp/e2; rm -rf $W; mkdir -p $W
E="--steps 2000 --eval-every 250 --patience 4 --max-length 128 --no-baselines --device cuda"
S="--data training/runs/ablation-data --no-items"; R="--data training/runs/ratings-data --no-items"
T="--data training/runs/ablation-data --protocol time"
if [ -n "${LIST:-}" ]; then eval "cat <<LIST2
$(cat "$LIST")
LIST2" > $W/list; else
cat > $W/list <<LIST
$S --next-share 0.5 --tag syn-dnext
$S --next-share 0.5 --next-event-share 0.5 --tag syn-dnext-ev
$S --next-event-share 1.0 --tag syn-dense-ev1
$S --next-share 0.5 --next-event-share 0.5 --dropout 0.2 --tag syn-dnext-ev-do2
$R --next-share 0.5 --tag rat-dnext
$R --next-share 0.5 --next-event-share 0.5 --tag rat-dnext-ev
$R --next-event-share 1.0 --tag rat-dense-ev1
$R --next-share 0.5 --next-event-share 0.5 --dropout 0.2 --tag rat-dnext-ev-do2
$T --next-share 0.5 --tag time-dnext
$T --next-share 0.5 --next-event-share 0.5 --tag time-dnext-ev
$R --next-share 0.5 --next-event-share 0.5 --max-length 256 --tag rat-dnext-ev-m256
$R --next-share 0.5 --dropout 0.3 --tag rat-dnext-do3
$S --next-share 0.5 --next-event-share 0.5 --lr 1e-3 --tag syn-dnext-ev-lr1
$R --next-share 0.5 --next-event-share 0.5 --lr 1e-3 --tag rat-dnext-ev-lr1
$R --next-share 0.5 --next-event-share 0.5 --hidden 128 --embedding 128 --tag rat-dnext-ev-h128
$S --next-share 0.5 --next-event-share 0.5 --seed 1 --tag syn-dnext-ev-s1
LIST
fi
run() { OMP_NUM_THREADS=1 PYTHONPATH=training PYTHONUNBUFFERED=1 python3 training/gpu/trial.py $E $1 > $W/log-$2 2>&1; grep -h "^\[" $W/log-$2 >> $OUT/exp2.log; echo "[$SECONDS s] $(grep -h TEST $W/log-$2)"; }
export -f run; export W E OUT
n=0; while read -r line; do n=$((n+1)); ( timeout ${BUDGET:-265} bash -c "run \"$line\" $n" ) & done < $W/list
wait
grep -h "TEST\|steps" $OUT/exp2.log | grep -v loaded
