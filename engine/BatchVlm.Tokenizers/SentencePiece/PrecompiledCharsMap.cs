// SentencePiece's precompiled normalization rules ("precompiled_charsmap": nmt_nfkc and friends), as stored in a
// .model's NormalizerSpec and, base64-encoded, in tokenizer.json's `Precompiled` normalizer.
// Blob layout (sentencepiece normalizer.cc, 0.1.97): <uint32 LE trie size><darts-clone double array><normalized
// strings, each NUL-terminated>. Lookup is darts-clone's commonPrefixSearch; the longest match wins. The value is an
// offset into the strings area. A key byte 0 can never match (darts keys are NUL-terminated), which is why NUL passes
// through unchanged in sentencepiece.
using System.Runtime.CompilerServices;

namespace BatchVlm.Tokenizers.SentencePiece;

internal sealed class PrecompiledCharsMap
{
    private readonly uint[] _units;
    private readonly byte[] _normalized;

    public PrecompiledCharsMap(byte[] blob, string source, string field)
    {
        if (blob.Length < 4) throw new TokenizerFormatException(source, field, "precompiled charsmap shorter than its 4-byte header");
        uint trieSize = BitConverter.ToUInt32(blob, 0);
        if (trieSize % 4 != 0 || trieSize > blob.Length - 4)
            throw new TokenizerFormatException(source, field, $"trie size {trieSize} does not fit in a blob of {blob.Length} bytes");
        _units = new uint[trieSize / 4];
        Buffer.BlockCopy(blob, 4, _units, 0, (int)trieSize);
        _normalized = blob.AsSpan(4 + (int)trieSize).ToArray();
        if (_units.Length == 0) throw new TokenizerFormatException(source, field, "empty double-array trie");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool HasLeaf(uint u) => ((u >> 8) & 1) == 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static uint Value(uint u) => u & ((1U << 31) - 1);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static uint Label(uint u) => u & ((1U << 31) | 0xFF);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static uint Offset(uint u) => (u >> 10) << (int)((u & (1U << 9)) >> 6);

    /// <summary>Whether any rule's key starts with byte <paramref name="b"/> (a rule for b itself or a longer one).</summary>
    public bool HasRuleStartingWith(byte b)
    {
        uint nodePos = Offset(_units[0]) ^ b;
        if (nodePos >= _units.Length) return false;
        uint unit = _units[nodePos];
        if (Label(unit) != b) return false;
        if (HasLeaf(unit)) return true;
        uint children = nodePos ^ Offset(unit);
        for (int c = 1; c < 256; c++)
        {
            uint p = children ^ (uint)c;
            if (p < _units.Length && Label(_units[p]) == c) return true;
        }
        return false;
    }

    /// <summary>
    /// Longest rule that is a prefix of <paramref name="input"/>: returns its length in input bytes (0 = no rule) and
    /// the replacement bytes (may be empty: the rule deletes).
    /// </summary>
    public int LongestMatch(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        replacement = default;
        int longest = 0; uint longestValue = 0;
        uint nodePos = 0;
        uint unit = _units[0];
        nodePos ^= Offset(unit);
        for (int i = 0; i < input.Length; i++)
        {
            byte c = input[i];
            nodePos ^= c;
            if (nodePos >= _units.Length) break;
            unit = _units[nodePos];
            if (Label(unit) != c) break;
            nodePos ^= Offset(unit);
            if (HasLeaf(unit))
            {
                if (nodePos >= _units.Length) break;
                longest = i + 1;
                longestValue = Value(_units[nodePos]);
            }
        }
        if (longest == 0) return 0;
        if (longestValue >= _normalized.Length) { replacement = default; return longest; }
        var rest = _normalized.AsSpan((int)longestValue);
        int nul = rest.IndexOf((byte)0);
        replacement = nul < 0 ? rest : rest[..nul];
        return longest;
    }
}
