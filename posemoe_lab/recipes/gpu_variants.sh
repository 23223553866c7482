#!/usr/bin/env bash
# One GPU lease, one command: train several PoseMoE configurations side by side on one CUDA GPU
# with the data stream, batch, learning rate and step budget of the equal-steps comparison in
# docs/benchmarks.md (5,627 x 512 windows, seed 0), evaluate them on the held-out split,
# time the best on the GPU, and leave everything under $OUT.
#
#   posemoe_lab/recipes/gpu_variants.sh NAME='{"mix_2d": true}' NAME2:entangled='{}' ...
#
# (NAME[:MODEL]=CONFIG_JSON: MODEL defaults to $MODEL, CONFIG_JSON overrides its default config.)
#
# Needs the mocap pack in .pack/ (python -m posemoe_lab.training.datapack pack .cache/mocap
# .pack/mocap.npz), carried to the device. Knobs: PY, DEV, STEPS, BATCH, LR, MINUTES (a wall-clock
# cap per run: the cosine schedule then anneals on time and the run stops short of STEPS, which
# summary.json records), W (loader workers per run), MODEL (posemoe or entangled), AUG,
# GPU_EXTRAS=0 (skip the CUDA test and the GPU throughput).
set -uo pipefail
cd "$(dirname "$0")/../.."  # the repository root
PY=${PY:-python3}; DEV=${DEV:-cuda}; OUT=${OUT:-/tmp/gpu_out}
STEPS=${STEPS:-5627}; BATCH=${BATCH:-512}; LR=${LR:-2e-3}; MINUTES=${MINUTES:-6.5}; W=${W:-4}
MODEL=${MODEL:-posemoe}; AUG=${AUG:-}; EVAL_SEGMENTS=${EVAL_SEGMENTS:-400}; GPU_EXTRAS=${GPU_EXTRAS:-1}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=.
mkdir -p "$OUT" .cache/runs
t0=$(date +%s); stamp() { echo "== $(( $(date +%s) - t0 )) s: $*"; }
stamp "machine"; nvidia-smi -L 2>/dev/null; nproc --all
$PY -c "import sys,torch,numpy;print(sys.version.split()[0],'torch',torch.__version__,'numpy',numpy.__version__,'cuda',torch.cuda.is_available())"
[ -f .cache/mocap/mocap.npz ] || { stamp "unpack data"; $PY -m posemoe_lab.training.datapack unpack .pack/mocap.npz .cache/mocap || exit 1; }
names=()
for spec in "$@"; do
  head=${spec%%=*}; cfg=${spec#*=}; name=${head%%:*}; model=$MODEL
  [ "$head" != "$name" ] && model=${head#*:}
  names+=("$name"); rm -rf .cache/runs/$name
  $PY -m posemoe_lab.training.train --model $model --config "$cfg" --device $DEV --batch $BATCH --lr $LR \
    --steps $STEPS --minutes $MINUTES --clock wall --ckpt-seconds 60 --log-every 200 --loader-workers $W \
    ${AUG:+--aug "$AUG"} --out .cache/runs/$name > .cache/runs/$name.log 2>&1 &
done
stamp "training ${names[*]} ($STEPS steps x $BATCH, cap $MINUTES min each)"; wait
runs=()
for n in "${names[@]}"; do
  echo "-- $n"; grep '^step' .cache/runs/$n.log | awk 'NR%5==1'; tail -2 .cache/runs/$n.log
  [ -f .cache/runs/$n/model.pt ] && runs+=("$n=.cache/runs/$n")
done
stamp "evaluate (held-out split)"
[ "$DEV" = cuda ] && [ "$GPU_EXTRAS" = 1 ] && { timeout 60 $PY -m pytest -q -p no:cacheprovider tests/test_lifting.py -k cuda > $OUT/cuda_test.log 2>&1 & }
timeout 150 $PY -m posemoe_lab.evaluation.mocap --threads 12 --no-speed --segments $EVAL_SEGMENTS --runs "${runs[@]}" \
  shipped=weights/posemoe_default.pt --out $OUT/eval.md --json $OUT/eval.json; cat $OUT/eval.md
if [ "$DEV" = cuda ] && [ "$GPU_EXTRAS" = 1 ]; then
  stamp "GPU throughput"; timeout 60 $PY -m posemoe_lab.evaluation.gpu_throughput --seconds 2 --frames 2000 --weights \
    $(for r in "${runs[@]}"; do echo "${r%%=*}=${r#*=}/model.pt"; done) --json $OUT/gpu_fps.json
fi
stamp "pack results"
(cd .cache && tar czf $OUT/runs.tgz --exclude='checkpoint.pt' $(for n in "${names[@]}"; do echo runs/$n runs/$n.log; done))
wait; tail -3 $OUT/cuda_test.log 2>/dev/null; ls -la $OUT; stamp "done"
