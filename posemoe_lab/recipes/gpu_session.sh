#!/usr/bin/env bash
# One GPU lease, one command: train PoseMoE, the entangled transformer and the TCN at an equal
# number of steps side by side on one CUDA GPU, measure GPU lifting speed, evaluate on the
# held-out split, and leave everything under $OUT (see docs/benchmarks.md, "GPU").
# Needs the mocap pack (python -m posemoe_lab.training.datapack pack .cache/mocap .pack/mocap.npz)
# carried in .pack/. Knobs: PY, DEV, TRAIN_SECONDS, BATCH, LR, SMOKE_STEPS, W_P/W_E/W_T (loader
# workers per trainer), AUG (JSON augmentation overrides for all three, e.g. '{"bias_rel": 0.025}').
set -uo pipefail
cd "$(dirname "$0")/../.."  # the repository root
PY=${PY:-python3}; DEV=${DEV:-cuda}; OUT=${OUT:-/tmp/gpu_out}
TRAIN_SECONDS=${TRAIN_SECONDS:-400}; BATCH=${BATCH:-256}; LR=${LR:-2e-3}; SMOKE_STEPS=${SMOKE_STEPS:-60}
W_P=${W_P:-5}; W_E=${W_E:-4}; W_T=${W_T:-3}; AUG=${AUG:-}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=.
mkdir -p "$OUT" .cache/runs
t0=$(date +%s); stamp() { echo "== $(( $(date +%s) - t0 )) s: $*"; }
stamp "machine"; nvidia-smi -L 2>/dev/null; nproc
$PY -c "import sys,torch,numpy,scipy;print(sys.version.split()[0],'torch',torch.__version__,'numpy',numpy.__version__,'scipy',scipy.__version__,'cuda',torch.cuda.is_available())"
stamp "unpack data"; $PY -m posemoe_lab.training.datapack unpack .pack/mocap.npz .cache/mocap || exit 1
if [ "$DEV" = cuda ]; then
  stamp "CUDA test"; timeout 60 $PY -m pytest -q -p no:cacheprovider tests/test_lifting.py 2>&1 | tail -4
  stamp "GPU throughput"; timeout 90 $PY -m posemoe_lab.evaluation.gpu_throughput --weights shipped=weights/posemoe_default.pt --json $OUT/gpu_fps_shipped.json
fi
common="--device $DEV --batch $BATCH --lr $LR --clock wall --ckpt-seconds 60 --log-every 100"
trainer() { # name model workers extra...
  local name=$1 model=$2 w=$3; shift 3
  $PY -m posemoe_lab.training.train --model $model --loader-workers $w $common ${AUG:+--aug "$AUG"} "$@" \
    --out .cache/runs/$name > .cache/runs/$name.log 2>&1
}
stamp "smoke (step rates side by side)"
trainer smoke_p posemoe $W_P --steps $SMOKE_STEPS --log-every 20 & trainer smoke_e entangled $W_E --steps $SMOKE_STEPS --log-every 20 &
trainer smoke_t tcn $W_T --steps $SMOKE_STEPS --log-every 20 & wait
for n in smoke_p smoke_e smoke_t; do tail -2 .cache/runs/$n.log; done
rate() { grep '^step' .cache/runs/$1.log | tail -1 | sed 's/.*| *\([0-9.]*\) it\/s.*/\1/'; }
RP=$(rate smoke_p); RE=$(rate smoke_e); RT=$(rate smoke_t)
STEPS=$($PY -c "r=min($RP,$RE,$RT); print(max(100,int(r*$TRAIN_SECONDS)))")
stamp "rates posemoe $RP entangled $RE tcn $RT it/s -> $STEPS steps each (batch $BATCH)"
CAP=$($PY -c "print(round($TRAIN_SECONDS*1.12/60,2))")
trainer gpu_posemoe posemoe $W_P --steps $STEPS --minutes $CAP & trainer gpu_entangled entangled $W_E --steps $STEPS --minutes $CAP &
trainer gpu_tcn tcn $W_T --steps $STEPS --minutes $CAP & wait
# PoseMoE is the slowest per step: if the wall-clock cap stopped it short of $STEPS, continue a copy
# to exactly $STEPS steps (a warm restart of its cosine schedule), alone on the GPU
DONE_P=$(grep -o '"steps": [0-9]*' .cache/runs/gpu_posemoe/summary.json | grep -o '[0-9]*$')
if [ "${DONE_P:-0}" -lt "$STEPS" ]; then
  stamp "posemoe stopped at $DONE_P of $STEPS steps: continuing a copy (gpu_posemoe_eq)"
  rm -rf .cache/runs/gpu_posemoe_eq; cp -r .cache/runs/gpu_posemoe .cache/runs/gpu_posemoe_eq; rm -f .cache/runs/gpu_posemoe_eq/model.pt
  timeout 300 $PY -m posemoe_lab.training.train --model posemoe --loader-workers 12 $common ${AUG:+--aug "$AUG"} --steps $STEPS --resume \
    --out .cache/runs/gpu_posemoe_eq > .cache/runs/gpu_posemoe_eq.log 2>&1
fi
for n in gpu_posemoe gpu_posemoe_eq gpu_entangled gpu_tcn; do [ -d .cache/runs/$n ] || continue; echo "-- $n"; grep '^step' .cache/runs/$n.log | awk 'NR%10==1'; tail -2 .cache/runs/$n.log; done
stamp "evaluate (held-out split)"
timeout 90 $PY -m posemoe_lab.evaluation.mocap --threads 8 --no-speed --runs gpu_posemoe=.cache/runs/gpu_posemoe \
  $( [ -d .cache/runs/gpu_posemoe_eq ] && echo gpu_posemoe_eq=.cache/runs/gpu_posemoe_eq ) \
  gpu_entangled=.cache/runs/gpu_entangled gpu_tcn=.cache/runs/gpu_tcn shipped=weights/posemoe_default.pt \
  --out /tmp/eval.md --json $OUT/eval.json; cat /tmp/eval.md
if [ "$DEV" = cuda ]; then
  stamp "GPU throughput of the new weights"; timeout 90 $PY -m posemoe_lab.evaluation.gpu_throughput --frames 2000 --weights \
    gpu_posemoe=.cache/runs/gpu_posemoe/model.pt $( [ -d .cache/runs/gpu_posemoe_eq ] && echo gpu_posemoe_eq=.cache/runs/gpu_posemoe_eq/model.pt ) gpu_entangled=.cache/runs/gpu_entangled/model.pt \
    gpu_tcn=.cache/runs/gpu_tcn/model.pt --json $OUT/gpu_fps.json
fi
stamp "pack results"
(cd .cache && tar czf $OUT/runs.tgz --exclude='checkpoint.pt' runs/gpu_* runs/smoke_*.log && tar czf $OUT/checkpoints.tgz runs/gpu_*/checkpoint.pt)
ls -la $OUT; stamp "done"
