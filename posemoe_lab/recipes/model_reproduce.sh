#!/usr/bin/env bash
# Reproduce the lifting-network results of docs/benchmarks.md (CPU, ~2 h on 2 cores;
# SHIP=1 also retrains the shipped weights: +130 CPU-minutes).
# Every run gets the same compute: --clock cpu counts this process's CPU time, --threads 1.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root
PY=${PY:-.venv/bin/python}
$PY -m posemoe_lab.training.prepare --data ../shared/data/mocap --out .cache/mocap
MAIN=${MAIN_MINUTES:-10}
ABL=${ABLATION_MINUTES:-4}
# The schedule runs over a fixed number of steps (--steps); --minutes only ends a run early.
TOTAL=${TOTAL_STEPS:-20000}
run() { name=$1; shift; $PY -m posemoe_lab.training.train "$@" --steps $TOTAL --clock cpu --threads 1 --out .cache/runs/$name > .cache/runs/$name.log 2>&1; }
mkdir -p .cache/runs
# main comparison (two at a time on 2 cores)
run posemoe --model posemoe --minutes $MAIN & run entangled --model entangled --minutes $MAIN & wait
run tcn --model tcn --minutes $MAIN &
# ablations at a shorter, equal budget
run abl_full --model posemoe --minutes $ABL && run abl_no_depth_init --model posemoe --ablation no-depth-init --minutes $ABL &
wait
run abl_no_router --model posemoe --ablation no-router --minutes $ABL & run abl_no_cross --model posemoe --ablation no-cross --minutes $ABL & wait
# ablations at an equal number of steps (300 x 32 windows; step-counted, so bit-reproducible)
steps() { name=$1; shift; $PY -m posemoe_lab.training.train "$@" --steps 300 --threads 1 --out .cache/runs/$name > .cache/runs/$name.log 2>&1; }
steps abl300_full --model posemoe & steps abl300_no_depth_init --model posemoe --ablation no-depth-init & wait
steps abl300_no_router --model posemoe --ablation no-router & steps abl300_no_cross --model posemoe --ablation no-cross & wait
# the shipped model: the main PoseMoE run continued to 130 CPU-minutes (one schedule over TOTAL steps)
if [ -n "${SHIP:-}" ]; then
  rm -rf .cache/runs/posemoe_ship130 && cp -r .cache/runs/posemoe .cache/runs/posemoe_ship130
  for m in 20 32 80 130; do run posemoe_ship130 --model posemoe --minutes $m --resume; done
  $PY -m posemoe_lab.experiments.model_ship .cache/runs/posemoe_ship130
fi
$PY -m posemoe_lab.evaluation.mocap --runs posemoe=.cache/runs/posemoe entangled=.cache/runs/entangled tcn=.cache/runs/tcn \
    abl_full=.cache/runs/abl_full abl_no_depth_init=.cache/runs/abl_no_depth_init \
    abl_no_router=.cache/runs/abl_no_router abl_no_cross=.cache/runs/abl_no_cross \
    abl300_full=.cache/runs/abl300_full abl300_no_depth_init=.cache/runs/abl300_no_depth_init \
    abl300_no_router=.cache/runs/abl300_no_router abl300_no_cross=.cache/runs/abl300_no_cross \
    --out benchmarks/model/evaluation.md --json .cache/runs/benchmark.json
