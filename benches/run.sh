#!/usr/bin/env bash
# Side-by-side benchmark: lamina against the PyTorch reference in ../shared/bench.
# Sets up what it needs under ~/.cache (a Python venv with torch, the generated data),
# builds lamina, then runs benches/compare.py. Extra arguments go to compare.py,
# e.g. benches/run.sh --rounds 5 --jobs J1,J3
set -euo pipefail
cd "$(dirname "$0")/.."
REF="${LAMINA_BENCH_REF:-../shared/bench}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}"
VENV="$CACHE/lamina-bench-venv"
DATA="$CACHE/lamina-bench-data"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/lamina-target}"

[ -f "$REF/peer_torch.py" ] || { echo "no PyTorch reference at $REF (set LAMINA_BENCH_REF)"; exit 1; }
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, numpy, PIL" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch numpy pillow
fi
[ -f "$DATA/omics_counts.csv" ] || "$VENV/bin/python" "$REF/gen_data.py" --out "$DATA"
cargo build --quiet
exec "$VENV/bin/python" benches/compare.py --lamina "$CARGO_TARGET_DIR/debug/lamina" \
  --python "$VENV/bin/python" --peer "$REF/peer_torch.py" --data "$DATA" "$@"
