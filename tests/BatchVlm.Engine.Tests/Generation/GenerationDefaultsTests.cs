// generation_config.json handling: the file's ids win over config.json's, a list of eos ids is kept, and a missing
// pad id falls back to the first eos id (as HF's generate() pads finished rows).
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Tests.Models;

namespace BatchVlm.Engine.Tests.Generation;

public sealed class GenerationDefaultsTests
{
    [Fact]
    public void Load_FixtureFile_ReadsEosAndPad()
    {
        var d = GenerationDefaults.Load(GemmaFixture.Dir("gemma-tiny"), [7], 9);
        Assert.Equal([1], d.EosTokenIds);
        Assert.Equal(0, d.PadTokenId);
    }

    [Fact]
    public void Load_EosListWithoutPad_PadsWithFirstEos()
    {
        var dir = Directory.CreateTempSubdirectory("batchvlm-gen").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, GenerationDefaults.FileName), """{"eos_token_id": [1, 107], "pad_token_id": null}""");
            var d = GenerationDefaults.Load(dir, [5], 0);
            Assert.Equal([1, 107], d.EosTokenIds);
            Assert.Equal(1, d.PadTokenId);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Load_NoFile_UsesConfigIds_BadFile_Throws()
    {
        var dir = Directory.CreateTempSubdirectory("batchvlm-gen").FullName;
        try
        {
            var d = GenerationDefaults.Load(dir, [3], 4);
            Assert.Equal([3], d.EosTokenIds);
            Assert.Equal(4, d.PadTokenId);
            File.WriteAllText(Path.Combine(dir, GenerationDefaults.FileName), """{"eos_token_id": "x"}""");
            Assert.Throws<ModelLoadException>(() => GenerationDefaults.Load(dir, [3], 4));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
