#!/usr/bin/env bash
# The harness-vs-bare-loop check of docs/results, on the GPU machine (see gpu_stage.sh for the set-up).
export PYTHONPATH=/tmp/site:/tmp/ortsite:$PWD PYTHONUNBUFFERED=1
common="model.pretrained=false dataset=synthetic eval_samples=64 device=cuda timing.min_s=1"
echo "| cell | harness mean batch ms | bare loop ms (event, call, event, wait) | gap | bare loop pipelined ms |" | tee "$OUT/bare_loop.md"
echo "|---|---|---|---|---|" | tee -a "$OUT/bare_loop.md"
for cell in "model=resnet backend=eager precision=fp16 batch_size=64" \
            "model=resnet backend=compile_cudagraphs precision=fp16 batch_size=1" \
            "model=bert model.max_length=256 backend=compile_cudagraphs precision=fp16 batch_size=64"; do
  timeout 90 python3 scripts/bare_loop.py $cell $common 2>&1 | grep -E "^\||Error" | tee -a "$OUT/bare_loop.md"
done
