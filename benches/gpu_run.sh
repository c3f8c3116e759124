#!/usr/bin/env bash
# The GPU side of the benchmark, for one short lease of a machine with an NVIDIA GPU
# (the `device` tool; see benches/RESULTS.md). Expects, beside the checkout:
#   .gl/*.deb          the Vulkan/GL loaders (libvulkan1 ...), unpacked into /
#   .gpu/lamina.gz     a lamina binary built here: strip -o x target/debug/lamina; gzip -c x > .gpu/lamina.gz
#   .gpu/gen_data.py, .gpu/peer_torch.py   the PyTorch reference (shared/bench)
# Runs lamina (burn-wgpu, Vulkan) and PyTorch (CUDA) on the same seven jobs,
# interleaved, each job of ours in its own process with a time limit, and writes
# the JSON lines to $OUT. Stops starting rounds after $BUDGET seconds.
set -u
BUDGET=${BUDGET:-120}
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
nproc >> "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" | tee -a "$OUT/gpu.txt"
gunzip -c .gpu/lamina.gz > /tmp/lamina && chmod +x /tmp/lamina
DATA=/tmp/bench-data
python3 .gpu/gen_data.py --out "$DATA" > /dev/null || exit 1

limit() { case "$1" in J5) echo 120 ;; *) echo 75 ;; esac; }
ours() {
  for j in J1 J2 J3 J4 J5 J6 J7; do
    [ "$SECONDS" -gt 520 ] && break
    echo "lamina $j at ${SECONDS}s" >> "$OUT/lamina_gpu.log"
    timeout "$(limit $j)" /tmp/lamina bench --device gpu --jobs "$j" --data "$DATA" \
      --out "$OUT/lamina_gpu.jsonl" >> "$OUT/lamina_gpu.log" 2>&1 ||
      echo "{\"job\": \"$j\", \"failed\": $?}" >> "$OUT/lamina_gpu.jsonl"
  done
}
torch_cuda() {
  timeout 150 python3 benches/peer_torch_gpu.py .gpu/peer_torch.py --data "$DATA" \
    --threads "$(nproc)" --artifacts "" --out "$OUT/torch_cuda.jsonl" > /dev/null 2>> "$OUT/torch_cuda.log"
}
round=0
while [ "$SECONDS" -lt "$BUDGET" ] && [ "$round" -lt 2 ]; do
  round=$((round + 1))
  echo "round $round at ${SECONDS}s"
  torch_cuda
  ours
done
echo "done at ${SECONDS}s"
python3 - "$OUT" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
def rows(name):
    r = {}
    for line in open(f"{out}/{name}"):
        d = json.loads(line)
        r.setdefault(d["job"], []).append(d)
    return r
ours, torch = rows("lamina_gpu.jsonl"), rows("torch_cuda.jsonl")
print("job  lamina s/s  torch s/s  ratio  first-step s  last-epoch s/s  loss ours/torch  metric ours/torch")
for j in sorted(set(ours) | set(torch)):
    o = [d for d in ours.get(j, []) if "samples_per_second" in d]
    t = torch.get(j, [])
    if not o or not t:
        print(j, "missing", [d.get("failed") for d in ours.get(j, [])]); continue
    so = statistics.median(d["samples_per_second"] for d in o)
    st = statistics.median(d["samples_per_second"] for d in t)
    fs = statistics.median(d.get("first_step_seconds") or 0 for d in o)
    # the last epoch (validation included) shows the steady state once kernels are compiled
    steady = statistics.median(d["n_train"] / max(d.get("epoch_seconds", [d["train_seconds"]])[-1], 1e-9) for d in o)
    print(f"{j}  {so:10.0f}  {st:9.0f}  {so/st:5.2f}  {fs:12.2f}  {steady:10.0f}  "
          f"{o[-1]['final_train_loss']:.4g}/{t[-1]['final_train_loss']:.4g}  {o[-1]['val_value']}/{t[-1]['val_value']}")
EOF
tail -n 5 "$OUT/lamina_gpu.log" "$OUT/torch_cuda.log"
