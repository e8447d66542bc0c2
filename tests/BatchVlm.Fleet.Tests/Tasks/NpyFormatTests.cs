// NpyFormat: the NPY v1.0 header numpy writes (magic, version, 64-byte aligned data, 1-tuple shapes) and round trips.
using System.Text;
using BatchVlm.Worker.Tasks;

namespace BatchVlm.Fleet.Tests.Tasks;

public sealed class NpyFormatTests
{
    [Theory]
    [InlineData(new[] { 3, 4 }, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")]
    [InlineData(new[] { 5 }, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }")]
    [InlineData(new[] { 2, 8, 24 }, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 8, 24), }")]
    public void Header_Shape_AsNumpyWritesIt(int[] shape, string dict)
    {
        var header = NpyFormat.Header(shape, NpyDType.Float32);
        Assert.Equal(0, header.Length % 64);
        Assert.Equal([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0], header[..8]);
        Assert.Equal(header.Length - 10, BitConverter.ToUInt16(header, 8));
        var text = Encoding.ASCII.GetString(header, 10, header.Length - 10);
        Assert.StartsWith(dict, text);
        Assert.EndsWith("\n", text);
        Assert.Equal("", text[dict.Length..^1].Trim(' '));
    }

    [Theory]
    [InlineData(NpyDType.Float32, "<f4", 0.0)]
    [InlineData(NpyDType.Float16, "<f2", 1e-3)]
    public void Write_ThenRead_SameValues(NpyDType dtype, string descr, double tolerance)
    {
        var values = Enumerable.Range(0, 21).Select(i => MathF.Sin(i) * 3).ToArray();
        var (d, shape, back) = NpyFormat.Read(NpyFormat.Write(values, [7, 3], dtype));
        Assert.Equal(descr, d);
        Assert.Equal([7, 3], shape);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(values[i], back[i], tolerance * Math.Max(1, Math.Abs(values[i])));
    }

    [Fact]
    public void Write_WrongCount_Throws() =>
        Assert.Throws<ArgumentException>(() => NpyFormat.Write(new float[5], [2, 3], NpyDType.Float32));
}
