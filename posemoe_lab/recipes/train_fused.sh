#!/usr/bin/env bash
# Fine-tune the shipped networks into MediaPipe-fusing lifters (hint3d) at equal steps on the
# multi-source data (Bandai Namco 1+2, HDM05 train actors, ReActIdle), CPU, one thread each.
# Usage: STEPS=2000 posemoe_lab/recipes/train_fused.sh posemoe entangled tcn   (runs the named ones in parallel)
#        posemoe_lab/recipes/train_fused.sh tcn2d   (the control: the same fine-tune without the fusion input)
#        SEED=12 TAG=_s12 posemoe_lab/recipes/train_fused.sh tcn   (another seed)
#        AUG='{"hint_strength": [0.5, 2.0]}' TAG=_hs posemoe_lab/recipes/train_fused.sh tcn   (landmark noise strength per window)
# Resumable: rerun with RESUME=1 to continue the checkpoints in .cache/runs/fused_<model><TAG>.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-2000}
# SW: the share of windows per source; TAG: a suffix for the run folder. Without HDM05 (so that
# its held-out actors are another lab's motion and the weights carry no share-alike term):
#   SW='{"bandai-1": 1, "bandai-2": 1, "reactidle": 0.5}' TAG=_nohdm posemoe_lab/recipes/train_fused.sh tcn
SW=${SW:-'{"bandai-1": 1, "bandai-2": 1, "hdm05": 1, "reactidle": 0.5}'}
TAG=${TAG:-}
declare -A INIT=([posemoe]=weights/posemoe_default.pt [entangled]=weights/entangled.pt [tcn]=weights/tcn_alt.pt
                 [posemoe2d]=weights/posemoe_default.pt [entangled2d]=weights/entangled.pt [tcn2d]=weights/tcn_alt.pt)
declare -A CFG=([posemoe]='{"hint3d": true, "scale_from_depth": true, "dim": 48, "depth": 2, "expert_hidden": 48}'
                [entangled]='{"hint3d": true, "dim": 64, "depth": 3, "mlp_hidden": 192}'
                [tcn]='{"hint3d": true, "channels": 256, "dropout": 0.1}'
                [posemoe2d]='{"dim": 48, "depth": 2, "expert_hidden": 48}'
                [entangled2d]='{"dim": 64, "depth": 3, "mlp_hidden": 192}'
                [tcn2d]='{"channels": 256, "dropout": 0.1}')
# posemoe's fused head (scale_from_depth) is not in its init file: train refuses a changed head
# on --init (it trains from scratch), so posemoe starts from scratch here.
for m in "$@"; do
  HINT=(--hint-model weights/mediapipe_noise.json)
  [[ $m == *2d ]] && HINT=()
  INIT_ARG=(--init "${INIT[$m]}")
  [[ $m == posemoe ]] && INIT_ARG=()
  nice -n 3 "$PY" -m posemoe_lab.training.train --model "${m%2d}" --config "${CFG[$m]}" "${INIT_ARG[@]}" \
    "${HINT[@]}" --data .cache/mocap --source-weights "$SW" \
    --steps "$STEPS" --batch 64 --lr 3e-4 --new-lr-mult 10 --seed ${SEED:-11} --log-every 50 --threads 1 \
    ${AUG:+--aug "$AUG"} ${RESUME:+--resume} --out ".cache/runs/fused_$m$TAG" > ".cache/runs/fused_$m$TAG.log" 2>&1 &
done
wait
