# PyTorch reference for `batchvlm bench blip2`, run as a server so the C# bench can interleave samples:
# stdin commands "load L" (build the model with L OPT layers; answers "ok"), "sample BENCH B" (one sample of
# >= 0.5 s after a warm-up of >= 0.3 s the first time a (BENCH, B) is seen; answers seconds per call), "quit".
# The math is HF's (transformers 4.46.1, eager attention) written in plain torch with random weights:
#  - Q-Former (modeling_blip_2.py Blip2QFormerModel): layernorm(query_tokens); 12 BERT layers (self-attention,
#    cross-attention to the image features in even layers, intermediate_query/output_query FFN, post-LN, GELU erf);
#    then language_projection 768 -> 2560;
#  - OPT (modeling_opt.py OPTDecoder, do_layer_norm_before): inputs_embeds + learned positions (offset 2),
#    pre-LN layers (q scaled by head_dim^-0.5 after its biased projection, causal softmax attention, ReLU FFN),
#    final LayerNorm, tied LM head (F.linear, as HF) on the last position only (as the C# side);
#  - prefill: [32 projected queries; 8 token embeddings] with positions 2..41; decode: STEPS single-token steps with a
#    preallocated static KV cache (cheaper than HF's DynamicCache concatenation); caption: Q-Former + merge +
#    prefill + STEPS greedy steps (argmax).
# Run by the C# bench with OMP_WAIT_POLICY=PASSIVE and OPENBLAS/OMP/MKL_NUM_THREADS pinned, OPENBLAS_CORETYPE unset.
import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=8)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)

Q, IMG, VH, QH, QL, QHEADS, QI = 32, 257, 1408, 768, 12, 12, 3072
H, HEADS, FFN, VOCAB, PROMPT = 2560, 32, 10240, 50272, 8
D = H // HEADS


def lin(o, i):
    return torch.randn(o, i) / math.sqrt(i), torch.randn(o) * 0.02


def ln(n):
    return 1 + torch.randn(n) * 0.02, torch.randn(n) * 0.02


class QAttn:
    def __init__(self, kv_in):
        self.q, self.k, self.v, self.o = lin(QH, QH), lin(QH, kv_in), lin(QH, kv_in), lin(QH, QH)
        self.ln = ln(QH)

    def __call__(self, x, kv):
        b, t, _ = x.shape
        s = kv.shape[1]
        dq = QH // QHEADS
        q = F.linear(x, *self.q).view(b, t, QHEADS, dq).permute(0, 2, 1, 3)
        k = F.linear(kv, *self.k).view(b, s, QHEADS, dq).permute(0, 2, 1, 3)
        v = F.linear(kv, *self.v).view(b, s, QHEADS, dq).permute(0, 2, 1, 3)
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dq)
        w = torch.softmax(w, dim=-1)
        c = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous().view(b, t, QH)
        return F.layer_norm(F.linear(c, *self.o) + x, (QH,), *self.ln, eps=1e-12)


class QLayer:
    def __init__(self, idx):
        self.attn = QAttn(QH)
        self.cross = QAttn(VH) if idx % 2 == 0 else None
        self.i, self.o, self.ln = lin(QI, QH), lin(QH, QI), ln(QH)

    def __call__(self, x, image):
        x = self.attn(x, x)
        if self.cross is not None:
            x = self.cross(x, image)
        h = F.gelu(F.linear(x, *self.i))
        return F.layer_norm(F.linear(h, *self.o) + x, (QH,), *self.ln, eps=1e-12)


class QFormer:
    def __init__(self):
        self.query = torch.randn(1, Q, QH) * 0.02
        self.ln = ln(QH)
        self.layers = [QLayer(i) for i in range(QL)]
        self.proj = lin(H, QH)

    def __call__(self, image):
        x = F.layer_norm(self.query.expand(image.shape[0], -1, -1), (QH,), *self.ln, eps=1e-12)
        for l in self.layers:
            x = l(x, image)
        return F.linear(x, *self.proj)


class OptLayer:
    def __init__(self):
        self.q, self.k, self.v, self.o = lin(H, H), lin(H, H), lin(H, H), lin(H, H)
        self.ln1, self.ln2 = ln(H), ln(H)
        self.fc1, self.fc2 = lin(FFN, H), lin(H, FFN)

    def __call__(self, x, kc, vc, start, mask):
        b, t, _ = x.shape
        h = F.layer_norm(x, (H,), *self.ln1, eps=1e-5)
        q = (F.linear(h, *self.q) * D ** -0.5).view(b, t, HEADS, D).transpose(1, 2)
        k = F.linear(h, *self.k).view(b, t, HEADS, D).transpose(1, 2)
        v = F.linear(h, *self.v).view(b, t, HEADS, D).transpose(1, 2)
        kc[:, :, start:start + t] = k
        vc[:, :, start:start + t] = v
        w = torch.matmul(q, kc[:, :, : start + t].transpose(2, 3))
        if mask is not None:
            w = w + mask
        w = torch.softmax(w, dim=-1)
        c = torch.matmul(w, vc[:, :, : start + t]).transpose(1, 2).reshape(b, t, H)
        x = x + F.linear(c, *self.o)
        h = F.layer_norm(x, (H,), *self.ln2, eps=1e-5)
        return x + F.linear(F.relu(F.linear(h, *self.fc1)), *self.fc2)


class Opt:
    def __init__(self, layers):
        self.embed = torch.randn(VOCAB, H) * 0.02
        self.pos = torch.randn(2048 + 2, H) * 0.02
        self.layers = [OptLayer() for _ in range(layers)]
        self.final = ln(H)

    def run(self, x, positions, caches, start, mask):
        x = x + F.embedding(positions + 2, self.pos)
        for l, (kc, vc) in zip(self.layers, caches):
            x = l(x, kc, vc, start, mask)
        x = F.layer_norm(x[:, -1:], (H,), *self.final, eps=1e-5)
        return F.linear(x, self.embed)[:, -1]


qformer = QFormer()
opt = None
state = {}


def setup(b):
    if b in state:
        return state[b]
    g = torch.Generator().manual_seed(11 + b)
    image = torch.rand(b, IMG, VH, generator=g) * 2 - 1
    ids = torch.randint(4, 50000, (b, PROMPT), generator=g)
    ids[:, 0] = 2
    t = Q + PROMPT
    cap = t + a.steps
    caches = [(torch.zeros(b, HEADS, cap, D), torch.zeros(b, HEADS, cap, D)) for _ in opt.layers]
    causal = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)[None, None]
    positions = torch.arange(t)[None].expand(b, -1)
    state[b] = (image, ids, caches, causal, positions)
    return state[b]


def embeds_of(b, projected, ids):
    # image_token_index path: the 32 image-token rows are replaced by the projected queries (masked_scatter)
    return torch.cat([projected, F.embedding(ids, opt.embed)], dim=1)


def bench_fn(name, b):
    image, ids, caches, causal, positions = setup(b)
    t = Q + PROMPT
    projected = qformer(image)
    embeds = embeds_of(b, projected, ids)
    tokens = torch.arange(5, 5 + b)[:, None]

    def qf():
        qformer(image)

    def prefill():
        opt.run(embeds, positions, caches, 0, causal)

    def decode():
        for s in range(a.steps):
            opt.run(F.embedding(tokens, opt.embed), torch.full((b, 1), t + s), caches, t + s, None)

    def caption():
        e = embeds_of(b, qformer(image), ids)
        nxt = opt.run(e, positions, caches, 0, causal).argmax(-1)
        for s in range(a.steps - 1):
            nxt = opt.run(F.embedding(nxt[:, None], opt.embed), torch.full((b, 1), t + s), caches, t + s, None).argmax(-1)

    return {"qformer": qf, "prefill": prefill, "decode": decode, "caption": caption}[name]


warm = set()
with torch.no_grad():
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "load":
            opt = Opt(int(cmd[1]))
            state.clear()
            warm.clear()
            print("ok", flush=True)
            continue
        if cmd[0] == "sample":
            fn = bench_fn(cmd[1], int(cmd[2]))
            if cmd[1] == "decode":
                bench_fn("prefill", int(cmd[2]))()
            key = (cmd[1], int(cmd[2]))
            if key not in warm:
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < 0.3:
                    fn()
                warm.add(key)
            calls, t0 = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                if time.perf_counter() - t0 >= 0.5:
                    break
            print(f"{(time.perf_counter() - t0) / calls:.6f}", flush=True)
            continue
        print(f"unknown command {line.strip()}", flush=True)
