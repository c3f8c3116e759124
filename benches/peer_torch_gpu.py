#!/usr/bin/env python3
"""Run the PyTorch reference (shared/bench/peer_torch.py, unchanged) on a CUDA GPU.

The reference is written for the CPU. This runner imports it and moves its tensors
to the GPU without touching its jobs: every tensor made from numpy goes to CUDA,
new tensors default to CUDA, the batch order is still drawn on the CPU generator
(so batches are the same as on the CPU), and `.numpy()` copies back first.
Timing is the reference's own (each step reads `loss.item()`, which waits for the GPU).

Usage: python3 peer_torch_gpu.py PATH/TO/peer_torch.py [peer_torch.py's arguments]
"""
import importlib.util
import os
import sys

import torch

if len(sys.argv) < 2:
    sys.exit(__doc__)
DEVICE = os.environ.get("PEER_DEVICE", "cuda")  # "cpu" checks this runner without a GPU
if DEVICE == "cuda" and not torch.cuda.is_available():
    sys.exit("no CUDA device: this runner is for the GPU comparison")

spec = importlib.util.spec_from_file_location("peer_torch", sys.argv[1])
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

torch.set_default_device(DEVICE)
_from_numpy = torch.from_numpy
torch.from_numpy = lambda a: _from_numpy(a).to(DEVICE)
_numpy = torch.Tensor.numpy
torch.Tensor.numpy = lambda self, *a, **k: _numpy(self.detach().cpu(), *a, **k)


def batches(n, bs, gen):
    perm = torch.randperm(n, generator=gen, device="cpu").to(DEVICE)
    for i in range(0, n, bs):
        yield perm[i:i + bs]


peer.batches = batches
sys.argv = [sys.argv[1]] + sys.argv[2:]
# Warm CUDA up (context, cuBLAS handle) outside the timed jobs, as a GPU user's
# process would be after its first job.
torch.ones(8, 8) @ torch.ones(8, 8)
if DEVICE == "cuda":
    torch.cuda.synchronize()
peer.main()
