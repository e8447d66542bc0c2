#!/usr/bin/python3
"""Pillow reference for `./batchvlm bench imaging` (bench/BatchVlm.Bench/Imaging/ImagingBench.cs).

  gen DIR [--small N] [--large M] [--seed S]
      Writes DIR/small/*.jpg (640x480) and DIR/large/*.jpg (4000x3000): photo-like content (bicubic-upsampled colour
      field + blurred ellipses/rectangles + mid-frequency texture + noise), Pillow quality 90, 4:2:0 — the recipe of
      research/baselines.md §4. Deterministic for a seed; skips files that exist.
  bench DIR --mode full|draft --threads T [--passes P] [--size 224] [--count N]
      The HF SigLIP-style pipeline with Pillow, on the first N (all) files of DIR in name order, read into memory first:
      Image.open → [draft('RGB', (size, size))] → convert('RGB') → resize((size, size), BICUBIC, reducing_gap=None)
      → float32 × 1/255 → (x − 0.5) / 0.5 → contiguous CHW. T > 1 runs T worker processes, each on a share of the
      files (Pillow's strongest parallel form). One warm-up pass, then P timed passes; prints one JSON line with the
      median and min/max images/s, and the median CPU ms per image (process time, all workers).
Run with Debian's /usr/bin/python3 (Pillow 9.4.0 on libjpeg-turbo 2.1.5, numpy 1.24.2).
"""
import argparse, io, json, os, sys, time
import multiprocessing as mp
import numpy as np
from PIL import Image, ImageFilter, ImageDraw


def gen_one(path, w, h, seed):
    rng = np.random.default_rng(seed)
    field = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(field, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    layer = Image.new("RGB", (w, h))
    mask = Image.new("L", (w, h), 0)
    d, md = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 20, w // 3)), y0 + int(rng.integers(h // 20, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse((x0, y0, x1, y1), fill=colour); md.ellipse((x0, y0, x1, y1), fill=255)
        else:
            d.rectangle((x0, y0, x1, y1), fill=colour); md.rectangle((x0, y0, x1, y1), fill=255)
    radius = max(1, w // 400)
    img = Image.composite(layer.filter(ImageFilter.GaussianBlur(radius)), img, mask.filter(ImageFilter.GaussianBlur(radius)))
    a = np.asarray(img).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = 12 * np.sin(xx * (2 * np.pi / 23)) * np.cos(yy * (2 * np.pi / 31))
    noise = rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    a = np.clip(a + texture[:, :, None] + noise, 0, 255).astype(np.uint8)
    Image.fromarray(a, "RGB").save(path, quality=90, subsampling=2)


def gen(args):
    for name, (w, h), n in (("small", (640, 480), args.small), ("large", (4000, 3000), args.large)):
        d = os.path.join(args.dir, name)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            p = os.path.join(d, f"{name}_{i:04d}.jpg")
            if not os.path.exists(p):
                gen_one(p, w, h, args.seed * 100003 + (0 if name == "small" else 50000) + i)
    print(json.dumps({"generated": args.dir}))


def pipeline(data, size, draft):
    im = Image.open(io.BytesIO(data))
    if draft:
        im.draft("RGB", (size, size))
    im = im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None)
    x = np.asarray(im, dtype=np.float32) * np.float32(1 / 255)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def worker(files, size, draft, passes, start_q, done_q):
    blobs = [open(f, "rb").read() for f in files]
    for b in blobs:                              # warm-up pass
        pipeline(b, size, draft)
    done_q.put(None)                             # ready: the parent starts timing only when every worker is
    for _ in range(passes):
        start_q.get()
        c0 = time.process_time()
        for b in blobs:
            pipeline(b, size, draft)
        done_q.put(time.process_time() - c0)


def bench(args):
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir) if f.endswith(".jpg"))[:args.count]
    draft = args.mode == "draft"
    rates, cpu = [], []
    if args.threads == 1:
        blobs = [open(f, "rb").read() for f in files]
        for b in blobs:
            pipeline(b, args.size, draft)
        for _ in range(args.passes):
            t0, c0 = time.perf_counter(), time.process_time()
            for b in blobs:
                pipeline(b, args.size, draft)
            rates.append(len(blobs) / (time.perf_counter() - t0))
            cpu.append((time.process_time() - c0) * 1000 / len(blobs))
    else:
        ctx = mp.get_context("fork")
        start_q, done_q = ctx.Queue(), ctx.Queue()
        shares = [files[i::args.threads] for i in range(args.threads)]
        procs = [ctx.Process(target=worker, args=(s, args.size, draft, args.passes, start_q, done_q)) for s in shares]
        for p in procs:
            p.start()
        for _ in procs:
            done_q.get()                         # every worker has read its files and done its warm-up pass
        for _ in range(args.passes):
            # time from the start signal to the last worker's finish
            t0 = time.perf_counter()
            for _ in procs:
                start_q.put(1)
            c = sum(done_q.get() for _ in procs)
            rates.append(len(files) / (time.perf_counter() - t0))
            cpu.append(c * 1000 / len(files))
        for p in procs:
            p.join()
    rates.sort(); cpu.sort()
    print(json.dumps({"mode": args.mode, "threads": args.threads, "images": len(files), "passes": args.passes,
                      "median": rates[len(rates) // 2], "min": rates[0], "max": rates[-1], "cpu_ms_per_image": cpu[len(cpu) // 2]}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen"); g.add_argument("dir"); g.add_argument("--small", type=int, default=200)
    g.add_argument("--large", type=int, default=20); g.add_argument("--seed", type=int, default=42)
    b = sub.add_parser("bench"); b.add_argument("dir"); b.add_argument("--mode", choices=["full", "draft"], default="full")
    b.add_argument("--threads", type=int, default=1); b.add_argument("--passes", type=int, default=5); b.add_argument("--size", type=int, default=224)
    b.add_argument("--count", type=int, default=None)
    args = ap.parse_args()
    gen(args) if args.cmd == "gen" else bench(args)


if __name__ == "__main__":
    main()
