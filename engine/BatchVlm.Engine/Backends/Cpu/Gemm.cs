// Blocked, packed, register-tiled f32 GEMM (the BLIS/GotoBLAS scheme): C = A·B (+ C) with B in f32, bf16 or f16
// (weights are converted while packing, so a bf16 checkpoint never needs an f32 copy). Loops: N in NC-wide
// column blocks → K in KC-deep slices (pack B: KC×NC, lives in L2/L3) → M in MC-row blocks (pack A: MC×KC, L2)
// → NR-wide B micro-panels (L1) × MR-row A micro-panels → register tile. AVX-512: 14×32 tile (28 zmm
// accumulators); AVX2+FMA: 6×16. Edge tiles go through a small buffer. The scalar twin is ScalarOps.MatMul/Linear.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Backends.Cpu;

internal static unsafe class Gemm
{
    private static readonly int KC = Env("BATCHVLM_GEMM_KC", 256);
    private static readonly int MCBlocks = Env("BATCHVLM_GEMM_MCB", 24);   // MC = MR · 24 (336 rows for AVX-512: 344 KB of packed A)
    private static readonly int NC = Env("BATCHVLM_GEMM_NC", 1024);
    private static readonly bool AOuter = Env("BATCHVLM_GEMM_AOUTER", 0) == 1;
    private static readonly bool PrefetchA = Env("BATCHVLM_GEMM_PFA", 0) == 1;
    private static readonly bool NoPrefetchC = Env("BATCHVLM_GEMM_NOPFC", 0) == 1;

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) && v > 0 ? v : fallback;

    /// <summary>AVX-512 kernel in use. BATCHVLM_GEMM_AVX2=1 forces the AVX2 kernel (to test it on an AVX-512 machine).</summary>
    public static readonly bool Avx512 = Vector512.IsHardwareAccelerated && Avx512F.IsSupported
                                         && Environment.GetEnvironmentVariable("BATCHVLM_GEMM_AVX2") != "1";
    public static readonly bool Avx2Fma = Avx2.IsSupported && Fma.IsSupported;
    public static int MR => Avx512 ? 14 : 6;
    public static int NR => Avx512 ? 32 : 16;

    [ThreadStatic] private static float* _aPack;
    [ThreadStatic] private static float* _bPack;
    [ThreadStatic] private static float* _tile;

    /// <summary>Matrix operand: element (row r, col c) at Ptr + r·RowStride + c·ColStride (in elements of DType).</summary>
    public readonly struct Operand(void* ptr, DType dtype, long rowStride, long colStride)
    {
        public readonly void* Ptr = ptr;
        public readonly DType DType = dtype;
        public readonly long RowStride = rowStride;
        public readonly long ColStride = colStride;
    }

    /// <summary>C[M×N] (row stride ldc) = A[M×K]·B[K×N] (+ C when <paramref name="accumulate"/>);
    /// A is f32, B f32/bf16/f16. Work is split over <paramref name="threads"/>.</summary>
    public static void Run(int m, int n, int k, Operand a, Operand b, float* c, long ldc, bool accumulate, int threads)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) new Span<float>(c + i * ldc, n).Clear();
            return;
        }
        if (!(Avx512 || Avx2Fma))
            throw new PlatformNotSupportedException("the fast GEMM needs AVX2+FMA or AVX-512; use ReferenceBackend on this CPU");
        int nr = NR, mr = MR;
        int nPanels = (n + nr - 1) / nr, mPanels = (m + mr - 1) / mr;
        threads = Math.Max(1, threads);
        if (threads == 1 || (long)m * n * k < 64L * 64 * 64)
        {
            Block(0, m, 0, n, k, a, b, c, ldc, accumulate);
            return;
        }
        if (nPanels >= 2 * threads || nPanels >= mPanels)
        {
            int per = (nPanels + threads - 1) / threads;
            CpuParallel.For(threads, threads, t =>
            {
                int n0 = Math.Min(n, t * per * nr), n1 = Math.Min(n, (t + 1) * per * nr);
                if (n1 > n0) Block(0, m, n0, n1, k, a, b, c, ldc, accumulate);
            });
        }
        else
        {
            int per = (mPanels + threads - 1) / threads;
            CpuParallel.For(threads, threads, t =>
            {
                int m0 = Math.Min(m, t * per * mr), m1 = Math.Min(m, (t + 1) * per * mr);
                if (m1 > m0) Block(m0, m1, 0, n, k, a, b, c, ldc, accumulate);
            });
        }
    }

    private static void EnsureBuffers()
    {
        if (_aPack != null) return;
        _aPack = (float*)NativeMemory.AlignedAlloc((nuint)((14 * MCBlocks * KC + 16) * sizeof(float)), 64);
        _bPack = (float*)NativeMemory.AlignedAlloc((nuint)((NC + 32) * KC * sizeof(float)), 64);
        _tile = (float*)NativeMemory.AlignedAlloc((nuint)(14 * 32 * sizeof(float)), 64);
    }

    /// <summary>One thread's share: rows [m0, m1) × columns [n0, n1).</summary>
    private static void Block(int m0, int m1, int n0, int n1, int k, Operand a, Operand b, float* c, long ldc, bool accumulate)
    {
        EnsureBuffers();
        int mr = MR, nr = NR, mc = mr * MCBlocks;
        float* ap = _aPack, bp = _bPack, tile = _tile;
        for (int jc = n0; jc < n1; jc += NC)
        {
            int nc = Math.Min(NC, n1 - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                bool acc = accumulate || pc > 0;
                PackB(b, pc, kc, jc, nc, nr, bp);
                for (int ic = m0; ic < m1; ic += mc)
                {
                    int mcur = Math.Min(mc, m1 - ic);
                    PackA(a, ic, mcur, pc, kc, mr, ap);
                    int jN = (nc + nr - 1) / nr, iN = (mcur + mr - 1) / mr;
                    for (int outer = 0; outer < (AOuter ? iN : jN); outer++)
                    {
                        for (int inner = 0; inner < (AOuter ? jN : iN); inner++)
                        {
                            int jr = (AOuter ? inner : outer) * nr, ir = (AOuter ? outer : inner) * mr;
                            int ncur = Math.Min(nr, nc - jr);
                            float* bPanel = bp + (long)jr * kc;
                            int mcur2 = Math.Min(mr, mcur - ir);
                            float* aPanel = ap + (long)ir * kc;
                            float* cTile = c + (ic + ir) * ldc + jc + jr;
                            if (mcur2 == mr && ncur == nr)
                                Kernel(aPanel, bPanel, kc, cTile, ldc, acc);
                            else
                            {
                                Kernel(aPanel, bPanel, kc, tile, nr, false);
                                for (int i = 0; i < mcur2; i++)
                                    for (int j = 0; j < ncur; j++)
                                        cTile[i * ldc + j] = acc ? cTile[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Calls the register kernel on one packed A/B panel pair, <paramref name="calls"/> times (the ceiling
    /// the blocked loops can reach; used by `bench gemm --kernel`).</summary>
    internal static void KernelOnly(int kc, int calls)
    {
        EnsureBuffers();
        int mr = MR, nr = NR;
        new Span<float>(_aPack, mr * kc).Fill(0.001f);
        new Span<float>(_bPack, nr * kc).Fill(0.002f);
        for (int i = 0; i < calls; i++) Kernel(_aPack, _bPack, kc, _tile, nr, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(float* ap, float* bp, int kc, float* c, long ldc, bool accumulate)
    {
        if (Avx512) Kernel14x32(ap, bp, kc, c, ldc, accumulate);
        else Kernel6x16(ap, bp, kc, c, ldc, accumulate);
    }

    /// <summary>A rows [i0, i0+mc) × k [p0, p0+kc) → MR-row panels, k-major inside: dst[panel][k][0..MR), zero-padded.</summary>
    private static void PackA(Operand a, int i0, int mc, int p0, int kc, int mr, float* dst)
    {
        float* src = (float*)a.Ptr;
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            float* panel = dst + (long)ir * kc;
            if (a.ColStride == 1 && rows == mr && Avx.IsSupported)
            {
                // 8×8 transposes; the 6-row groups (rows 8..13 of 14, or all 6 of 6) store 8 lanes and spill 2 into
                // the next k's first slots, which the stores that follow overwrite (the buffer has 16 floats slack).
                float* row0 = src + (i0 + ir) * a.RowStride + p0;
                int kFull = kc & ~7;
                for (int p = 0; p < kFull; p += 8)
                {
                    if (mr == 14)
                    {
                        Transpose8(row0 + 8 * a.RowStride + p, a.RowStride, 6, panel + p * mr + 8, mr);
                        Transpose8(row0 + p, a.RowStride, 8, panel + p * mr, mr);
                    }
                    else
                        Transpose8(row0 + p, a.RowStride, 6, panel + p * mr, mr);
                }
                for (int i = 0; i < mr; i++)
                {
                    float* row = row0 + i * a.RowStride;
                    for (int p = kFull; p < kc; p++) panel[p * mr + i] = row[p];
                }
                continue;
            }
            for (int i = 0; i < rows; i++)
                for (int p = 0; p < kc; p++)
                    panel[p * mr + i] = src[(i0 + ir + i) * a.RowStride + (p0 + p) * a.ColStride];
            for (int i = rows; i < mr; i++)
                for (int p = 0; p < kc; p++) panel[p * mr + i] = 0f;
        }
    }

    /// <summary>Reads <paramref name="rows"/> (≤ 8) rows of 8 floats at s + r·stride, writes column c of that block as
    /// 8 floats at d + c·dstride (lanes ≥ rows hold junk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(float* s, long stride, int rows, float* d, long dstride)
    {
        var r0 = Avx.LoadVector256(s);
        var r1 = Avx.LoadVector256(s + stride);
        var r2 = Avx.LoadVector256(s + 2 * stride);
        var r3 = Avx.LoadVector256(s + 3 * stride);
        var r4 = Avx.LoadVector256(s + 4 * stride);
        var r5 = Avx.LoadVector256(s + 5 * stride);
        var r6 = rows > 6 ? Avx.LoadVector256(s + 6 * stride) : r5;
        var r7 = rows > 7 ? Avx.LoadVector256(s + 7 * stride) : r5;
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + dstride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * dstride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * dstride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * dstride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * dstride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * dstride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * dstride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>B rows k [p0, p0+kc) × columns [j0, j0+nc) → NR-wide panels: dst[panel][k][0..NR), zero-padded,
    /// converted to f32.</summary>
    private static void PackB(Operand b, int p0, int kc, int j0, int nc, int nr, float* dst)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* panel = dst + (long)jr * kc;
            int j = j0 + jr;
            if (b.ColStride == 1 && b.DType == DType.F32 && cols == nr)
            {
                // B stored (K, N): rows of the panel are contiguous
                for (int p = 0; p < kc; p++)
                {
                    float* row = (float*)b.Ptr + (p0 + p) * b.RowStride + j;
                    Buffer.MemoryCopy(row, panel + p * nr, nr * sizeof(float), nr * sizeof(float));
                }
            }
            else if (b.RowStride == 1 && cols == nr && Avx2.IsSupported && b.DType is DType.F32 or DType.BF16)
                PackTransposed(b, p0, kc, j, nr, panel);
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    for (int q = 0; q < cols; q++) panel[p * nr + q] = Load(b, p0 + p, j + q);
                    for (int q = cols; q < nr; q++) panel[p * nr + q] = 0f;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Load(Operand b, long r, long col)
    {
        long off = r * b.RowStride + col * b.ColStride;
        return b.DType switch
        {
            DType.F32 => ((float*)b.Ptr)[off],
            DType.BF16 => DTypes.BF16ToFloat(((ushort*)b.Ptr)[off]),
            DType.F16 => DTypes.F16ToFloat(((ushort*)b.Ptr)[off]),
            _ => throw new ArgumentException($"GEMM B operand of dtype {b.DType}"),
        };
    }

    // B stored as W (N, K) (nn.Linear layout: element (k, n) at n·ColStride + k): transpose 8×8 blocks with AVX.
    private static void PackTransposed(Operand b, int p0, int kc, int j, int nr, float* panel)
    {
        int kFull = kc & ~7;
        for (int jb = 0; jb < nr; jb += 8)
        {
            for (int p = 0; p < kFull; p += 8)
            {
                Vector256<float> r0, r1, r2, r3, r4, r5, r6, r7;
                long baseOff = (j + jb) * b.ColStride + p0 + p, cs = b.ColStride;
                if (b.DType == DType.F32)
                {
                    float* s = (float*)b.Ptr + baseOff;
                    r0 = Avx.LoadVector256(s); r1 = Avx.LoadVector256(s + cs); r2 = Avx.LoadVector256(s + 2 * cs); r3 = Avx.LoadVector256(s + 3 * cs);
                    r4 = Avx.LoadVector256(s + 4 * cs); r5 = Avx.LoadVector256(s + 5 * cs); r6 = Avx.LoadVector256(s + 6 * cs); r7 = Avx.LoadVector256(s + 7 * cs);
                }
                else
                {
                    ushort* s = (ushort*)b.Ptr + baseOff;
                    r0 = Bf16x8(s); r1 = Bf16x8(s + cs); r2 = Bf16x8(s + 2 * cs); r3 = Bf16x8(s + 3 * cs);
                    r4 = Bf16x8(s + 4 * cs); r5 = Bf16x8(s + 5 * cs); r6 = Bf16x8(s + 6 * cs); r7 = Bf16x8(s + 7 * cs);
                }
                var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
                var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
                var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
                var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
                float* d = panel + p * nr + jb;
                Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(d + nr, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(d + 2 * nr, Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(d + 3 * nr, Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(d + 4 * nr, Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(d + 5 * nr, Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(d + 6 * nr, Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(d + 7 * nr, Avx.Permute2x128(u3, u7, 0x31));
            }
            for (int p = kFull; p < kc; p++)
                for (int q = 0; q < 8; q++) panel[p * nr + jb + q] = Load(b, p0 + p, j + jb + q);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Bf16x8(ushort* s) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(s), 16).AsSingle();

    // 14x32 register tile: 28 accumulators + 2 B vectors + 1 broadcast.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel14x32(float* ap, float* bp, int kc, float* c, long ldc, bool accumulate)
    {
        var c0_0 = Vector512<float>.Zero; var c0_1 = Vector512<float>.Zero;
        var c1_0 = Vector512<float>.Zero; var c1_1 = Vector512<float>.Zero;
        var c2_0 = Vector512<float>.Zero; var c2_1 = Vector512<float>.Zero;
        var c3_0 = Vector512<float>.Zero; var c3_1 = Vector512<float>.Zero;
        var c4_0 = Vector512<float>.Zero; var c4_1 = Vector512<float>.Zero;
        var c5_0 = Vector512<float>.Zero; var c5_1 = Vector512<float>.Zero;
        var c6_0 = Vector512<float>.Zero; var c6_1 = Vector512<float>.Zero;
        var c7_0 = Vector512<float>.Zero; var c7_1 = Vector512<float>.Zero;
        var c8_0 = Vector512<float>.Zero; var c8_1 = Vector512<float>.Zero;
        var c9_0 = Vector512<float>.Zero; var c9_1 = Vector512<float>.Zero;
        var c10_0 = Vector512<float>.Zero; var c10_1 = Vector512<float>.Zero;
        var c11_0 = Vector512<float>.Zero; var c11_1 = Vector512<float>.Zero;
        var c12_0 = Vector512<float>.Zero; var c12_1 = Vector512<float>.Zero;
        var c13_0 = Vector512<float>.Zero; var c13_1 = Vector512<float>.Zero;
        if (accumulate && !NoPrefetchC)
        {
            // C rows are often 4 KiB apart (one L1 set): fetch the tile while the k loop runs
            for (int r = 0; r < 14; r++)
            {
                Sse.Prefetch0(c + r * ldc);
                Sse.Prefetch0(c + r * ldc + 16);
            }
        }
        for (int k = 0; k < kc; k++)
        {
            if (PrefetchA) Sse.Prefetch0(ap + 14 * 16);
            var b0 = Vector512.Load(bp + 0);
            var b1 = Vector512.Load(bp + 16);
            var a0 = Vector512.Create(ap[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0);
            c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector512.Create(ap[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0);
            c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector512.Create(ap[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0);
            c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector512.Create(ap[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0);
            c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector512.Create(ap[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0);
            c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector512.Create(ap[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0);
            c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            var a6 = Vector512.Create(ap[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0);
            c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1);
            var a7 = Vector512.Create(ap[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0);
            c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1);
            var a8 = Vector512.Create(ap[8]);
            c8_0 = Vector512.FusedMultiplyAdd(a8, b0, c8_0);
            c8_1 = Vector512.FusedMultiplyAdd(a8, b1, c8_1);
            var a9 = Vector512.Create(ap[9]);
            c9_0 = Vector512.FusedMultiplyAdd(a9, b0, c9_0);
            c9_1 = Vector512.FusedMultiplyAdd(a9, b1, c9_1);
            var a10 = Vector512.Create(ap[10]);
            c10_0 = Vector512.FusedMultiplyAdd(a10, b0, c10_0);
            c10_1 = Vector512.FusedMultiplyAdd(a10, b1, c10_1);
            var a11 = Vector512.Create(ap[11]);
            c11_0 = Vector512.FusedMultiplyAdd(a11, b0, c11_0);
            c11_1 = Vector512.FusedMultiplyAdd(a11, b1, c11_1);
            var a12 = Vector512.Create(ap[12]);
            c12_0 = Vector512.FusedMultiplyAdd(a12, b0, c12_0);
            c12_1 = Vector512.FusedMultiplyAdd(a12, b1, c12_1);
            var a13 = Vector512.Create(ap[13]);
            c13_0 = Vector512.FusedMultiplyAdd(a13, b0, c13_0);
            c13_1 = Vector512.FusedMultiplyAdd(a13, b1, c13_1);
            ap += 14;
            bp += 32;
        }
        if (accumulate)
        {
            Vector512.Store(Vector512.Load(c + 0 * ldc + 0) + c0_0, c + 0 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 0 * ldc + 16) + c0_1, c + 0 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 1 * ldc + 0) + c1_0, c + 1 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 1 * ldc + 16) + c1_1, c + 1 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 2 * ldc + 0) + c2_0, c + 2 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 2 * ldc + 16) + c2_1, c + 2 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 3 * ldc + 0) + c3_0, c + 3 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 3 * ldc + 16) + c3_1, c + 3 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 4 * ldc + 0) + c4_0, c + 4 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 4 * ldc + 16) + c4_1, c + 4 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 5 * ldc + 0) + c5_0, c + 5 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 5 * ldc + 16) + c5_1, c + 5 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 6 * ldc + 0) + c6_0, c + 6 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 6 * ldc + 16) + c6_1, c + 6 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 7 * ldc + 0) + c7_0, c + 7 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 7 * ldc + 16) + c7_1, c + 7 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 8 * ldc + 0) + c8_0, c + 8 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 8 * ldc + 16) + c8_1, c + 8 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 9 * ldc + 0) + c9_0, c + 9 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 9 * ldc + 16) + c9_1, c + 9 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 10 * ldc + 0) + c10_0, c + 10 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 10 * ldc + 16) + c10_1, c + 10 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 11 * ldc + 0) + c11_0, c + 11 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 11 * ldc + 16) + c11_1, c + 11 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 12 * ldc + 0) + c12_0, c + 12 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 12 * ldc + 16) + c12_1, c + 12 * ldc + 16);
            Vector512.Store(Vector512.Load(c + 13 * ldc + 0) + c13_0, c + 13 * ldc + 0);
            Vector512.Store(Vector512.Load(c + 13 * ldc + 16) + c13_1, c + 13 * ldc + 16);
        }
        else
        {
            Vector512.Store(c0_0, c + 0 * ldc + 0);
            Vector512.Store(c0_1, c + 0 * ldc + 16);
            Vector512.Store(c1_0, c + 1 * ldc + 0);
            Vector512.Store(c1_1, c + 1 * ldc + 16);
            Vector512.Store(c2_0, c + 2 * ldc + 0);
            Vector512.Store(c2_1, c + 2 * ldc + 16);
            Vector512.Store(c3_0, c + 3 * ldc + 0);
            Vector512.Store(c3_1, c + 3 * ldc + 16);
            Vector512.Store(c4_0, c + 4 * ldc + 0);
            Vector512.Store(c4_1, c + 4 * ldc + 16);
            Vector512.Store(c5_0, c + 5 * ldc + 0);
            Vector512.Store(c5_1, c + 5 * ldc + 16);
            Vector512.Store(c6_0, c + 6 * ldc + 0);
            Vector512.Store(c6_1, c + 6 * ldc + 16);
            Vector512.Store(c7_0, c + 7 * ldc + 0);
            Vector512.Store(c7_1, c + 7 * ldc + 16);
            Vector512.Store(c8_0, c + 8 * ldc + 0);
            Vector512.Store(c8_1, c + 8 * ldc + 16);
            Vector512.Store(c9_0, c + 9 * ldc + 0);
            Vector512.Store(c9_1, c + 9 * ldc + 16);
            Vector512.Store(c10_0, c + 10 * ldc + 0);
            Vector512.Store(c10_1, c + 10 * ldc + 16);
            Vector512.Store(c11_0, c + 11 * ldc + 0);
            Vector512.Store(c11_1, c + 11 * ldc + 16);
            Vector512.Store(c12_0, c + 12 * ldc + 0);
            Vector512.Store(c12_1, c + 12 * ldc + 16);
            Vector512.Store(c13_0, c + 13 * ldc + 0);
            Vector512.Store(c13_1, c + 13 * ldc + 16);
        }
    }

    // 6x16 register tile: 12 accumulators + 2 B vectors + 1 broadcast.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(float* ap, float* bp, int kc, float* c, long ldc, bool accumulate)
    {
        var c0_0 = Vector256<float>.Zero; var c0_1 = Vector256<float>.Zero;
        var c1_0 = Vector256<float>.Zero; var c1_1 = Vector256<float>.Zero;
        var c2_0 = Vector256<float>.Zero; var c2_1 = Vector256<float>.Zero;
        var c3_0 = Vector256<float>.Zero; var c3_1 = Vector256<float>.Zero;
        var c4_0 = Vector256<float>.Zero; var c4_1 = Vector256<float>.Zero;
        var c5_0 = Vector256<float>.Zero; var c5_1 = Vector256<float>.Zero;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(bp + 0);
            var b1 = Vector256.Load(bp + 8);
            var a0 = Vector256.Create(ap[0]);
            c0_0 = Vector256.FusedMultiplyAdd(a0, b0, c0_0);
            c0_1 = Vector256.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector256.Create(ap[1]);
            c1_0 = Vector256.FusedMultiplyAdd(a1, b0, c1_0);
            c1_1 = Vector256.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector256.Create(ap[2]);
            c2_0 = Vector256.FusedMultiplyAdd(a2, b0, c2_0);
            c2_1 = Vector256.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector256.Create(ap[3]);
            c3_0 = Vector256.FusedMultiplyAdd(a3, b0, c3_0);
            c3_1 = Vector256.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector256.Create(ap[4]);
            c4_0 = Vector256.FusedMultiplyAdd(a4, b0, c4_0);
            c4_1 = Vector256.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector256.Create(ap[5]);
            c5_0 = Vector256.FusedMultiplyAdd(a5, b0, c5_0);
            c5_1 = Vector256.FusedMultiplyAdd(a5, b1, c5_1);
            ap += 6;
            bp += 16;
        }
        if (accumulate)
        {
            Vector256.Store(Vector256.Load(c + 0 * ldc + 0) + c0_0, c + 0 * ldc + 0);
            Vector256.Store(Vector256.Load(c + 0 * ldc + 8) + c0_1, c + 0 * ldc + 8);
            Vector256.Store(Vector256.Load(c + 1 * ldc + 0) + c1_0, c + 1 * ldc + 0);
            Vector256.Store(Vector256.Load(c + 1 * ldc + 8) + c1_1, c + 1 * ldc + 8);
            Vector256.Store(Vector256.Load(c + 2 * ldc + 0) + c2_0, c + 2 * ldc + 0);
            Vector256.Store(Vector256.Load(c + 2 * ldc + 8) + c2_1, c + 2 * ldc + 8);
            Vector256.Store(Vector256.Load(c + 3 * ldc + 0) + c3_0, c + 3 * ldc + 0);
            Vector256.Store(Vector256.Load(c + 3 * ldc + 8) + c3_1, c + 3 * ldc + 8);
            Vector256.Store(Vector256.Load(c + 4 * ldc + 0) + c4_0, c + 4 * ldc + 0);
            Vector256.Store(Vector256.Load(c + 4 * ldc + 8) + c4_1, c + 4 * ldc + 8);
            Vector256.Store(Vector256.Load(c + 5 * ldc + 0) + c5_0, c + 5 * ldc + 0);
            Vector256.Store(Vector256.Load(c + 5 * ldc + 8) + c5_1, c + 5 * ldc + 8);
        }
        else
        {
            Vector256.Store(c0_0, c + 0 * ldc + 0);
            Vector256.Store(c0_1, c + 0 * ldc + 8);
            Vector256.Store(c1_0, c + 1 * ldc + 0);
            Vector256.Store(c1_1, c + 1 * ldc + 8);
            Vector256.Store(c2_0, c + 2 * ldc + 0);
            Vector256.Store(c2_1, c + 2 * ldc + 8);
            Vector256.Store(c3_0, c + 3 * ldc + 0);
            Vector256.Store(c3_1, c + 3 * ldc + 8);
            Vector256.Store(c4_0, c + 4 * ldc + 0);
            Vector256.Store(c4_1, c + 4 * ldc + 8);
            Vector256.Store(c5_0, c + 5 * ldc + 0);
            Vector256.Store(c5_1, c + 5 * ldc + 8);
        }
    }
}
