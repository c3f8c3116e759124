#!/usr/bin/env python3
"""How smooth the window stays during long actions (issue 23).

Generates a 20,000-cell x 2,000-gene count table with cell-type labels, then
runs the window under Xvfb on a scripted session (LAMINA_SCRIPT, see
src/ui/script.rs): create a classifier experiment from the template on the
table, open it again (reading the table), train, export the model folder and
the plots, predict on the table. The window logs every frame's UI-thread time
with what was running (LAMINA_FRAME_LOG); this prints p50 / p99 / max per
activity and writes the table to benches/results/.

    python3 benches/frame_times.py [--binary PATH] [--label after] [--cells N --genes N]

Needs Xvfb (or a DISPLAY) and numpy. Frame time is eframe's measure of the
whole frame (layout, tessellation, painting on Mesa's software renderer
included); "app" is the part spent in Lamina's own code.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_data(folder: Path, cells: int, genes: int, seed: int = 0):
    """Counts with 5 cell types that differ in 50 marker genes each."""
    counts, labels = folder / "counts.csv", folder / "labels.csv"
    if counts.exists() and labels.exists():
        return counts, labels
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 5, cells)
    base = rng.gamma(0.6, 1.0, genes)
    header = "cell," + ",".join(f"g{j}" for j in range(genes)) + "\n"
    with open(counts, "w") as f:
        f.write(header)
        for start in range(0, cells, 1000):
            t = types[start : start + 1000]
            rate = np.tile(base, (len(t), 1))
            for k in range(5):
                rate[t == k, k * 50 : (k + 1) * 50] *= 4.0
            x = rng.poisson(rate)
            for i, row in enumerate(x):
                f.write(f"c{start + i}," + ",".join(map(str, row)) + "\n")
    with open(labels, "w") as f:
        f.write("cell,cell_type\n")
        for i, t in enumerate(types):
            f.write(f"c{i},type{t}\n")
    return counts, labels


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[k]


def session(args, counts, labels):
    """One scripted session in the window; its frame log and wall time."""
    work = Path(tempfile.mkdtemp(prefix="lamina-frames-"))
    log = work / "frames.tsv"
    script = work / "session.txt"
    exp = work / "classifier.json"
    script.write_text(
        f"""pause 2
template mlp_classifier {counts} {labels} {exp}
pause 1
open {exp}
pause 1
set training.epochs={args.epochs}
train
pause 1
export-model {work / 'model'}
export-plots {work / 'plots'}
predict {counts}
pause 2
quit
"""
    )
    env = dict(os.environ, LAMINA_FRAME_LOG=str(log), LAMINA_SCRIPT=str(script))
    xvfb = None
    if not env.get("DISPLAY"):
        display = ":97"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        env["DISPLAY"] = display
    started = time.time()
    try:
        run = subprocess.run([args.binary], env=env, cwd=work, timeout=args.timeout,
                             capture_output=True, text=True)
    finally:
        if xvfb:
            xvfb.terminate()
            xvfb.wait()
    wall = time.time() - started
    steps = [l for l in run.stderr.splitlines() if l.startswith("lamina")]
    print("\n".join(steps))
    if run.returncode != 0 or not log.exists():
        print(run.stderr[-3000:], file=sys.stderr)
        sys.exit(f"the window exited with {run.returncode}")
    return log, wall


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    ap.add_argument("--binary", default=str(Path(target) / "debug" / "lamina"))
    ap.add_argument("--label", default="after")
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "lamina-frame-bench"))
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--repeat", type=int, default=1, help="sessions to pool the frames of")
    args = ap.parse_args()

    data_dir = Path(args.data) / f"{args.cells}x{args.genes}"
    data_dir.mkdir(parents=True, exist_ok=True)
    t = time.time()
    counts, labels = make_data(data_dir, args.cells, args.genes)
    print(f"data: {counts} ({counts.stat().st_size / 1e6:.0f} MB, made in {time.time() - t:.0f} s)")

    frames = defaultdict(list)
    own = defaultdict(list)
    logs, wall = [], 0.0
    for _ in range(args.repeat):
        log, took = session(args, counts, labels)
        logs.append(log)
        wall += took
        for line in log.read_text().splitlines():
            _, frame, app, activity = line.split("\t")
            frames[activity].append(float(frame))
            own[activity].append(float(app))
    rows = []
    head = "| activity | frames | p50 ms | p99 ms | max ms | app p99 ms | app max ms |"
    rows.append(head)
    rows.append("|---|---:|---:|---:|---:|---:|---:|")
    order = sorted(frames, key=lambda a: (a != "idle", a))
    for a in order:
        f, o = frames[a], own[a]
        rows.append(
            f"| {a} | {len(f)} | {percentile(f, 50):.1f} | {percentile(f, 99):.1f} | {max(f):.1f} "
            f"| {percentile(o, 99):.1f} | {max(o):.1f} |"
        )
    busy = [x for a in frames if a != "idle" for x in frames[a]]
    summary = (
        f"{args.label}: {args.cells} cells x {args.genes} genes, {args.epochs} epochs, "
        f"{args.repeat} session(s) pooled, {len(busy)} busy frames, {wall:.0f} s in all, "
        f"CPU {cpu_name()} ({os.cpu_count()} threads)"
    )
    table = "\n".join(rows)
    print(summary)
    print(table)
    out = ROOT / "benches" / "results" / f"{time.strftime('%Y-%m-%d')}-frame-times-{args.label}.md"
    out.write_text(f"{summary}\n\n{table}\n")
    with open(out.with_suffix(".tsv"), "w") as f:
        for i, log in enumerate(logs):
            for line in log.read_text().splitlines():
                f.write(f"{i + 1}\t{line}\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
