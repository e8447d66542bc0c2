// The minimal safetensors writer used by `batchvlm preprocess`: header layout (u64 length, JSON padded to 8 bytes)
// and raw little-endian float32 data, read back with the test reader.
using BatchVlm.Imaging.Processing;

namespace BatchVlm.Imaging.Tests;

public sealed class PixelValuesFileTests
{
    [Fact]
    public void Write_Batch_ReadsBackWithShapeAndExactValues()
    {
        var data = Enumerable.Range(0, 2 * 3 * 5 * 7).Select(i => i * 0.25f - 3f).ToArray();
        var path = Path.Combine(Path.GetTempPath(), $"pv-{Guid.NewGuid():N}.safetensors");
        try
        {
            PixelValuesFile.Write(path, data, [2, 3, 5, 7], metadata: new Dictionary<string, string> { ["k"] = "v\"q" });
            var bytes = File.ReadAllBytes(path);
            long headerLength = BitConverter.ToInt64(bytes, 0);
            Assert.Equal(0, headerLength % 8);
            Assert.Equal(8 + headerLength + data.Length * 4, bytes.Length);
            var header = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
            Assert.Contains("\"__metadata__\":{\"k\":\"v\\u0022q\"}", header);
            var tensor = Fixtures.ReadSafetensors(bytes)["pixel_values"];
            Assert.Equal("F32", tensor.DType);
            Assert.Equal([2, 3, 5, 7], tensor.Shape);
            Assert.Equal(data, tensor.AsFloats());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Write_ShapeDoesNotMatchData_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => PixelValuesFile.Write(new MemoryStream(), new float[10], [1, 3, 2, 2]));
        Assert.Contains("holds 12 values", e.Message);
    }

    [Fact]
    public void Write_BadShapeToPath_ThrowsWithoutCreatingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pv-{Guid.NewGuid():N}.safetensors");
        Assert.Throws<ArgumentException>(() => PixelValuesFile.Write(path, new float[10], [1, 3, 2, 2]));
        var e = Assert.Throws<ArgumentException>(() => PixelValuesFile.Write(path, new float[4], [-2, -2]));
        Assert.Contains("negative dimension", e.Message);
        Assert.False(File.Exists(path));
    }
}
