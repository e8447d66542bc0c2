// Optional per-op wall-time accounting for CpuBackend (CpuBackendOptions.Profile): where a forward spends its time,
// printed by the benchmarks with --profile. Off by default; when off, a scope costs one branch.
using System.Collections.Concurrent;
using System.Diagnostics;

namespace BatchVlm.Engine.Backends.Cpu;

public sealed class OpProfile
{
    private readonly ConcurrentDictionary<string, long[]> _ops = new();

    /// <summary>(op, calls, total seconds), most expensive first.</summary>
    public IReadOnlyList<(string Op, long Calls, double Seconds)> Snapshot() =>
        _ops.Select(kv => (kv.Key, kv.Value[0], kv.Value[1] / (double)Stopwatch.Frequency))
            .OrderByDescending(x => x.Item3).ToList();

    public void Reset() => _ops.Clear();

    internal void Add(string op, long ticks)
    {
        var slot = _ops.GetOrAdd(op, _ => new long[2]);
        Interlocked.Increment(ref slot[0]);
        Interlocked.Add(ref slot[1], ticks);
    }

    internal readonly struct Scope(OpProfile? profile, string op) : IDisposable
    {
        private readonly long _start = profile is null ? 0 : Stopwatch.GetTimestamp();

        public void Dispose() => profile?.Add(op, Stopwatch.GetTimestamp() - _start);
    }
}
