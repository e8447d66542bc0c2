#!/usr/bin/python3
"""PyTorch reference for `batchvlm bench gemm`: F.linear(x[M,K], W[N,K]), timed on request.

Runs as a server so the C# bench interleaves its samples with ours and OpenBLAS's. Commands on stdin, one per line:
  shape M K N      -> allocates x, W (normal * 0.05), prints "ok"
  warmup           -> F.linear calls for >= 0.3 s, prints "ok"
  sample MIN_S     -> back-to-back calls filling >= MIN_S seconds, prints seconds per call
  quit
Method and settings as in shared/research/baselines.md: the caller sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS = --threads, unsets OPENBLAS_CORETYPE and sets OMP_WAIT_POLICY=PASSIVE before this process starts
(they are read when the libraries load); torch's own pools are set to the same count here.
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    x = w = None
    print("ready", torch.__version__, flush=True)
    with torch.no_grad():
        for line in sys.stdin:
            p = line.split()
            if not p or p[0] == "quit":
                break
            if p[0] == "shape":
                m, k, n = int(p[1]), int(p[2]), int(p[3])
                x = torch.randn(m, k) * 0.05
                w = torch.randn(n, k) * 0.05
                print("ok", flush=True)
            elif p[0] == "warmup":
                t0 = time.perf_counter()
                while True:
                    F.linear(x, w)
                    if time.perf_counter() - t0 >= 0.3:
                        break
                print("ok", flush=True)
            elif p[0] == "sample":
                min_s = float(p[1])
                calls = 0
                t0 = time.perf_counter()
                while True:
                    F.linear(x, w)
                    calls += 1
                    el = time.perf_counter() - t0
                    if el >= min_s:
                        break
                print(f"{el / calls:.9f}", flush=True)


if __name__ == "__main__":
    main()
