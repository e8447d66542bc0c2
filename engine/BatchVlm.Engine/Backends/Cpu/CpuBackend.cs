// The fast CPU backend: SIMD (Vector512 where the CPU has AVX-512, else Vector256/AVX2+FMA) and multi-threaded
// kernels over the same CpuStorage as the scalar ReferenceBackend, which every kernel here is tested against.
// Ops without a fast kernel fall back to the scalar twin in CpuBackendBase.
namespace BatchVlm.Engine.Backends.Cpu;

/// <summary>Options of <see cref="CpuBackend"/>.</summary>
public sealed record CpuBackendOptions
{
    /// <summary>Worker threads for the parallel kernels. Default: BATCHVLM_CPU_THREADS, else every core.</summary>
    public int Threads { get; init; } =
        int.TryParse(Environment.GetEnvironmentVariable("BATCHVLM_CPU_THREADS"), out var t) && t > 0 ? t : Environment.ProcessorCount;

    /// <summary>Accumulate wall time per op into <see cref="CpuBackend.Profile"/>. Default false.</summary>
    public bool Profile { get; init; }
}

public sealed unsafe partial class CpuBackend : CpuBackendBase
{
    private static readonly Lazy<CpuBackend> LazyDefault = new(() => new CpuBackend(new CpuBackendOptions()));

    public CpuBackend(CpuBackendOptions options)
    {
        Options = options;
        Threads = Math.Max(1, options.Threads);
        Profile = options.Profile ? new OpProfile() : null;
    }

    /// <summary>Per-op time when <see cref="CpuBackendOptions.Profile"/> is set, else null.</summary>
    public OpProfile? Profile { get; }

    private OpProfile.Scope Prof(string op) => new(Profile, op);

    /// <summary>The process-wide CPU backend with default options.</summary>
    public static CpuBackend Default => LazyDefault.Value;

    public CpuBackendOptions Options { get; }
    public int Threads { get; }
    public override string Name => "cpu";
}
