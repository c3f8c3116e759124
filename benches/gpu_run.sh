#!/usr/bin/env bash
# The GPU side of the benchmark, for one short lease of a machine with an NVIDIA GPU
# (the `device` tool; see benches/RESULTS.md). Expects, beside the checkout:
#   .gl/*.deb            the Vulkan/GL loaders (apt-get download libvulkan1 ...), unpacked into /
#   .gpu/lamina_<name>.xz  one or more lamina builds from this machine:
#                        strip -o x target/debug/lamina; xz -c x > .gpu/lamina_vk.xz
#   .gpu/gen_data.py, .gpu/peer_torch.py   the PyTorch reference (shared/bench)
# Runs PyTorch (CUDA) once over the seven jobs, then each build on J1 to pick the faster,
# then that build on the jobs in $GPU_JOBS (each in its own process with a time limit).
# JSON lines go to $OUT. No job starts after $DEADLINE seconds.
set -u
OUT=${OUT:-/tmp/gpu_out}
DEADLINE=${DEADLINE:-470}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
nproc >> "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" | tee -a "$OUT/gpu.txt"
builds=()
for f in .gpu/lamina_*.xz; do
  name=$(basename "$f" .xz); name=${name#lamina_}
  python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" "$f" "/tmp/lamina_$name"
  chmod +x "/tmp/lamina_$name"; builds+=("$name")
done
DATA=/tmp/bench-data
python3 .gpu/gen_data.py --out "$DATA" > /dev/null || exit 1
echo "setup done at ${SECONDS}s: builds ${builds[*]}"

timeout 150 python3 benches/peer_torch_gpu.py .gpu/peer_torch.py --data "$DATA" \
  --threads "$(nproc)" --artifacts "" --out "$OUT/torch_cuda.jsonl" > /dev/null 2>> "$OUT/torch_cuda.log"
echo "torch done at ${SECONDS}s"

# ours BUILD JOB [LIMIT]: one job in its own process; a crash or timeout leaves a "failed" row.
ours() {
  local limit=${3:-60}
  [ $((SECONDS + limit)) -gt "$DEADLINE" ] && { echo "skip $1 $2 at ${SECONDS}s"; return; }
  echo "lamina_$1 $2 at ${SECONDS}s" | tee -a "$OUT/lamina_gpu.log"
  timeout "$limit" "/tmp/lamina_$1" bench --device gpu --jobs "$2" --data "$DATA" \
    --out "$OUT/lamina_$1.jsonl" >> "$OUT/lamina_gpu.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && echo "{\"job\": \"$2\", \"failed\": $rc}" >> "$OUT/lamina_$1.jsonl"
  return 0
}
# A build's first step compiles for 15-60 s on a fresh machine (RESULTS.md), so each job gets
# two minutes; one lease fits about four jobs.
LIMIT=${LIMIT:-120}
[ ${#builds[@]} -gt 1 ] && for b in "${builds[@]}"; do ours "$b" J1 "$LIMIT"; done
best=$(python3 - "$OUT" "${builds[@]}" <<'PY'
import json, sys, os
out, builds = sys.argv[1], sys.argv[2:]
def rate(b):
    p = f"{out}/lamina_{b}.jsonl"
    rows = [json.loads(l) for l in open(p)] if os.path.exists(p) else []
    return max([r.get("samples_per_second", 0) for r in rows] or [0])
print(max(builds, key=rate))
PY
)
echo "best build: $best" | tee -a "$OUT/gpu.txt"
# The jobs without a GPU number yet come first.
for j in ${GPU_JOBS:-J3 J4 J5 J1 J6 J2 J7}; do ours "$best" "$j" "$LIMIT"; done
echo "done at ${SECONDS}s"
python3 - "$OUT" "$best" <<'PY'
import json, statistics, sys
out, best = sys.argv[1], sys.argv[2]
def rows(name):
    r = {}
    try:
        for line in open(f"{out}/{name}"):
            d = json.loads(line); r.setdefault(d["job"], []).append(d)
    except FileNotFoundError:
        pass
    return r
ours, torch = rows(f"lamina_{best}.jsonl"), rows("torch_cuda.jsonl")
print("job  lamina s/s  torch s/s  ratio  first-step s  last-epoch s/s  steady ratio  loss ours/torch")
for j in sorted(set(ours) | set(torch)):
    t = torch.get(j, [])
    for d in ours.get(j, []):
        if "samples_per_second" not in d or not t:
            print(j, "failed", d.get("failed")); continue
        st = t[-1]["samples_per_second"]
        steady = d["n_train"] / max(d.get("epoch_seconds", [d["train_seconds"]])[-1], 1e-9)
        print(f"{j}  {d['samples_per_second']:10.0f}  {st:9.0f}  {d['samples_per_second']/st:5.3f}  "
              f"{d.get('first_step_seconds', 0):12.2f}  {steady:10.0f}  {steady/st:6.3f}  "
              f"{d['final_train_loss']:.4g}/{t[-1]['final_train_loss']:.4g}")
PY
tail -n 3 "$OUT/lamina_gpu.log" "$OUT/torch_cuda.log"
