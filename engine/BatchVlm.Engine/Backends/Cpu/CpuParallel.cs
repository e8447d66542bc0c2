// Static partitioning of a parallel loop over a fixed number of workers (no work stealing, no per-item tasks):
// chunk t of `count` runs on one thread; the caller runs chunk 0. Kernels split their own index ranges.
namespace BatchVlm.Engine.Backends.Cpu;

internal static class CpuParallel
{
    public static void For(int count, int threads, Action<int> body)
    {
        if (count <= 0) return;
        if (threads <= 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }

    /// <summary>Splits [0, n) into at most <paramref name="threads"/> contiguous ranges and runs body(start, end) on each.</summary>
    public static void Range(long n, int threads, Action<long, long> body, long minPerThread = 1)
    {
        if (n <= 0) return;
        int t = (int)Math.Clamp(n / Math.Max(1, minPerThread), 1, Math.Max(1, threads));
        if (t == 1)
        {
            body(0, n);
            return;
        }
        long per = (n + t - 1) / t;
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, i =>
        {
            long s = i * per, e = Math.Min(n, s + per);
            if (e > s) body(s, e);
        });
    }
}
