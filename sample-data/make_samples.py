#!/usr/bin/env python3
"""Regenerate Lamina's bundled sample data (standard library only, seeded).

    python3 sample-data/make_samples.py

omics/counts.csv + omics/labels.csv
    400 cells x 200 genes of negative-binomial (gamma-Poisson) counts from 4 cell
    types, each with its own marker genes, plus per-cell size factors.
dna/promoters.fasta
    1000 sequences of 100 bp; label=1 sequences carry a -10 box TGCTATAAT (each
    base mutated with p=0.1) at a random position, label=0 are uniform background.
images/cells/{round,elongated,punctate}/*.png
    60 grayscale 32x32 fluorescence-like cells per class with shot noise.
protein/families.fasta
    600 proteins of 40-160 residues (variable length) from 3 families, each with
    a mild composition bias and a family motif (each residue mutated with p=0.1)
    at a random position; label=<family> in the header.
citeseq/rna.csv + citeseq/protein.csv + citeseq/labels.csv
    300 cells measured twice, CITE-seq style: 120 genes of RNA counts and 10
    surface-protein (ADT) counts, in a different row order. Six cell types: the
    RNA tells three lineages apart and the protein tells the two states within
    each lineage, so only the two tables together name the cell type.
The data is synthetic and free of any licence restriction.
"""
import math
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261124)


def poisson(lam):
    return poisson_with(rng, lam)


def omics():
    genes, cells, types = 200, 400, ["B_cell", "Monocyte", "NK_cell", "T_cell"]
    base = [math.exp(rng.gauss(-0.5, 1.2)) for _ in range(genes)]
    markers = {t: rng.sample(range(genes), 12) for t in types}
    os.makedirs(os.path.join(HERE, "omics"), exist_ok=True)
    with open(os.path.join(HERE, "omics", "counts.csv"), "w") as f, \
         open(os.path.join(HERE, "omics", "labels.csv"), "w") as lab:
        f.write("cell_id," + ",".join(f"Gene{g + 1:03d}" for g in range(genes)) + "\n")
        lab.write("cell_id,cell_type,batch\n")
        for c in range(cells):
            t = types[c % len(types)]
            size = math.exp(rng.gauss(0, 0.3))
            row = []
            for g in range(genes):
                mu = base[g] * size * (6.0 if g in markers[t] else 1.0)
                lam = rng.gammavariate(2.0, mu / 2.0)  # dispersion 0.5
                row.append(str(poisson(lam)))
            f.write(f"cell{c + 1:04d}," + ",".join(row) + "\n")
            lab.write(f"cell{c + 1:04d},{t},batch{1 + c % 2}\n")
    # The genes each type was made to express more: what an explanation of a
    # classifier trained on these cells should rank first.
    with open(os.path.join(HERE, "omics", "markers.csv"), "w") as f:
        f.write("cell_type,gene\n")
        for t in types:
            for g in sorted(markers[t]):
                f.write(f"{t},Gene{g + 1:03d}\n")


def dna():
    motif = "TGCTATAAT"
    os.makedirs(os.path.join(HERE, "dna"), exist_ok=True)
    with open(os.path.join(HERE, "dna", "promoters.fasta"), "w") as f:
        for i in range(1000):
            seq = [rng.choice("ACGT") for _ in range(100)]
            label = i % 2
            if label:
                pos = rng.randrange(0, 100 - len(motif))
                for k, b in enumerate(motif):
                    seq[pos + k] = rng.choice("ACGT") if rng.random() < 0.1 else b
            s = "".join(seq)
            f.write(f">seq{i + 1} label={label}\n{s[:60]}\n{s[60:]}\n")


def proteins():
    prng = random.Random(20261125)  # its own stream: the files above stay as they were
    aa = "ACDEFGHIKLMNPQRSTVWY"
    families = {
        "kinase_like": ("GSGAFGKV", "KLIDFG"),
        "zincfinger_like": ("CPECGKSF", "HQRTH"),
        "transporter_like": ("LLGALLAV", "WSPYFG"),
    }
    os.makedirs(os.path.join(HERE, "protein"), exist_ok=True)
    names = sorted(families)
    with open(os.path.join(HERE, "protein", "families.fasta"), "w") as f:
        for i in range(600):
            name = names[i % 3]
            motifs = families[name]
            # Composition bias: the family's motif letters are a little more common.
            pool = aa + "".join(motifs)
            n = prng.randrange(40, 161)
            seq = [prng.choice(pool) for _ in range(n)]
            for motif in motifs:
                pos = prng.randrange(0, n - len(motif))
                for k, r in enumerate(motif):
                    seq[pos + k] = prng.choice(aa) if prng.random() < 0.1 else r
            s = "".join(seq)
            lines = "\n".join(s[k:k + 60] for k in range(0, n, 60))
            f.write(f">prot{i + 1} label={name}\n{lines}\n")


def png_gray(path, pixels, w, h):
    raw = b"".join(b"\x00" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def images():
    w = h = 32
    for cls in ["round", "elongated", "punctate"]:
        d = os.path.join(HERE, "images", "cells", cls)
        os.makedirs(d, exist_ok=True)
        for i in range(60):
            cx, cy = rng.uniform(12, 20), rng.uniform(12, 20)
            angle = rng.uniform(0, math.pi)
            if cls == "elongated":
                a, b = rng.uniform(9, 12), rng.uniform(3, 4.5)
            else:
                a = b = rng.uniform(6, 8)
            spots = [(cx + rng.uniform(-4, 4), cy + rng.uniform(-4, 4)) for _ in range(5)]
            grad = rng.uniform(-1, 1)
            px = []
            for y in range(h):
                for x in range(w):
                    dx, dy = x - cx, y - cy
                    u = dx * math.cos(angle) + dy * math.sin(angle)
                    v = -dx * math.sin(angle) + dy * math.cos(angle)
                    r = (u / a) ** 2 + (v / b) ** 2
                    val = 20 + 2 * grad * (x - 16)
                    if r < 1:
                        val += 110 if cls != "punctate" else 50
                    if cls == "punctate":
                        for sx, sy in spots:
                            val += 160 * math.exp(-((x - sx) ** 2 + (y - sy) ** 2) / 1.5)
                    val = poisson(max(val, 0) / 4) * 4
                    px.append(max(0, min(255, int(val))))
            png_gray(os.path.join(d, f"{cls}_{i + 1:03d}.png"), px, w, h)


def citeseq():
    r = random.Random(20261206)
    genes, proteins_, cells = 120, 10, 300
    lineages, states = ["T", "B", "Myeloid"], ["resting", "activated"]
    base = [math.exp(r.gauss(-0.5, 1.0)) for _ in range(genes)]
    lineage_markers = {l: r.sample(range(genes), 10) for l in lineages}
    adt_base = [r.uniform(5, 20) for _ in range(proteins_)]
    state_markers = {"resting": [0, 1, 2], "activated": [3, 4, 5]}
    d = os.path.join(HERE, "citeseq")
    os.makedirs(d, exist_ok=True)
    rna, adt, labels = [], [], []
    for c in range(cells):
        lin, st = lineages[c % 3], states[(c // 3) % 2]
        cid = f"cell{c + 1:04d}"
        size = math.exp(r.gauss(0, 0.3))
        row = []
        for g in range(genes):
            mu = base[g] * size * (5.0 if g in lineage_markers[lin] else 1.0)
            row.append(str(poisson_with(r, r.gammavariate(2.0, mu / 2.0))))
        rna.append(f"{cid}," + ",".join(row))
        arow = []
        for p in range(proteins_):
            mu = adt_base[p] * (6.0 if p in state_markers[st] else 1.0)
            arow.append(str(poisson_with(r, r.gammavariate(4.0, mu / 4.0))))
        adt.append(f"{cid}," + ",".join(arow))
        labels.append(f"{cid},{lin}_{st}")
    r.shuffle(adt)
    with open(os.path.join(d, "rna.csv"), "w") as f:
        f.write("cell_id," + ",".join(f"Gene{g + 1:03d}" for g in range(genes)) + "\n")
        f.write("\n".join(rna) + "\n")
    with open(os.path.join(d, "protein.csv"), "w") as f:
        f.write("cell_id," + ",".join(f"ADT{p + 1:02d}" for p in range(proteins_)) + "\n")
        f.write("\n".join(adt) + "\n")
    with open(os.path.join(d, "labels.csv"), "w") as f:
        f.write("cell_id,cell_type\n" + "\n".join(labels) + "\n")


def poisson_with(r, lam):
    if lam < 30:
        l, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= r.random()
            if p <= l:
                return k
            k += 1
    return max(0, int(round(r.gauss(lam, math.sqrt(lam)))))


if __name__ == "__main__":
    import sys
    only = sys.argv[1:]
    # Each set draws from the shared generator in this order; "citeseq" has its own.
    if not only:
        omics()
        dna()
        images()
        proteins()
    if not only or "citeseq" in only:
        citeseq()
