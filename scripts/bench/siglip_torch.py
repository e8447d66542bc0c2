#!/usr/bin/python3
"""PyTorch reference for `batchvlm bench siglip`: a SigLIP-base-patch16-224 vision tower in plain torch.

Same layout as HF SiglipVisionTransformer (transformers 4.46.1 modeling_siglip.py) and as
shared/research/baselines.md's script: Conv2d patch embedding, learned positions, 12 pre-LN layers (LayerNorm eps 1e-6,
12-head attention with biases, eager softmax attention -- torch 1.13 has no SDPA --, MLP 768->3072->768 with
gelu(approximate="tanh")), post-LayerNorm, then the MAP pooling head (probe + nn.MultiheadAttention + LayerNorm + MLP).
Random weights (normal, std 0.02), f32, eval, no_grad.

Runs as a server so the C# bench can interleave samples with its own: reads commands on stdin, one per line:
  warmup B          -> runs forwards of batch B for >= 0.3 s, prints "ok"
  sample B MIN_S    -> back-to-back forwards of batch B filling >= MIN_S seconds, prints seconds per call
  quit
The caller sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS, unsets OPENBLAS_CORETYPE and sets
OMP_WAIT_POLICY=PASSIVE before this process starts; --threads sets torch's own pools to the same count.
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

C, H, FF, L, P, S = 768, 12, 3072, 12, 16, 224


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(C, eps=1e-6)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(C, C) for _ in range(4))
        self.layer_norm2 = nn.LayerNorm(C, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(C, FF), nn.Linear(FF, C)

    def forward(self, x):
        b, t, _ = x.shape
        d = C // H
        h = self.layer_norm1(x)
        q = self.q_proj(h).view(b, t, H, d).transpose(1, 2)
        k = self.k_proj(h).view(b, t, H, d).transpose(1, 2)
        v = self.v_proj(h).view(b, t, H, d).transpose(1, 2)
        w = torch.matmul(q, k.transpose(2, 3)) * d ** -0.5
        w = F.softmax(w, dim=-1, dtype=torch.float32)
        a = torch.matmul(w, v).transpose(1, 2).reshape(b, t, C)
        x = x + self.out_proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.layer_norm2(x)), approximate="tanh"))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, C, P, P)
        self.position_embedding = nn.Parameter(torch.zeros((S // P) ** 2, C))
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.post_layernorm = nn.LayerNorm(C, eps=1e-6)
        self.probe = nn.Parameter(torch.zeros(1, 1, C))
        self.attention = nn.MultiheadAttention(C, H, batch_first=True)
        self.layernorm = nn.LayerNorm(C, eps=1e-6)
        self.head_fc1, self.head_fc2 = nn.Linear(C, FF), nn.Linear(FF, C)

    def forward(self, px):
        x = self.patch_embedding(px).flatten(2).transpose(1, 2) + self.position_embedding
        for layer in self.layers:
            x = layer(x)
        x = self.post_layernorm(x)
        probe = self.probe.repeat(x.shape[0], 1, 1)
        h = self.attention(probe, x, x)[0]
        h = h + self.head_fc2(F.gelu(self.head_fc1(self.layernorm(h)), approximate="tanh"))
        return h[:, 0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = Tower().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    inputs = {}
    print("ready", torch.__version__, flush=True)
    with torch.no_grad():
        for line in sys.stdin:
            parts = line.split()
            if not parts or parts[0] == "quit":
                break
            b = int(parts[1])
            if b not in inputs:
                inputs[b] = torch.randn(b, 3, S, S)
            px = inputs[b]
            if parts[0] == "warmup":
                t0 = time.perf_counter()
                while True:
                    model(px)
                    if time.perf_counter() - t0 >= 0.3:
                        break
                print("ok", flush=True)
            elif parts[0] == "sample":
                min_s = float(parts[2])
                calls = 0
                t0 = time.perf_counter()
                while True:
                    model(px)
                    calls += 1
                    el = time.perf_counter() - t0
                    if el >= min_s:
                        break
                print(f"{el / calls:.6f}", flush=True)


if __name__ == "__main__":
    main()
