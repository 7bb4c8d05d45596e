#!/usr/bin/env bash
# The scale-out check of docs/results/gpu-h100x4/scaleout.md: the same sweep sequentially on one
# GPU and spread over two (hydra/launcher=gpus, one cell per GPU at a time); `scaleout` runs the
# first GPU grid on the GPUs it leaves free (the study replaced that grid: scripts/gpu_trust.sh
# study_zoo, study_digits).
# Run on the lent GPU machine from the project root (its image lacks Hydra, MLflow, torchao and
# the launcher plugins: they come as wheels in .whl; onnxruntime-gpu in /tmp/ortsite, see
# ../shared/device/README.md). Weights and datasets cannot reach that machine: ImageNet/BERT
# models run with random weights on synthetic inputs, the digits models with their trained
# weights on the bundled digits set.
#
# Usage: bash scripts/gpu_grid.sh scaleout <seconds>   the scale-out pair first, the grid beside it
#        bash scripts/gpu_grid.sh scaleout_quiet       the scale-out pair alone, one after the other
# Everything lands under /tmp (kept while the machine stays warm) and is copied to $OUT.
set -uo pipefail
part=$1; budget=${2:-540}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:/tmp/ortsite:$PWD PYTHONUNBUFFERED=1
mkdir -p /tmp/logs
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd,)
fast_timing=(timing.warmup_s=0.5 timing.min_s=1)
random_synthetic=(model.pretrained=false dataset=synthetic eval_samples=128)
# aoti is left out: on the GPU image's torch 2.11+cu130 every AOTInductor package segfaults while
# loading (scripts/aoti_probe.py; docs/results/gpu-h100x4/README.md), after 1-3 minutes of build.
grid_backends=eager,torchscript,compile,compile_cudagraphs,onnxruntime,torchao,tensorrt
quiet() { grep --line-buffered -vE "Warning|warn\(|^\s*$"; }

grid() {  # one of the grid's sweeps; resume=true picks up what an earlier call recorded
  local name=$1; shift
  CUDA_VISIBLE_DEVICES=$gpus python3 -m benchmark -m "$@" "backend=$grid_backends" precision=fp32,fp16,bf16,int8,fp8 \
    batch_size=1,16,32,64 device=cuda hydra/launcher=gpus resume=true "${fast_timing[@]}" \
    cache_dir=/tmp/bench_cache tracking_uri=sqlite:////tmp/grid.db experiment=gpu_grid \
    "hydra.sweep.dir=/tmp/multirun/$name/$(date +%Y%m%d-%H%M%S)" 2>&1 | quiet >> "/tmp/logs/grid_$name.txt"
}

scale_cells=(-m model=resnet,mobilenet "${random_synthetic[@]}" backend=eager,compile_cudagraphs,onnxruntime
             precision=fp16 batch_size=1,64 device=cuda hydra/launcher=gpus "${fast_timing[@]}"
             artifact_cache=false tracking_uri=sqlite:////tmp/scale.db experiment=scaleout)
scale() {  # the same sweep on the GPUs given; its wall time in seconds goes to the log
  local name=$1 visible=$2 start=$SECONDS
  CUDA_VISIBLE_DEVICES=$visible python3 -m benchmark "${scale_cells[@]}" cache_dir=/tmp/cache_$name \
    "hydra.sweep.dir=/tmp/multirun/$name" 2>&1 | quiet > "/tmp/logs/scale_$name.txt"
  echo "wall_s $((SECONDS - start)) gpus $visible" >> "/tmp/logs/scale_$name.txt"
}

case $part in
  scaleout)
    # GPU 0: the sequential run; GPUs 1-2: the spread run; GPU 3 (and the others once the pair
    # is done): the grid. Each cell holds its GPU's lock, so no two cells ever share a GPU.
    scale sequential 0 & sequential=$!
    scale spread 1,2 & spread=$!
    gpus=3 grid digits model=fcn,cnn,lstm &
    wait $sequential $spread
    grid vision model=resnet,mobilenet "${random_synthetic[@]}" &
    grid bert model=bert "${random_synthetic[@]}" model.max_length=256 &
    sleep $((budget - SECONDS)) ;;
  scaleout_quiet)
    # The scale-out check with nothing beside it: sequentially on GPU 0, then spread over GPUs 0-1.
    scale sequential_quiet 0
    scale spread_quiet 0,1 ;;
  *) echo "unknown part $part"; exit 2 ;;
esac
# Out of time: stop the sweeps (the cells in flight leave no record: resume reruns them)
pkill -INT -f "python3 -m benchmark -m"; sleep 5; pkill -KILL -f "loky|benchmark"; sleep 1
cp /tmp/grid.db /tmp/scale.db "$OUT/" 2>/dev/null
(cd /tmp/multirun && tar czf "$OUT/records.tgz" $(find . -name record.json -o -name multirun.yaml) 2>/dev/null)
(cd /tmp/logs && tar czf "$OUT/logs.tgz" .)
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/gpus.csv"
for f in /tmp/logs/*.txt; do echo "== $f: $(grep -cE '^\[ *(ok|skipped|error|oom|crashed|timeout)\]' "$f") cells"; done
grep -h wall_s /tmp/logs/scale_*.txt
