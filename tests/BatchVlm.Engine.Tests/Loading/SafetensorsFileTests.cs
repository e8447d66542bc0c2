// Tests of the memory-mapped safetensors reader and the writer: round trips of every dtype, byte-identical rewrites
// of files written by the reference (transformers/safetensors), and clear errors for malformed files.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Tests.Loading;

public sealed class SafetensorsFileTests
{
    [Fact]
    public void Open_FixtureModel_ReadsHeaderDtypesAndShapes()
    {
        using var f = SafetensorsFile.Open(Path.Combine(LoadingTestData.SiglipTinyDir, "model.safetensors"));
        Assert.Equal("pt", f.Metadata["format"]);
        var emb = f.GetInfo("text_model.embeddings.token_embedding.weight");
        Assert.Equal(SafetensorsDtype.F32, emb.Dtype);
        Assert.Equal([512, 48], emb.Shape);
        Assert.Equal(512 * 48 * 4, f.GetBytes(emb).Length);
        var scale = f.ReadFloat32("logit_scale");
        Assert.Single(scale);
        Assert.InRange(scale[0], 4.6f, 4.8f); // README: logit_scale = 4.7 + 0.01*N(0,1)
    }

    [Fact]
    public void Open_FixtureInputs_ReadsInt64AndFloat()
    {
        using var f = SafetensorsFile.Open(Path.Combine(LoadingTestData.SiglipTinyDir, "inputs.safetensors"));
        var ids = f.ReadInt64("input_ids");
        Assert.Equal(48, ids.Length);
        Assert.Equal(1, ids.Min());
        Assert.Equal(495, ids.Max()); // README: min 1, max 495
        var px = f.ReadFloat32("pixel_values");
        Assert.Equal(2 * 3 * 32 * 32, px.Length);
        Assert.Equal(1f, px.Max());
    }

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("inputs.safetensors")]
    [InlineData("expected.safetensors")]
    public void Save_ReferenceFileRewritten_IsByteIdentical(string name)
    {
        string src = Path.Combine(LoadingTestData.SiglipTinyDir, name);
        using var tmp = new TempDir();
        var writer = new SafetensorsWriter();
        using (var f = SafetensorsFile.Open(src))
        {
            foreach (var t in f.Tensors)
                writer.Add(t.Name, t.Dtype, t.Shape, f.GetBytes(t).ToArray());
        }
        string dst = tmp["rewritten.safetensors"];
        writer.Save(dst);
        Assert.Equal(File.ReadAllBytes(src), File.ReadAllBytes(dst));
    }

    [Fact]
    public void Save_EveryDtype_RoundTripsBytesAndHeaderPaddedTo8()
    {
        using var tmp = new TempDir();
        var rng = new Random(7);
        var expected = new Dictionary<string, (SafetensorsDtype, int[], byte[])>();
        foreach (var dtype in new[] { SafetensorsDtype.F32, SafetensorsDtype.BF16, SafetensorsDtype.F16, SafetensorsDtype.I64,
                     SafetensorsDtype.I32, SafetensorsDtype.U8, SafetensorsDtype.Bool, SafetensorsDtype.F64, SafetensorsDtype.I16, SafetensorsDtype.I8 })
        {
            int[] shape = [3, 5];
            var bytes = new byte[15 * dtype.SizeOf()];
            rng.NextBytes(bytes);
            if (dtype == SafetensorsDtype.Bool) for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
            expected["t_" + dtype] = (dtype, shape, bytes);
        }
        expected["scalar"] = (SafetensorsDtype.F32, [], BitConverter.GetBytes(1.5f));
        expected["empty"] = (SafetensorsDtype.F32, [0, 4], []);
        var writer = new SafetensorsWriter();
        foreach (var (name, (dtype, shape, bytes)) in expected) writer.Add(name, dtype, shape, bytes);
        writer.Save(tmp["all.safetensors"]);

        var raw = File.ReadAllBytes(tmp["all.safetensors"]);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(raw);
        Assert.Equal(0UL, headerLen % 8);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"}", Encoding.UTF8.GetString(raw, 8, (int)headerLen));

        using var f = SafetensorsFile.Open(tmp["all.safetensors"]);
        Assert.Equal(expected.Count, f.Tensors.Count);
        foreach (var (name, (dtype, shape, bytes)) in expected)
        {
            var info = f.GetInfo(name);
            Assert.Equal(dtype, info.Dtype);
            Assert.Equal(shape, info.Shape);
            Assert.Equal(bytes, f.GetBytes(name).ToArray());
        }
        Assert.Equal(0, f.DataStart % 8);
        // Layout: larger dtypes first (alignment), each tensor's offset a multiple of its element size.
        foreach (var t in f.Tensors) Assert.Equal(0, (t.FileOffset - f.DataStart) % t.Dtype.SizeOf());
    }

    [Fact]
    public unsafe void GetBytes_TwoCalls_ViewTheSameMappedMemory()
    {
        using var f = SafetensorsFile.Open(Path.Combine(LoadingTestData.SiglipTinyDir, "model.safetensors"));
        var info = f.GetInfo("vision_model.head.probe");
        byte* p1 = f.GetPointer(info);
        fixed (byte* p2 = f.GetBytes(info))
            Assert.True(p1 == p2, "GetBytes must view the mapping, not copy");
        Assert.Equal(info.ElementCount * 4, f.GetBytes(info).Length);
    }

    [Fact]
    public void BFloat16_Conversion_RoundsToNearestEven()
    {
        Assert.Equal(1f, DtypeConversion.BFloat16ToSingle(DtypeConversion.SingleToBFloat16(1f)));
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties go to even (1.0).
        Assert.Equal(1f, DtypeConversion.BFloat16ToSingle(DtypeConversion.SingleToBFloat16(1f + 1f / 256)));
        Assert.Equal(1.015625f, DtypeConversion.BFloat16ToSingle(DtypeConversion.SingleToBFloat16(1.0117188f)));
        Assert.True(float.IsNaN(DtypeConversion.BFloat16ToSingle(DtypeConversion.SingleToBFloat16(float.NaN))));
        using var tmp = new TempDir();
        new SafetensorsWriter().AddBFloat16("w", [0.5f, -3.25f, 1e-3f], [3]).Save(tmp["b.safetensors"]);
        using var f = SafetensorsFile.Open(tmp["b.safetensors"]);
        var back = f.ReadFloat32("w");
        Assert.Equal(0.5f, back[0]);
        Assert.Equal(-3.25f, back[1]);
        Assert.Equal(1e-3f, back[2], 1e-5f);
    }

    private static string WriteRaw(TempDir tmp, string header, int dataBytes, string name = "bad.safetensors")
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(tmp[name], bytes);
        return tmp[name];
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "truncated")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "trailing")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole")]
    [InlineData("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "Unsupported dtype \"Q4\"")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape dimension 0")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets")]
    [InlineData("{\"a\":", 8, "not valid JSON")]
    [InlineData("[1,2]     ", 8, "does not start with")]
    public void Open_MalformedHeader_ThrowsNamingFileAndReason(string header, int dataBytes, string reason)
    {
        using var tmp = new TempDir();
        string path = WriteRaw(tmp, header, dataBytes);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Open_HeaderLengthPastEnd_ThrowsTruncated()
    {
        using var tmp = new TempDir();
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        File.WriteAllBytes(tmp["t.safetensors"], bytes);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(tmp["t.safetensors"]));
        Assert.Contains("runs past the end", e.Message);
    }

    [Fact]
    public void Open_TooShortOrMissing_Throws()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp["short.safetensors"], [1, 2, 3]);
        Assert.Contains("too short", Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(tmp["short.safetensors"])).Message);
        Assert.Contains("not found", Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(tmp["none.safetensors"])).Message);
    }

    [Fact]
    public void AddGenerated_LargerThanChunk_WritesEveryChunkInOrder()
    {
        using var tmp = new TempDir();
        const int n = 3_000_001; // > the 4 MiB write buffer in bytes (x2), odd length
        new SafetensorsWriter()
            .AddGenerated("big", SafetensorsDtype.BF16, [n], (offset, chunk) =>
            {
                for (int i = 0; i < chunk.Length; i++) chunk[i] = (byte)((offset + i) % 251);
            })
            .Save(tmp["g.safetensors"]);
        using var f = SafetensorsFile.Open(tmp["g.safetensors"]);
        var bytes = f.GetBytes("big");
        Assert.Equal(2L * n, bytes.Length);
        for (int i = 0; i < bytes.Length; i += 9973) Assert.Equal((byte)(i % 251), bytes[i]);
        Assert.Equal((byte)((bytes.Length - 1) % 251), bytes[^1]);
        Assert.Equal(n, MemoryMarshal.Cast<byte, ushort>(bytes).Length);
    }
}
