// Contracts: plain records in namespace BatchVlm.Contracts (MassTransit routes by namespace + type name, so it never
// moves), round-trip through System.Text.Json (MassTransit's serializer), carry no bytes; queue naming.
using System.Text.Json;
using BatchVlm.Contracts;

namespace BatchVlm.Fleet.Tests.Contracts;

public sealed class ContractsTests
{
    [Fact]
    public void Messages_AllInContractsNamespace_NoByteArrays()
    {
        var types = typeof(ProcessShard).Assembly.GetTypes().Where(t => t.IsPublic && t.IsClass && t.IsSealed && !t.IsAbstract).ToList();
        Assert.Contains(typeof(ShardCompleted), types);
        foreach (var t in types)
        {
            Assert.Equal("BatchVlm.Contracts", t.Namespace);
            Assert.DoesNotContain(t.GetProperties(), p => p.PropertyType == typeof(byte[]) || p.PropertyType == typeof(ReadOnlyMemory<byte>));
        }
    }

    [Fact]
    public void ProcessShard_JsonRoundTrip_Equal()
    {
        var m = new ProcessShard(Guid.NewGuid(), 7, 2, "inspect", "none", "{\"max_pixels\":100}", "az://images/cats", ["a/1.jpg", "a/2.jpg"]);
        var back = JsonSerializer.Deserialize<ProcessShard>(JsonSerializer.Serialize(m))!;
        Assert.Equal((m.JobId, m.ShardIndex, m.Attempt, m.Task, m.Model, m.ParametersJson, m.InputAddress), (back.JobId, back.ShardIndex, back.Attempt, back.Task, back.Model, back.ParametersJson, back.InputAddress));
        Assert.Equal(m.ItemKeys, back.ItemKeys);
    }

    [Theory]
    [InlineData("inspect", "none", "batchvlm.process-shard.inspect.none")]
    [InlineData("embed", "google/siglip-base-patch16-224", "batchvlm.process-shard.embed.google-siglip-base-patch16-224")]
    [InlineData("caption", "google/paligemma-3b-mix-224", "batchvlm.process-shard.caption.google-paligemma-3b-mix-224")]
    [InlineData("score", "", "batchvlm.process-shard.score.none")]
    public void ProcessShardQueue_TaskAndModel_Slugged(string task, string model, string expected) =>
        Assert.Equal(expected, QueueNames.ProcessShard(task, model));
}
