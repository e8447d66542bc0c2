// One loaded model per (kind, model id) per worker process: checkpoints are gigabytes, so every shard session of a
// task shares the instance its first session loaded. A load that throws is not cached (a transient hub failure must
// not stick); concurrent first sessions wait for one load (Lazy, ExecutionAndPublication).
using System.Collections.Concurrent;

namespace BatchVlm.Worker.Models;

public static class ModelCache
{
    private static readonly ConcurrentDictionary<(string Kind, string ModelId), Lazy<object>> Loaded = new();

    /// <summary>The cached <typeparamref name="T"/> for (<paramref name="kind"/>, <paramref name="modelId"/>), loading
    /// it with <paramref name="load"/> the first time.</summary>
    public static T Get<T>(string kind, string modelId, Func<string, T> load) where T : class
    {
        var key = (kind, modelId);
        var lazy = Loaded.GetOrAdd(key, k => new Lazy<object>(() => load(k.ModelId), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return (T)lazy.Value;
        }
        catch
        {
            Loaded.TryRemove(new KeyValuePair<(string, string), Lazy<object>>(key, lazy));
            throw;
        }
    }

    /// <summary>How many models are loaded (for tests and logs).</summary>
    public static int Count => Loaded.Count(p => p.Value.IsValueCreated);
}
