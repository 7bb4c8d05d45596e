#!/usr/bin/env bash
# One stage of the GPU results in docs/results/, run on the lent GPU machine from the project
# root (its image lacks Hydra, MLflow and torchao: they come as wheels in .whl, and
# onnxruntime-gpu in /tmp/ortsite, see ../shared/device/README.md). Weights and datasets cannot
# reach that machine: ImageNet/BERT models run with random weights on synthetic inputs, the
# digits models with their trained weights on the bundled digits set.
# Usage: bash scripts/gpu_stage.sh <stage> [seconds]   -> records and the MLflow store under $OUT
set -uo pipefail
stage=$1; budget=${2:-540}
if [ -d .whl ]; then  # carried once; later calls on the same warm machine reuse /tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:/tmp/ortsite:$PWD PYTHONUNBUFFERED=1
common=(device=cuda tracking_uri=sqlite:////tmp/gpu_$stage.db experiment=gpu_study cache_dir=/tmp/bench_cache
        timing.warmup_s=1 timing.min_s=1 "hydra.sweep.dir=/tmp/multirun/$stage")
random_synthetic=(model.pretrained=false dataset=synthetic eval_samples=256)
case $stage in
  vision) args=(-m model=resnet,mobilenet "${random_synthetic[@]}" backend=eager,compile_cudagraphs,onnxruntime,torchao
                precision=fp16,int8 batch_size=1,64) ;;
  bert) args=(-m model=bert "${random_synthetic[@]}" model.max_length=256 backend=eager,compile_cudagraphs,onnxruntime,torchao
              precision=fp32,fp16,int8,fp8 batch_size=1,64) ;;
  digits) args=(-m model=fcn,cnn,lstm backend=eager,torchscript,onnxruntime,torchao,compile_cudagraphs
                precision=fp32,fp16,int8,fp8 batch_size=1,64) ;;
  digits_rest) args=(-m model=lstm,cnn backend=eager,torchscript,compile_cudagraphs precision=fp32,fp16 batch_size=1,64) ;;
  vision_more) args=(-m model=resnet,mobilenet "${random_synthetic[@]}" backend=eager,compile,aoti,torchao,tensorrt
                     precision=fp32,bf16,fp16,fp8 batch_size=64) ;;
  cache_a|cache_b) args=(-m model=resnet "${random_synthetic[@]}" backend=torchscript,onnxruntime,aoti precision=fp16 batch_size=1) ;;
  fill) args=(-m model=resnet,mobilenet "${random_synthetic[@]}" backend=eager,compile_cudagraphs,onnxruntime,aoti,torchao
              precision=fp16,int8 batch_size=16,32) ;;
  bert_fill) args=(-m model=bert "${random_synthetic[@]}" model.max_length=256 backend=eager,compile_cudagraphs,onnxruntime
                   precision=fp16 batch_size=16,32) ;;
  text) args=(-m model=t5,gptneo model.pretrained=false dataset=synthetic backend=eager,compile_cudagraphs,onnxruntime
              precision=fp32,bf16 batch_size=1,16) ;;
  gptneo) args=(-m model=gptneo model.pretrained=false dataset=synthetic backend=eager,compile_cudagraphs
                precision=bf16,fp32 batch_size=16) ;;
  *) echo "unknown stage $stage"; exit 2 ;;
esac
timeout "$budget" python3 -m benchmark "${args[@]}" "${common[@]}" 2>&1 | grep -vE "Warning|warn\(|^\s*$" | tee "$OUT/log_$stage.txt" | grep -E "^\[ *(ok|skipped|error|oom|crashed|timeout)\]"
cp /tmp/gpu_$stage.db "$OUT/" 2>/dev/null
(cd /tmp/multirun && tar czf "$OUT/records_$stage.tgz" $(find "$stage" -name record.json) 2>/dev/null)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/gpu_$stage.csv"
