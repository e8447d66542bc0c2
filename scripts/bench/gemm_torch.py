#!/usr/bin/python3
"""PyTorch reference for `batchvlm bench gemm`: F.linear(x[M,K], W[N,K]) GFLOP/s, median (min-max) of samples.

Method as in shared/research/baselines.md: warm-up >= 0.3 s, each sample = back-to-back calls filling >= min-sample s.
The caller sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS = threads, unsets OPENBLAS_CORETYPE and sets
OMP_WAIT_POLICY=PASSIVE before this process starts (those are read when the libraries load).
Prints markdown rows: | shape | threads | GFLOP/s median (min-max) |
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def sample(fn, min_s):
    calls = 0
    t0 = time.perf_counter()
    while True:
        fn()
        calls += 1
        el = time.perf_counter() - t0
        if el >= min_s:
            return el / calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=7)
    ap.add_argument("--min-sample", type=float, default=0.2)
    ap.add_argument("--shapes", required=True, help="name:M:K:N,...")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    with torch.no_grad():
        for spec in a.shapes.split(","):
            name, m, k, n = spec.split(":")
            m, k, n = int(m), int(k), int(n)
            x = torch.randn(m, k) * 0.05
            w = torch.randn(n, k) * 0.05
            fn = lambda: F.linear(x, w)
            t0 = time.perf_counter()
            while True:
                fn()
                if time.perf_counter() - t0 >= 0.3:
                    break
            s = [sample(fn, a.min_sample) for _ in range(a.samples)]
            flop = 2.0 * m * k * n
            print(f"| {name} | {a.threads} | {flop / statistics.median(s) / 1e9:.0f} ({flop / max(s) / 1e9:.0f}–{flop / min(s) / 1e9:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
