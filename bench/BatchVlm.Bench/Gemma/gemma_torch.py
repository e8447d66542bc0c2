# PyTorch reference for `batchvlm bench gemma`: Gemma-2B-shaped decoder layers written the way HF's
# GemmaDecoderLayer runs them (transformers 4.46.1 modeling_gemma.py, eager attention): RMSNorm (1 + w),
# q 2048 -> 8x256, k/v 2048 -> 1x256, RoPE theta 10000 (rotate_half), repeat_kv, softmax attention in f32,
# o 2048 -> 2048, MLP down(gelu_tanh(gate(x)) * up(x)) with 16384; final RMSNorm; no embeddings / LM head.
# Prefill: B x P tokens from position 0 (causal). Decode: a preallocated static KV cache holding P positions,
# STEPS single-token steps timed back to back (positions P .. P+STEPS-1), F.linear on one row per sequence as HF does.
# Method of shared/research/baselines.md: warm-up >= 0.3 s, then SAMPLES samples of >= 0.5 s (at least one call);
# prints one TSV line per measurement: bench layers batch median_s min_s max_s.
# Run by the C# bench with OMP_WAIT_POLICY=PASSIVE and OPENBLAS/OMP/MKL_NUM_THREADS pinned, OPENBLAS_CORETYPE unset.
import argparse
import math
import time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--layers", default="2,4")
p.add_argument("--batches", default="1,8")
p.add_argument("--prompt", type=int, default=260)
p.add_argument("--steps", type=int, default=8)
p.add_argument("--samples", type=int, default=5)
p.add_argument("--min-sample", type=float, default=0.5)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)

C, H, KV, D, FF, EPS, THETA = 2048, 8, 1, 256, 16384, 1e-6, 10000.0


def rms(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS) * (1.0 + w.float())).type_as(x)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


inv_freq = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))


def rope_tables(positions):  # positions (B, T)
    freqs = (inv_freq[None, :, None] @ positions[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]  # (B, 1, T, D)


class Layer:
    def __init__(self):
        n = lambda *s: torch.randn(*s) * 0.02
        self.q, self.k, self.v, self.o = n(H * D, C), n(KV * D, C), n(KV * D, C), n(C, H * D)
        self.gate, self.up, self.down = n(FF, C), n(FF, C), n(C, FF)
        self.ln1, self.ln2 = torch.randn(C) * 0.1, torch.randn(C) * 0.1

    def __call__(self, x, cos, sin, kc, vc, start, mask):
        b, t, _ = x.shape
        h = rms(x, self.ln1)
        q = F.linear(h, self.q).view(b, t, H, D).transpose(1, 2)
        k = F.linear(h, self.k).view(b, t, KV, D).transpose(1, 2)
        v = F.linear(h, self.v).view(b, t, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        kc[:, :, start:start + t] = k
        vc[:, :, start:start + t] = v
        ks = kc[:, :, : start + t].repeat_interleave(H // KV, dim=1)
        vs = vc[:, :, : start + t].repeat_interleave(H // KV, dim=1)
        w = torch.matmul(q, ks.transpose(2, 3)) / math.sqrt(D)
        if mask is not None:
            w = w + mask
        w = torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        a = torch.matmul(w, vs).transpose(1, 2).reshape(b, t, H * D)
        x = x + F.linear(a, self.o)
        h = rms(x, self.ln2)
        return x + F.linear(F.gelu(F.linear(h, self.gate), approximate="tanh") * F.linear(h, self.up), self.down)


def measure(fn):
    t0 = time.perf_counter()
    while True:
        fn()
        if time.perf_counter() - t0 >= 0.3:
            break
    out = []
    for _ in range(a.samples):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            if time.perf_counter() - t0 >= a.min_sample:
                break
        out.append((time.perf_counter() - t0) / calls)
    out.sort()
    return out[len(out) // 2], out[0], out[-1]


with torch.no_grad():
    for nl in [int(x) for x in a.layers.split(",")]:
        layers = [Layer() for _ in range(nl)]
        final = torch.randn(C) * 0.1
        for b in [int(x) for x in a.batches.split(",")]:
            P, S = a.prompt, a.steps
            cap = P + S
            kcs = [torch.zeros(b, KV, cap, D) for _ in layers]
            vcs = [torch.zeros(b, KV, cap, D) for _ in layers]
            x0 = torch.randn(b, P, C)
            pos = torch.arange(P)[None].expand(b, -1)
            cos, sin = rope_tables(pos)
            causal = torch.full((P, P), torch.finfo(torch.float32).min).triu(1)[None, None]

            def prefill():
                x = x0
                for l, kc, vc in zip(layers, kcs, vcs):
                    x = l(x, cos, sin, kc, vc, 0, causal)
                return rms(x, final)

            med, lo, hi = measure(prefill)
            print(f"prefill\t{nl}\t{b}\t{med:.6f}\t{lo:.6f}\t{hi:.6f}", flush=True)
            prefill()  # cache holds P positions
            steps = [rope_tables(torch.full((b, 1), P + s)) for s in range(S)]
            xs = torch.randn(b, 1, C)

            def decode():
                for s in range(S):
                    x = xs
                    for l, kc, vc in zip(layers, kcs, vcs):
                        x = l(x, steps[s][0], steps[s][1], kc, vc, P + s, None)
                    rms(x, final)

            med, lo, hi = measure(decode)
            print(f"decode\t{nl}\t{b}\t{med:.6f}\t{lo:.6f}\t{hi:.6f}", flush=True)
