// Reader for SentencePiece `.model` files (protobuf `sentencepiece.ModelProto`, proto2), with a minimal protobuf
// wire-format decoder. Field numbers follow sentencepiece_model.proto (sentencepiece 0.1.97): only the fields that
// change encoding are kept; unknown fields are skipped. Errors name the field path and the byte offset.
using System.Text;

namespace BatchVlm.Tokenizers.SentencePiece;

/// <summary>SentencePiece piece types (ModelProto.SentencePiece.Type).</summary>
public enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>TrainerSpec.ModelType.</summary>
public enum SentencePieceModelType { Unigram = 1, Bpe = 2, Word = 3, Char = 4 }

internal sealed record SentencePiecePiece(string Piece, float Score, PieceType Type);

internal sealed class SentencePieceModelProto
{
    public List<SentencePiecePiece> Pieces { get; } = new();
    public SentencePieceModelType ModelType { get; set; } = SentencePieceModelType.Unigram;
    public bool ByteFallback { get; set; }
    public bool TreatWhitespaceAsSuffix { get; set; }
    public int UnkId { get; set; }
    public int BosId { get; set; } = 1;
    public int EosId { get; set; } = 2;
    public int PadId { get; set; } = -1;
    public string UnkSurface { get; set; } = " \u2047 ";
    // NormalizerSpec
    public string NormalizerName { get; set; } = "";
    public byte[] PrecompiledCharsMap { get; set; } = Array.Empty<byte>();
    public bool AddDummyPrefix { get; set; } = true;
    public bool RemoveExtraWhitespaces { get; set; } = true;
    public bool EscapeWhitespaces { get; set; } = true;
    public bool HasNormalizerSpec { get; set; }

    public static SentencePieceModelProto Parse(byte[] data, string source)
    {
        var m = new SentencePieceModelProto();
        var r = new ProtoReader(data, 0, data.Length, source, "ModelProto");
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: m.Pieces.Add(ParsePiece(r.SubMessage(wire, $"pieces[{m.Pieces.Count}]"))); break;
                case 2: ParseTrainerSpec(r.SubMessage(wire, "trainer_spec"), m); break;
                case 3: m.HasNormalizerSpec = true; ParseNormalizerSpec(r.SubMessage(wire, "normalizer_spec"), m); break;
                default: r.Skip(wire); break;
            }
        }
        if (m.Pieces.Count == 0)
            throw new TokenizerFormatException(source, "ModelProto.pieces", "the model has no pieces (is this a SentencePiece .model file?)");
        if (m.UnkId < 0 || m.UnkId >= m.Pieces.Count || m.Pieces[m.UnkId].Type != PieceType.Unknown)
            throw new TokenizerFormatException(source, "ModelProto.trainer_spec.unk_id", $"unk_id {m.UnkId} does not name an UNKNOWN piece");
        return m;
    }

    private static SentencePiecePiece ParsePiece(ProtoReader r)
    {
        string piece = ""; float score = 0; var type = PieceType.Normal;
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: piece = r.String(wire, "piece"); break;
                case 2: score = r.Float(wire, "score"); break;
                case 3:
                    long t = r.Varint(wire, "type");
                    if (t < 1 || t > 6) throw r.Error("type", $"unknown piece type {t}");
                    type = (PieceType)t; break;
                default: r.Skip(wire); break;
            }
        }
        return new SentencePiecePiece(piece, score, type);
    }

    private static void ParseTrainerSpec(ProtoReader r, SentencePieceModelProto m)
    {
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 3:
                    long t = r.Varint(wire, "model_type");
                    if (t < 1 || t > 4) throw r.Error("model_type", $"unknown model type {t}");
                    m.ModelType = (SentencePieceModelType)t; break;
                case 24: m.TreatWhitespaceAsSuffix = r.Varint(wire, "treat_whitespace_as_suffix") != 0; break;
                case 35: m.ByteFallback = r.Varint(wire, "byte_fallback") != 0; break;
                case 40: m.UnkId = (int)r.Varint(wire, "unk_id"); break;
                case 41: m.BosId = (int)r.Varint(wire, "bos_id"); break;
                case 42: m.EosId = (int)r.Varint(wire, "eos_id"); break;
                case 43: m.PadId = (int)r.Varint(wire, "pad_id"); break;
                case 44: m.UnkSurface = r.String(wire, "unk_surface"); break;
                default: r.Skip(wire); break;
            }
        }
    }

    private static void ParseNormalizerSpec(ProtoReader r, SentencePieceModelProto m)
    {
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: m.NormalizerName = r.String(wire, "name"); break;
                case 2: m.PrecompiledCharsMap = r.Bytes(wire, "precompiled_charsmap"); break;
                case 3: m.AddDummyPrefix = r.Varint(wire, "add_dummy_prefix") != 0; break;
                case 4: m.RemoveExtraWhitespaces = r.Varint(wire, "remove_extra_whitespaces") != 0; break;
                case 5: m.EscapeWhitespaces = r.Varint(wire, "escape_whitespaces") != 0; break;
                default: r.Skip(wire); break;
            }
        }
    }
}

/// <summary>Protobuf wire-format reader over a byte range (varint, 64-bit, length-delimited, 32-bit).</summary>
internal sealed class ProtoReader
{
    private readonly byte[] _data;
    private int _pos;
    private readonly int _end;
    private readonly string _source;
    private readonly string _path;

    public ProtoReader(byte[] data, int start, int end, string source, string path)
    {
        _data = data; _pos = start; _end = end; _source = source; _path = path;
    }

    public TokenizerFormatException Error(string field, string message) =>
        new(_source, $"{_path}.{field}", $"{message} (at byte {_pos})");

    public bool Next(out int field, out int wire)
    {
        field = 0; wire = 0;
        if (_pos >= _end) return false;
        ulong tag = ReadVarint("tag");
        field = (int)(tag >> 3);
        wire = (int)(tag & 7);
        if (field == 0) throw Error("tag", "field number 0 is invalid (truncated or not a protobuf file)");
        return true;
    }

    private ulong ReadVarint(string field)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_pos >= _end) throw Error(field, "truncated varint");
            byte b = _data[_pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Error(field, "varint longer than 10 bytes");
    }

    public long Varint(int wire, string field)
    {
        if (wire != 0) throw Error(field, $"expected varint, got wire type {wire}");
        return (long)ReadVarint(field);
    }

    public float Float(int wire, string field)
    {
        if (wire != 5) throw Error(field, $"expected 32-bit float, got wire type {wire}");
        if (_pos + 4 > _end) throw Error(field, "truncated float");
        float f = BitConverter.ToSingle(_data, _pos);
        _pos += 4;
        return f;
    }

    private (int start, int length) Delimited(int wire, string field)
    {
        if (wire != 2) throw Error(field, $"expected length-delimited field, got wire type {wire}");
        ulong len = ReadVarint(field);
        if (len > (ulong)(_end - _pos)) throw Error(field, $"length {len} runs past the end of the message");
        int start = _pos;
        _pos += (int)len;
        return (start, (int)len);
    }

    public string String(int wire, string field)
    {
        var (s, n) = Delimited(wire, field);
        try { return new UTF8Encoding(false, true).GetString(_data, s, n); }
        catch (DecoderFallbackException) { throw Error(field, "invalid UTF-8"); }
    }

    public byte[] Bytes(int wire, string field)
    {
        var (s, n) = Delimited(wire, field);
        return _data.AsSpan(s, n).ToArray();
    }

    public ProtoReader SubMessage(int wire, string field)
    {
        var (s, n) = Delimited(wire, field);
        return new ProtoReader(_data, s, s + n, _source, $"{_path}.{field}");
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: ReadVarint("(skipped)"); break;
            case 1: if (_pos + 8 > _end) throw Error("(skipped)", "truncated"); _pos += 8; break;
            case 2: Delimited(2, "(skipped)"); break;
            case 5: if (_pos + 4 > _end) throw Error("(skipped)", "truncated"); _pos += 4; break;
            default: throw Error("(skipped)", $"unsupported wire type {wire}");
        }
    }
}
