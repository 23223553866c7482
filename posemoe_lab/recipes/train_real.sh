#!/usr/bin/env bash
# Second stage: the fused networks (posemoe_lab/recipes/train_fused.sh) continue on batches half simulated,
# half BlazePose's real outputs on rendered training motion (posemoe_lab/experiments/render_train_set.py +
# posemoe_lab/experiments/make_real_pairs.py --no-landmark-correction), at equal steps.
# Usage: STEPS=600 posemoe_lab/recipes/train_real.sh posemoe entangled tcn    (RESUME=1 to continue)
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-600}
PAIRS=${PAIRS:-.cache/real_pairs_nc.npz}
SW='{"bandai-1": 1, "bandai-2": 1, "hdm05": 1, "reactidle": 0.5}'
for m in "$@"; do
  cfg=$("$PY" -c "import json,torch,sys; print(json.dumps(torch.load('.cache/runs/fused_$m/model.pt', weights_only=True)['config']))")
  nice -n 3 "$PY" -m posemoe_lab.training.train --model "$m" --config "$cfg" --init ".cache/runs/fused_$m/model.pt" \
    --hint-model weights/mediapipe_noise.json --real-pairs "$PAIRS" --real-frac 0.5 --data .cache/mocap \
    --source-weights "$SW" --steps "$STEPS" --batch 64 --lr 1.5e-4 --seed 12 --log-every 50 --threads 1 \
    ${RESUME:+--resume} --out ".cache/runs/real_$m" > ".cache/runs/real_$m.log" 2>&1 &
done
wait
