#!/usr/bin/env bash
# Seed each fuzz target's corpus from the repository's own test files, then
# run the targets, two at a time, for SECONDS each (default 600).
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). Logs and any
# crashing inputs go to fuzz/logs and fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-600}"
ROOT=..
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lamina-fuzz-target}"

seed() { # target pick-byte file...
  local t=$1 pick=$2; shift 2
  mkdir -p "corpus/$t"
  for f in "$@"; do
    { printf "\\x$(printf %02x "$pick")"; cat "$f"; } > "corpus/$t/seed-$pick-$(basename "$f")"
  done
}

# Tables: small cuts of the samples, as .csv (0) and .tsv (1).
tmp=$(mktemp -d)
head -20 "$ROOT/sample-data/omics/counts.csv" | cut -d, -f1-12 > "$tmp/counts.csv"
head -20 "$ROOT/sample-data/omics/labels.csv" > "$tmp/labels.csv"
tr ',' '\t' < "$tmp/counts.csv" > "$tmp/counts.tsv"
printf 'id;a;b\nx;1,5;2\ny;NA;3,25\n' > "$tmp/semicolon.csv"
seed table 0 "$tmp/counts.csv" "$tmp/labels.csv" "$tmp/semicolon.csv"
seed table 1 "$tmp/counts.tsv"
# FASTA (0) and FASTQ (2).
head -40 "$ROOT/sample-data/dna/promoters.fasta" > "$tmp/promoters.fa"
seed fasta 0 "$ROOT"/tests/data/fasta/*.fa* "$tmp/promoters.fa"
seed fasta 2 "$ROOT"/tests/data/fastq/*.fastq
seed fasta 5 "$ROOT/tests/data/fastq/example.fastq.gz"
# 10x Matrix Market: matrix, barcodes, features, separated by zero bytes.
mkdir -p corpus/mtx
{ cat "$ROOT/tests/data/10x/v2/matrix.mtx"; printf '\0'; cat "$ROOT/tests/data/10x/v2/barcodes.tsv"; printf '\0'; head -30 "$ROOT/tests/data/10x/v2/genes.tsv"; } > corpus/mtx/seed-v2
# AnnData (0) and 10x .h5 (3).
seed h5ad 0 "$ROOT/tests/data/h5ad/adata_v0.11.4.h5ad" "$ROOT"/tests/data/bad/*.h5ad
seed h5ad 3 "$ROOT/tests/data/10x_h5/1.2.0_filtered_gene_bc_matrices_h5.h5"
# Images: PNG (0) and TIFF (2), the small ones.
seed image 0 "$ROOT/sample-data/images/cells/round/round_001.png"
seed image 2 "$ROOT"/tests/data/tiff/16bit.cropped.tif "$ROOT"/tests/data/tiff/16bit.deflate.tif \
  "$ROOT"/tests/data/tiff/multipage.tif "$ROOT"/tests/data/tiff/multipage_rgb.tif "$ROOT"/tests/data/tiff/12bit.cropped.tif
# Experiment files: every sample experiment.
mkdir -p corpus/experiment
for f in "$ROOT"/sample-data/*/*.json; do cp "$f" "corpus/experiment/seed-$(basename "$(dirname "$f")")-$(basename "$f")"; done
rm -rf "$tmp"

cargo +nightly fuzz build -O --debug-assertions
mkdir -p logs
run() {
  local t=$1
  mkdir -p "artifacts/$t"
  cargo +nightly fuzz run -O --debug-assertions "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=20 -max_len=65536 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 > "logs/$t.log" 2>&1 || echo "$t: stopped with a finding (logs/$t.log)"
}
for pair in "table fasta" "mtx h5ad" "image experiment"; do
  set -- $pair
  run "$1" & run "$2" & wait
done
for t in table fasta mtx h5ad image experiment; do
  echo "$t: $(grep -E '^stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}') executions; $(ls "artifacts/$t" | wc -l) findings"
done
