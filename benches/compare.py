#!/usr/bin/env python3
"""Run `lamina bench` and the PyTorch reference (shared/bench/peer_torch.py) side by side.

Both run the same jobs on the same data files on this machine, interleaved: in each
round every job runs once in each framework, alternating which goes first. All rows
go to a JSON-lines file; the table printed at the end (markdown) uses the median of
the quiet runs (other processes used at most 5% of the CPUs, as the reference's
summarize.py counts them).

    benches/compare.py --lamina target/debug/lamina --python .venv/bin/python \
        --peer ../shared/bench/peer_torch.py --data ~/.cache/lamina-bench-data --rounds 3

Only the standard library is needed here; the reference itself needs torch, numpy, pillow.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

QUIET = 0.05


def run_rows(cmd):
    """Run a command that prints JSON lines; return the parsed rows."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=3):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def table(rows, jobs):
    out = [
        "| job | quiet runs (lamina/torch) | torch samples/s | lamina samples/s | **speed ratio** | "
        "torch parse s | lamina parse s | **parse speed-up** | final train loss torch / lamina | "
        "validation torch / lamina |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for job in jobs:
        mine = [r for r in rows if r["job"] == job and r["framework"] == "lamina"]
        ref = [r for r in rows if r["job"] == job and r["framework"] == "pytorch"]
        quiet = lambda rs: [r for r in rs if (r.get("other_procs_cpu_share_during") or 0) <= QUIET]
        qm, qr = quiet(mine), quiet(ref)
        if not qm or not qr:
            out.append(f"| {job} | {len(qm)}/{len(qr)} | no quiet pair | | | | | | | |")
            continue
        sm, sr = median(qm, "samples_per_second"), median(qr, "samples_per_second")
        pm, pr = median(qm, "parse_seconds"), median(qr, "parse_seconds")
        metric = qr[0].get("val_metric", "")
        out.append(
            f"| {job} | {len(qm)}/{len(qr)} | {fmt(sr)} | {fmt(sm)} | **{sm / sr:.2f}×** | "
            f"{fmt(pr)} | {fmt(pm)} | **{pr / pm:.1f}×** | "
            f"{fmt(median(qr, 'final_train_loss'), 4)} / {fmt(median(qm, 'final_train_loss'), 4)} | "
            f"{metric} {fmt(median(qr, 'val_value'))} / {fmt(median(qm, 'val_value'))} |"
        )
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lamina", required=True, help="the lamina binary")
    ap.add_argument("--python", default=sys.executable, help="a python with torch, numpy, pillow")
    ap.add_argument("--peer", required=True, help="path of shared/bench/peer_torch.py")
    ap.add_argument("--data", required=True, help="the folder gen_data.py wrote")
    ap.add_argument("--jobs", default="J1,J2,J3,J4,J5,J6,J7")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="lamina's device: cpu or gpu")
    ap.add_argument("--out", default=None, help="JSON lines of every run (default benches/results/<date>.jsonl)")
    ap.add_argument("--table-only", nargs="*", help="just print the table of these JSON-lines files")
    a = ap.parse_args()
    jobs = [j.strip().upper() for j in a.jobs.split(",") if j.strip()]

    if a.table_only:
        rows = [json.loads(l) for f in a.table_only for l in open(f) if l.startswith("{")]
        print(table(rows, jobs))
        return

    here = os.path.dirname(os.path.abspath(__file__))
    out = a.out or os.path.join(here, "results", time.strftime("%Y-%m-%d", time.gmtime()) + ".jsonl")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    rows = []
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    for rnd in range(a.rounds):
        for k, job in enumerate(jobs):
            mine = [a.lamina, "bench", "--jobs", job, "--data", a.data, "--device", a.device]
            ref = [a.python, a.peer, "--jobs", job, "--data", a.data, "--threads", str(a.threads),
                   "--artifacts", os.path.join(os.path.dirname(out), "artifacts")]
            order = [mine, ref] if (rnd + k) % 2 == 0 else [ref, mine]
            for cmd in order:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
                for line in proc.stdout.splitlines():
                    if line.startswith("{"):
                        r = json.loads(line)
                        r["round"] = rnd
                        rows.append(r)
                        with open(out, "a") as f:
                            f.write(json.dumps(r) + "\n")
                        print(f"round {rnd + 1} {r['job']} {r['framework']:8s} "
                              f"{r['samples_per_second']:9.0f} samples/s  parse {r['parse_seconds']:.3f} s  "
                              f"loss {r['final_train_loss']:.4f}  {r.get('val_metric')} {r.get('val_value')}  "
                              f"other {r.get('other_procs_cpu_share_during')}", flush=True)
    print()
    print(table(rows, jobs))
    print(f"\nrows in {out}")


if __name__ == "__main__":
    main()
