#!/usr/bin/env bash
# onnxruntime-gpu for the GPU machine in fewer transfers than ../shared/device/ort-gpu-parts.sh:
# the wheel unpacked (without the TensorRT provider, which cannot load there), xz-compressed
# (about 200 MB instead of 256) and split into ./.ortxN (git-ignored) of PART_MB each; each part
# carries its own assemble script. Send the parts back to back (each call: carry .ortxN, run
# `bash .ortxN/assemble.sh`); the last one unpacks into /tmp/ortsite. PART_MB plus the
# checkout must stay under the 64 MiB transfer limit.
# Usage, from the project root:  [PART_MB=48] bash scripts/ort_gpu_parts.sh
set -euo pipefail
ver=${ORT_GPU_VERSION:-1.31.1}
grep -qxF '/.ortx*/' .git/info/exclude 2>/dev/null || echo '/.ortx*/' >> .git/info/exclude
tmp=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$tmp" "onnxruntime-gpu==$ver"
mkdir "$tmp/site" && (cd "$tmp/site" && unzip -q "$tmp"/onnxruntime_gpu-*.whl)
rm -f "$tmp"/site/onnxruntime/capi/libonnxruntime_providers_tensorrt.so
tar -C "$tmp/site" -cf - . | xz -T0 -6 > "$tmp/ort.tar.xz"
rm -rf .ortx[0-9]*
split -b "${PART_MB:-48}M" -d -a 1 "$tmp/ort.tar.xz" "$tmp/part."
total=$(ls "$tmp"/part.* | wc -l); n=0
for p in "$tmp"/part.*; do
  n=$((n + 1)); mkdir -p ".ortx$n"; mv "$p" ".ortx$n/"
  cat > ".ortx$n/assemble.sh" <<ASSEMBLE
# Run on the GPU machine: gathers this part in /tmp/ortparts; the last unpacks /tmp/ortsite.
mkdir -p /tmp/ortparts; cp -n .ortx*/part.* /tmp/ortparts/ 2>/dev/null
have=\$(ls /tmp/ortparts | wc -l)
if [ -d /tmp/ortsite/onnxruntime ]; then echo "onnxruntime-gpu already in /tmp/ortsite"
elif [ "\$have" -lt $total ]; then echo "onnxruntime-gpu: \$have of $total parts here"
else mkdir -p /tmp/ortsite && cat /tmp/ortparts/part.* | xz -d | tar -C /tmp/ortsite -xf - && echo "onnxruntime-gpu $ver in /tmp/ortsite"; fi
ASSEMBLE
done
rm -rf "$tmp"
echo "$n parts:"; du -sh .ortx*
