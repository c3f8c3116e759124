#!/usr/bin/env bash
# The GPU side of the benchmark, for one short lease of a machine with an NVIDIA GPU
# (the `device` tool; see benches/RESULTS.md). Expects, beside the checkout:
#   .gl/*.deb            the Vulkan/GL loaders (apt-get download libvulkan1 ...), unpacked into /
#   .gpu/lamina_<name>.xz  one or more lamina builds from this machine:
#                        strip -o x target/debug/lamina; xz -c x > .gpu/lamina_<name>.xz
#   .gpu/gen_data.py, .gpu/peer_torch.py   the PyTorch reference (shared/bench)
# Runs PyTorch (CUDA) once over the seven jobs, then the runs in $PLAN, each in its own
# process with a time limit: "BUILD:JOB" starts with an empty NVIDIA shader cache and no
# stored autotune results (a first run on a new machine), "BUILD:JOB:warm" reuses what the
# last cold run of that build left (a later run on the same machine). JSON lines go to $OUT.
# No run starts after $DEADLINE seconds. NO_TORCH=1 skips PyTorch.
set -u
OUT=${OUT:-/tmp/gpu_out}
DEADLINE=${DEADLINE:-470}
LIMIT=${LIMIT:-90}
PLAN=${PLAN:-"full:J1 full:J2 full:J3 full:J4 full:J5 full:J6 full:J7"}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
nproc >> "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" | tee -a "$OUT/gpu.txt"
for f in .gpu/lamina_*.xz; do
  name=$(basename "$f" .xz); name=${name#lamina_}
  python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" "$f" "/tmp/lamina_$name"
  chmod +x "/tmp/lamina_$name"
done
DATA=${DATA:-/tmp/bench-data}
[ -d "$DATA" ] || python3 .gpu/gen_data.py --out "$DATA" > /dev/null || exit 1
echo "setup done at ${SECONDS}s"

if [ -z "${NO_TORCH:-}" ]; then
  timeout 150 python3 benches/peer_torch_gpu.py .gpu/peer_torch.py --data "$DATA" \
    --threads "$(nproc)" --artifacts "" --out "$OUT/torch_cuda.jsonl" > /dev/null 2>> "$OUT/torch_cuda.log"
  echo "torch done at ${SECONDS}s"
fi

# One run: BUILD JOB [warm]. A crash or timeout leaves a "failed" row.
one() {
  local build=$1 job=$2 mode=${3:-cold}
  [ $((SECONDS + LIMIT)) -gt "$DEADLINE" ] && { echo "skip $build $job $mode at ${SECONDS}s"; return; }
  local cache=/tmp/nvcache_$build
  # cold: no NVIDIA shader cache and no cubecl autotune results (builds with gpu-persistence
  # keep those under target/environment, or ~/.cache/cubecl outside a cargo project)
  [ "$mode" = cold ] && { rm -rf "$cache" target/environment ~/.cache/cubecl; mkdir -p "$cache"; }
  echo "lamina_$build $job $mode at ${SECONDS}s" | tee -a "$OUT/lamina_gpu.log"
  local t0=$SECONDS
  __GL_SHADER_DISK_CACHE_PATH=$cache timeout "$LIMIT" "/tmp/lamina_$build" bench --device gpu \
    --jobs "$job" --data "$DATA" --out "$OUT/run_${build}_$mode.jsonl" >> "$OUT/lamina_gpu.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && echo "{\"job\": \"$job\", \"failed\": $rc}" >> "$OUT/run_${build}_$mode.jsonl"
  echo "  rc $rc in $((SECONDS - t0))s" | tee -a "$OUT/lamina_gpu.log"
  return 0
}
for p in $PLAN; do IFS=: read -r b j m <<< "$p"; one "$b" "$j" "${m:-cold}"; done
echo "done at ${SECONDS}s"
python3 benches/gpu_table.py "$OUT"
