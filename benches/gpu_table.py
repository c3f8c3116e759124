#!/usr/bin/env python3
"""The table of a GPU lease (benches/gpu_run.sh): each lamina run beside PyTorch CUDA.

Usage: python3 gpu_table.py OUT_DIR

Reads OUT_DIR/torch_cuda.jsonl and every OUT_DIR/run_<build>_<cold|warm>.jsonl. For each run:
samples/s over the whole job and its ratio to PyTorch's, the first step's seconds (kernel
compilation and tuning), the steady state (training samples over the last epoch's seconds,
validation included) and its ratio, and the final training losses.
"""
import glob
import json
import os
import sys


def rows(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line:
                d = json.loads(line)
                out.setdefault(d["job"], []).append(d)
    return out


def main(out):
    torch = rows(os.path.join(out, "torch_cuda.jsonl"))
    print("run         job  lamina s/s  torch s/s  ratio  first step s  epoch 1 s  last epoch s"
          "  steady s/s  steady ratio  loss lamina / torch")
    for path in sorted(glob.glob(os.path.join(out, "run_*.jsonl"))):
        run = os.path.basename(path)[4:-6]
        for job, ds in sorted(rows(path).items()):
            t = torch.get(job, [{}])[-1]
            st = t.get("samples_per_second")
            for d in ds:
                if "samples_per_second" not in d:
                    print(f"{run:11} {job}  failed (exit {d.get('failed')})")
                    continue
                ep = d.get("epoch_seconds") or [d["train_seconds"]]
                steady = d["n_train"] / max(ep[-1], 1e-9)
                ratio = f"{d['samples_per_second'] / st:5.3f}" if st else "  -  "
                sratio = f"{steady / st:6.3f}" if st else "   -  "
                tl = t.get("final_train_loss")
                print(f"{run:11} {job}  {d['samples_per_second']:10.0f}  {st or 0:9.0f}  {ratio}"
                      f"  {d.get('first_step_seconds', 0):12.2f}  {ep[0]:9.2f}  {ep[-1]:12.3f}"
                      f"  {steady:10.0f}  {sratio:>12}  {d['final_train_loss']:.4g} / "
                      f"{tl if tl is None else format(tl, '.4g')}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
