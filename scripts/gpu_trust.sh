#!/usr/bin/env bash
# The trust check of docs/results/trust/ (issue 13), on the lent GPU machine from the project root:
# resnet, mobilenet and bert (random weights, synthetic inputs: no weights or datasets reach that
# machine) over eager, torchscript, onnxruntime and compile_cudagraphs at fp32/fp16/bf16 and
# batch 1 and 64, one cell per GPU (hydra/launcher=gpus); then the fp16 batch-64 cells once more
# in fresh workers (repeat agreement); and `make test-gpu`.
# Its image lacks Hydra, the joblib launcher, MLflow and torchao (carried as wheels in .whl: `bash
# ../shared/device/wheelhouse.sh hydra-joblib-launcher==1.2.0`) and
# onnxruntime-gpu (parts .ortxN from scripts/ort_gpu_parts.sh). Sweeps run detached (setsid), so
# calls that carry the next wheel part can follow while cells run; `status` shows progress.
#
# Usage: bash scripts/gpu_trust.sh setup            install what this call carries
#        bash scripts/gpu_trust.sh sweep NAME GPUS [CORES]  start sweep NAME on GPUS (and CORES): all (every cell, the
#                                                   onnxruntime ones last, so its parts can follow),
#                                                   torch | ort (its halves), repeat (fp16 bs64 again),
#                                                   speed (speed_cnn + speed_bert) | autotune (issue 16's fp16 rows),
#                                                   ab_layout | ab_ort | ab_freezing (its leads, batch 64),
#                                                   ab_capture (compile_cudagraphs with Inductor's trees, graph_capture=trees)
#                                                   study_zoo | study_digits (issue 17, on every GPU given),
#                                                   study_gptneo | study_gptneo_ts | study_gptneo_ortcg |
#                                                   study_gptneo_torchao | study_t5_rest | study_t5_fp8 | study_t5_ts
#                                                   (what study_zoo has left),
#                                                   study_cpu_zoo | study_cpu_digits (its CPU rows; GPUS: -)
#        bash scripts/gpu_trust.sh chain N1,N2 GPUS [CORES]  sweeps N1, N2, ... one after the other (a name
#                                                   testgpu: `make test-gpu` on those GPUs, in turn)
#        bash scripts/gpu_trust.sh stop GPUS        end the chain started on GPUS now (its running cell is lost: a
#                                                   later resume measures it), e.g. to run testgpu alone on the GPU
#        bash scripts/gpu_trust.sh wait NAME [SECONDS]  until chained sweep NAME has ended (keeps the call alive)
#        bash scripts/gpu_trust.sh testgpu GPU      make test-gpu on one GPU (log -> $OUT)
#        bash scripts/gpu_trust.sh bare GPU [CORES]        bare_loop.py over the speed sweep's best rows (-> $OUT)
#        bash scripts/gpu_trust.sh alone GPU        issue 16's cells one at a time: harness, bare loop, recipe (-> $OUT/alone.md;
#                                                   ALONE_ORT=1 adds ORT ResNet18, which needs the ORT parts)
#        bash scripts/gpu_trust.sh draws GPU ["CELL"]  one cell three times, harness and bare loop each a fresh build (-> $OUT/draws.md)
#        bash scripts/gpu_trust.sh two_cpu CORES    issue 15: a CPU sweep alone, twice at once, alone again (-> $OUT/two_sweeps.md)
#        bash scripts/gpu_trust.sh restore DIR      records of an earlier machine (collect's records.tgz
#                                                   in DIR) -> /tmp/multirun/<sweep>_earlier, so that
#                                                   `sweep` resumes from them (a machine is held 30 min)
#        bash scripts/gpu_trust.sh othercpu GPU [CORES]  scripts/other_cpu_probe.py on one GPU and its cores (-> $OUT/other_cpu.md)
#        bash scripts/gpu_trust.sh status           cells done per sweep, the last lines
#        bash scripts/gpu_trust.sh keep SECONDS     a keep-alive call: wait, `status`, then the records and logs so far
#                                                   -> $OUT (a machine idle 30 s is given back with all it measured:
#                                                   so a lost machine loses one call's cells at most)
#        bash scripts/gpu_trust.sh collect          records, logs and the report -> $OUT
set -uo pipefail
export PYTHONPATH=/tmp/site:/tmp/ortsite:$PWD PYTHONUNBUFFERED=1
mkdir -p /tmp/logs /tmp/multirun
models=(model=resnet,mobilenet,bert model.pretrained=false dataset=synthetic eval_samples=128 model.max_length=256)
zoo=(model.pretrained=false dataset=synthetic eval_samples=128)  # the study's pretrained zoo: nothing downloads there
common=(device=cuda hydra/launcher=gpus cache_dir=/tmp/bench_cache tracking_uri=sqlite:////tmp/trust.db
        experiment=trust)
pack_records() {  # every record and log so far -> $OUT
  (cd /tmp/multirun && tar czf "$OUT/records.tgz" $(find . -name record.json -o -name multirun.yaml))
  (cd /tmp/logs && tar czf "$OUT/logs.tgz" .)
  if [ -f /tmp/logs/test-gpu.log ]; then cp /tmp/logs/test-gpu.log "$OUT/"; fi
}
# The sweeps' launchers (gpus and cpus extend joblib's), which wheelhouse.sh leaves out unless asked:
# without it every sweep of a chain ends at once in Hydra's compose error, and `keep` saw 0 cells
# for a whole call (session 9) before anyone read the log
need_launcher() {
  python3 -c "import hydra_plugins.hydra_joblib_launcher" 2>/dev/null && return
  echo "no hydra-joblib-launcher in /tmp/site: build .whl with" \
       "bash ../shared/device/wheelhouse.sh hydra-joblib-launcher==1.2.0, then send it with setup"
  exit 1
}
done_cells() { grep -chE '^\[ *(ok|invalid|skipped|error|oom|crashed|timeout)\]' "$1" 2>/dev/null; }

one_cells() {  # GPU OUTFILE CELL...: each cell (fp16, bs64) by the harness, then by bare_loop.py, one at a time
  local gpu=$1 out=$2; shift 2
  python3 -c "import sys; sys.path.insert(0, 'scripts'); from bare_loop import ONE_CELL_HEADER; print(ONE_CELL_HEADER)" | tee "$out"
  for cell in "$@"; do
    CUDA_VISIBLE_DEVICES=$gpu python3 scripts/bare_loop.py $cell model.pretrained=false dataset=synthetic eval_samples=128 \
      precision=fp16 batch_size=64 device=cuda cache_dir=/tmp/bench_cache tracking_uri=sqlite:////tmp/alone.db experiment=alone 2>&1 | grep "^|"
  done | tee -a "$out"
}

case ${1:-} in
  setup)
    # once a machine: re-installing under a running sweep swaps Hydra's files beneath its jobs
    if [ -d .whl ] && [ ! -f /tmp/site/.installed ]; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
      touch /tmp/site/.installed && echo "wheels installed in /tmp/site"
    fi
    need_launcher
    for part in .ortx*/assemble.sh; do if [ -f "$part" ]; then bash "$part" || exit 1; fi; done
    # A sweep may start before the last ORT part arrives. Python records a sys.path folder that
    # is missing at start as empty for good; one that exists is listed again when it changes,
    # so the sweep's check for onnxruntime finds it once the parts are unpacked.
    mkdir -p /tmp/ortsite
    # On a fresh machine the study's first aoti cells, one per GPU, wait about 2 minutes for
    # AOTInductor's loader probe (benchmark/backends/aoti.py): answered here instead, in the study
    # sweeps' Inductor cache, while the calls that carry the ORT parts follow; on the last 4 cores,
    # away from `othercpu`'s
    if [ ! -f /tmp/logs/aoti_loader.log ]; then
      last=$(($(nproc) - 1)) && first=$((last > 3 ? last - 3 : 0))
      (TORCHINDUCTOR_CACHE_DIR=/tmp/bench_cache/inductor setsid nohup taskset -c "$first-$last" python3 -c "import torch
from benchmark.backends.aoti import loader_crash
print(loader_crash(torch.device('cuda')) or 'AOTInductor loads a cuda package here')" \
        > /tmp/logs/aoti_loader.log 2>&1 < /dev/null &)
      echo "AOTInductor's loader probe started (/tmp/logs/aoti_loader.log)"
    fi ;;
  sweep)
    need_launcher
    name=$2 gpus=$3 cores=${4:-}  # cores: a taskset list, to keep two sweeps of one host apart
    pin=(); [ -n "$cores" ] && pin=(taskset -c "$cores")
    case $name in
      # Hydra's basic sweeper varies the last key fastest: backend first puts the ORT cells last
      all) cells=(backend=eager,torchscript,compile_cudagraphs,onnxruntime precision=fp32,fp16,bf16 batch_size=1,64) ;;
      torch) cells=(backend=eager,torchscript,compile_cudagraphs precision=fp32,fp16,bf16 batch_size=1,64) ;;
      ort) cells=(backend=onnxruntime precision=fp32,fp16 batch_size=1,64) ;;
      repeat|repeat[0-9]) cells=(backend=eager,torchscript,onnxruntime,compile_cudagraphs precision=fp16 batch_size=64) ;;
      repeat_torch) cells=(backend=eager,torchscript,compile_cudagraphs precision=fp16 batch_size=64) ;;
      repeat_ort) cells=(backend=onnxruntime precision=fp16 batch_size=64) ;;
      # issue 16: the speed rows at fp16 with the new defaults (cudnn_benchmark, memory_format=auto,
      # ORT fusions); max-autotune apart, since its builds take minutes (build timeout: a reason)
      speed|speed_cnn|speed_bert)  # speed_cnn / speed_bert: its halves, for two GPUs
        cells=(backend=eager,compile_cudagraphs,onnxruntime,onnxruntime_cudagraphs precision=fp16 batch_size=1,64)
        case $name in speed_cnn) models=(model=resnet,mobilenet "${models[@]:1}") ;;
                      speed_bert) models=(model=bert "${models[@]:1}") ;; esac ;;
      # the leads of docs/results/speed/README.md, each the one switch the speed sweep's defaults lack
      ab_layout) cells=(backend=eager,compile_cudagraphs,onnxruntime precision=fp16 batch_size=64 memory_format=contiguous)
                 models=(model=resnet,mobilenet "${models[@]:1}") ;;
      ab_ort) cells=(backend=onnxruntime precision=fp16 batch_size=64 backend.options.conv_algo_search=HEURISTIC)
              models=(model=resnet,mobilenet "${models[@]:1}") ;;
      ab_freezing) cells=(backend=compile_cudagraphs precision=fp16 batch_size=64 backend.options.freezing=true) ;;
      ab_capture) cells=(backend=compile_cudagraphs precision=fp16 batch_size=1,64 backend.options.graph_capture=trees
                         backend.options.freezing=false,true) ;;
      # ResNet18 only: MobileNetV3's build passed 300 s at both batches, BERT ran slower than
      # reduce-overhead (0.129 vs 0.117 ms/sample at batch 64; docs/results/speed)
      autotune) cells=(backend=compile_max_autotune precision=fp16 timeout_s.build=300)  # batch fastest
                models=(model=resnet "${models[@]:1}" batch_size=64,1) ;;
      # issue 17: the study (conf/sweep/study*.yaml), in halves by weights: the pretrained zoo with
      # random weights on synthetic data (nothing downloads here), the digits models trained on
      # the bundled data; the seed's CPU rows on the cores given (keep them apart from the GPU
      # sweep's: `chain study_digits,study_zoo 0,1,2,3 0-47` beside `chain study_cpu_digits,study_cpu_zoo - 48-63`)
      study_zoo|study_cpu_zoo) cells=(+sweep=${name%_zoo}) models=(model=resnet,mobilenet,bert,t5,gptneo "${zoo[@]}") ;;
      study_digits|study_cpu_digits) cells=(+sweep=${name%_digits}) models=(model=fcn,cnn,lstm) ;;
      # What sessions 1-6 left of study_zoo, as sweeps of their own: resuming study_zoo on a fresh
      # machine walked its 692 recorded cells for 7 of the session's 30 minutes before measuring
      # one. Their own folders, since job numbers differ; a cell's id (its config and code) is the
      # same in any sweep, so the report and grid_coverage.py count them as study_zoo's.
      study_gptneo) cells=(+sweep=study) models=(model=gptneo "${zoo[@]}") ;;
      # GPT-Neo's torchscript fp32/fp16, all 8 unrecorded: ahead of study_gptneo's slow torchao cells
      study_gptneo_ts) cells=(+sweep=study backend=torchscript precision=fp32,fp16) models=(model=gptneo "${zoo[@]}") ;;
      # What study_gptneo has left after session 10, as sweeps of their own (study_gptneo would go
      # on to the torchscript cells that study_gptneo_ts recorded, and measure them again): its
      # ORT-with-CUDA-graphs cell that a machine without the ORT parts skipped, and torchao
      study_gptneo_ortcg) cells=(+sweep=study backend=onnxruntime_cudagraphs precision=fp16 batch_size=64)
                          models=(model=gptneo "${zoo[@]}") ;;
      study_gptneo_torchao) cells=(+sweep=study backend=torchao precision=int8,fp8) models=(model=gptneo "${zoo[@]}") ;;
      # T5's torchao int8 (its fp32 cells: refusals), fp8 and torchscript fp32, in three sweeps so
      # that two GPUs can share them (until session 12 one sweep, with fp8 and torchscript after
      # int8; int8 keeps its name, and its cells their folders, so a new record replaces the old)
      study_t5_rest) cells=(+sweep=study backend=torchao precision=fp32,int8) models=(model=t5 "${zoo[@]}") ;;
      study_t5_fp8) cells=(+sweep=study backend=torchao precision=fp8) models=(model=t5 "${zoo[@]}") ;;
      study_t5_ts) cells=(+sweep=study backend=torchscript precision=fp32) models=(model=t5 "${zoo[@]}") ;;
      *) echo "unknown sweep $name"; exit 2 ;;
    esac
    # From a copy of the checkout: each later call re-sends the tree, and a job composing its
    # config while that happens would not find it.
    rm -rf "/tmp/repo_$name" && mkdir -p "/tmp/repo_$name" && cp -r benchmark conf scripts Makefile "/tmp/repo_$name/"
    cd "/tmp/repo_$name" && export PYTHONPATH=/tmp/site:/tmp/ortsite:$PWD
    again=(resume=true); [[ $name == repeat* ]] && again=(resume=false)  # repeats: not the first run's records
    [[ $name == study* ]] && common=(cache_dir=/tmp/bench_cache tracking_uri=sqlite:////tmp/study.db experiment=study)
    # its preset's launcher: cpus, CPU_JOBS cells at a time (default 2), each on its share of CORES
    [[ $name == study_cpu* ]] && common+=(device=cpu "hydra.launcher.n_jobs=${CPU_JOBS:-2}")
    [[ $name == study* && $name != study_cpu* ]] && common+=(device=cuda hydra/launcher=gpus)
    run=(python3 -m benchmark -m "${cells[@]}" "${models[@]}" "${common[@]}" "${again[@]}" "hydra.sweep.dir=/tmp/multirun/$name")
    if [ -n "${FOREGROUND:-}" ]; then  # inside `chain`: one sweep after the other
      CUDA_VISIBLE_DEVICES=${gpus/#-/} "${pin[@]}" "${run[@]}" > "/tmp/logs/$name.txt" 2>&1 < /dev/null
    else
      CUDA_VISIBLE_DEVICES=${gpus/#-/} setsid nohup "${pin[@]}" "${run[@]}" > "/tmp/logs/$name.txt" 2>&1 < /dev/null &
      echo "sweep $name started on GPUs $gpus"
    fi ;;
  chain)  # sweeps NAME1,NAME2,... one after the other on GPUS (and CORES), detached
    # a name `testgpu` runs `make test-gpu` there instead (its log: /tmp/logs/test-gpu.log)
    need_launcher
    setsid nohup bash -c "for n in ${2//,/ }; do
        if [ \$n = testgpu ]; then ${4:+taskset -c $4} bash $0 testgpu $3; else FOREGROUND=1 bash $0 sweep \$n $3 ${4:-}; fi
        touch /tmp/logs/\$n.done; done" \
      > "/tmp/logs/chain_$3.out" 2>&1 < /dev/null &
    echo $! > "/tmp/logs/chain_$3.pid" && echo "$2" > "/tmp/logs/chain_$3.names"  # setsid: it leads its process group
    echo "sweeps $2 started, one after the other, on GPUs $3" ;;
  stop)
    kill -- -"$(cat "/tmp/logs/chain_$2.pid")"
    # each cell's worker leads its own process group (its compile workers with it): end those too
    for n in $(tr , ' ' < "/tmp/logs/chain_$2.names"); do
      for pid in $(pgrep -f "benchmark.worker /tmp/multirun/$n/"); do kill -KILL -- -"$pid"; done
    done
    sleep 3 && echo "chain on GPUs $2 stopped"
    pgrep -fa "python3 -m benchmark" | cut -c1-80 | head -3 ;;
  wait)  # NAME [SECONDS]: until sweep NAME of a chain has ended (its marker: pgrep -f would also
         # find the waiting command's own line), at most SECONDS (default 540); then status
    for _ in $(seq "${3:-540}"); do [ -f "/tmp/logs/$2.done" ] && break; sleep 1; done
    [ -f "/tmp/logs/$2.done" ] && echo "sweep $2 ended" || echo "sweep $2 still running"
    bash "$0" status ;;
  bare)  # the speed sweep's best rows: harness vs bare loop vs the hand-written recipe
    CUDA_VISIBLE_DEVICES=$2 taskset -c "${3:-0-$(($(nproc) - 1))}" python3 scripts/bare_loop.py --records /tmp/multirun/{speed,autotune,ab_}* \
      --out "$OUT/harness_vs_bare.md" --recipe 2>&1 | grep -E "^\||table|Error" ;;
  alone)  # nothing else may run on the machine meanwhile: the harness against its own bare loop
    one_cells "$2" "$OUT/alone.md" "model=mobilenet backend=compile_cudagraphs backend.options.freezing=true" \
      "model=mobilenet backend=compile_cudagraphs --recipe" "model=resnet backend=compile_cudagraphs --recipe" \
      "model=resnet backend=eager" ${ALONE_ORT:+"model=resnet backend=onnxruntime"} ;;
  draws)  # one cell three times (default MobileNetV3 compile_cudagraphs): harness and bare loop, each a fresh build
    cell=${3:-model=mobilenet backend=compile_cudagraphs}
    one_cells "$2" "$OUT/draws.md" "$cell" "$cell" "$cell" ;;
  two_cpu)  # the same 8 CPU cells: alone, twice at once (started 1 s apart), alone again
    cells=(model=fcn,cnn backend=eager,torchscript batch_size=16,64 device=cpu threads=1 eval_samples=64 cache_dir=/tmp/bench_cache
           tracking_uri=sqlite:////tmp/two.db experiment=two_sweeps)
    two() { taskset -c "$2" python3 -m benchmark -m "${cells[@]}" "hydra.sweep.dir=/tmp/two/$1" > "/tmp/logs/two_$1.txt" 2>&1; }
    two alone1 "$2"; two A "$2" & sleep 1; two B "$2"; wait; two alone2 "$2"
    python3 scripts/two_sweeps.py --alone /tmp/two/alone1 /tmp/two/alone2 --together /tmp/two/A /tmp/two/B | tee "$OUT/two_sweeps.md"
    (cd /tmp/two && tar czf "$OUT/two_sweeps_records.tgz" $(find . -name record.json)) ;;
  testgpu)  # its own lock folder (TMPDIR): its single runs must not wait for a sweep's cells
    TMPDIR=/tmp/testgpu_tmp && mkdir -p $TMPDIR && export TMPDIR
    CUDA_VISIBLE_DEVICES=$2 make test-gpu GPU_LOG=/tmp/logs/test-gpu.log > /dev/null 2>&1
    echo "make test-gpu exit $?"; cp /tmp/logs/test-gpu.log "$OUT/"; tail -25 /tmp/logs/test-gpu.log ;;
  restore)
    for name in $(tar tzf "$2/records.tgz" | cut -d/ -f2 | sort -u); do
      mkdir -p "/tmp/multirun/${name}_earlier"
      tar xzf "$2/records.tgz" -C "/tmp/multirun/${name}_earlier" --strip-components=2 "./$name"
    done
    ls /tmp/multirun ;;
  othercpu)  # where the short-build compiled rows' "other work" comes from (scripts/other_cpu_probe.py)
    CUDA_VISIBLE_DEVICES=${2:?othercpu GPU} taskset -c "${3:-0-11}" python3 scripts/other_cpu_probe.py | tee "$OUT/other_cpu.md" ;;
  status)
    for f in /tmp/logs/*.txt; do [ -f "$f" ] && echo "== $(basename "$f"): $(done_cells "$f") cells"; done
    for f in /tmp/logs/*.txt; do [ -f "$f" ] && grep -E '^\[ *(invalid|error|oom|crashed|timeout)\]' "$f" | cut -c1-230; done
    # a sweep that ended without a cell ended in an error before its first job: show it
    for f in /tmp/logs/*.txt; do
      if [ -f "${f%.txt}.done" ] && [ "$(done_cells "$f")" = 0 ]; then
        echo "== $(basename "$f" .txt) ended without a cell:"; grep -v '^\s*$' "$f" | head -3 | cut -c1-230
      fi
    done
    pgrep -fa "python3 -m benchmark -m" | cut -c1-80 | head -3 ;;
  keep)
    # a bare machine (the held one was given back): say so at once, not after the wait
    [ -f /tmp/site/.installed ] || { echo "a fresh machine: nothing set up or running here; start again from setup"; exit 1; }
    sleep "${2:?keep SECONDS}"; bash "$0" status; pack_records ;;
  collect)
    pack_records
    python3 -m benchmark.results.report --records $(ls -d /tmp/multirun/{all,torch,ort,speed,autotune,ab_,study}* 2>/dev/null) --out /tmp/report/report.md > /dev/null 2>&1
    (cd /tmp/report && tar czf "$OUT/report.tgz" .)
    nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/gpus.csv"
    for name in all torch ort; do
      first=/tmp/multirun/$name again=/tmp/multirun/repeat_$name
      [ "$name" = all ] && again=/tmp/multirun/repeat
      [ -d "$first" ] && [ -d "$again" ] && python3 scripts/compare_sweeps.py "$first" "$again" > "$OUT/repeat_$name.md" 2>&1
    done
    for f in /tmp/logs/*.txt; do echo "== $(basename "$f"): $(done_cells "$f") cells"; done ;;
  *) echo "usage: see the header of $0"; exit 2 ;;
esac
