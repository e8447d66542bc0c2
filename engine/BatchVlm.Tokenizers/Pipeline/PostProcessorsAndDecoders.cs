// tokenizer.json post-processors (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence) and
// decoders (ByteLevel, Metaspace, WordPiece, ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence), following
// Hugging Face tokenizers 0.20 src/processors/*.rs and src/decoders/*.rs. Post-processors here only add special ids:
// BatchVlm tracks no offsets, so ByteLevel's trim_offsets has nothing to act on.
using System.Text;
using System.Text.RegularExpressions;

namespace BatchVlm.Tokenizers.Pipeline;

internal interface IPostProcessor
{
    /// <summary>Returns the ids with the special tokens of a single sequence added.</summary>
    List<int> Process(List<int> ids);
    /// <summary>Returns the ids of a pair (text, text_pair) with special tokens, and their token type ids.</summary>
    (List<int> Ids, List<int> TypeIds) ProcessPair(List<int> a, List<int> b);
    /// <summary>How many ids <see cref="Process"/> adds (truncation leaves room for them).</summary>
    int AddedCount { get; }
}

/// <summary>One item of a pair template: special ids, or sequence A (0) / B (1); with its token type id.</summary>
internal readonly record struct TemplateItem(int[] Ids, int Sequence, int TypeId)
{
    public static TemplateItem Special(int[] ids, int typeId = 0) => new(ids, -1, typeId);
    public static TemplateItem Seq(int sequence, int typeId) => new([], sequence, typeId);
}

/// <summary>A template like `[CLS]:0 $A:0 [SEP]:0`: ids before and after the sequence, plus the pair template.</summary>
internal sealed class TemplatePostProcessor : IPostProcessor
{
    private readonly TemplateItem[] _pair;

    public TemplatePostProcessor(int[] before, int[] after, IReadOnlyList<TemplateItem>? pair = null)
    {
        Before = before; After = after;
        // Default pair layout (transformers' base class for most slow tokenizers): single(A) type 0 + single(B) type 1.
        _pair = pair?.ToArray() ??
        [
            TemplateItem.Special(before, 0), TemplateItem.Seq(0, 0), TemplateItem.Special(after, 0),
            TemplateItem.Special(before, 1), TemplateItem.Seq(1, 1), TemplateItem.Special(after, 1),
        ];
    }

    public int[] Before { get; }
    public int[] After { get; }
    public int AddedCount => Before.Length + After.Length;

    public List<int> Process(List<int> ids)
    {
        var r = new List<int>(ids.Count + AddedCount);
        r.AddRange(Before); r.AddRange(ids); r.AddRange(After);
        return r;
    }

    public (List<int> Ids, List<int> TypeIds) ProcessPair(List<int> a, List<int> b)
    {
        var ids = new List<int>(a.Count + b.Count + 8);
        var types = new List<int>(ids.Capacity);
        foreach (var item in _pair)
        {
            var src = item.Sequence switch { 0 => a, 1 => b, _ => null };
            if (src != null) ids.AddRange(src); else ids.AddRange(item.Ids);
            int n = src?.Count ?? item.Ids.Length;
            for (int k = 0; k < n; k++) types.Add(item.TypeId);
        }
        return (ids, types);
    }
}

/// <summary>T5Tokenizer's _add_eos_if_not_present: &lt;/s&gt; appended unless the ids already end with it; pairs are
/// A&lt;/s&gt; B&lt;/s&gt; with token type ids all 0 (T5's create_token_type_ids_from_sequences).</summary>
internal sealed class EosIfNotPresentPostProcessor(int eos) : IPostProcessor
{
    public int AddedCount => 1;

    public List<int> Process(List<int> ids)
    {
        var r = new List<int>(ids);
        if (r.Count == 0 || r[^1] != eos) r.Add(eos);
        return r;
    }

    public (List<int> Ids, List<int> TypeIds) ProcessPair(List<int> a, List<int> b)
    {
        var ids = Process(a);
        ids.AddRange(Process(b));
        return (ids, Enumerable.Repeat(0, ids.Count).ToList());
    }
}

internal sealed class SequencePostProcessor(IReadOnlyList<IPostProcessor> items) : IPostProcessor
{
    public int AddedCount => items.Sum(p => p.AddedCount);

    public List<int> Process(List<int> ids)
    {
        foreach (var p in items) ids = p.Process(ids);
        return ids;
    }

    public (List<int> Ids, List<int> TypeIds) ProcessPair(List<int> a, List<int> b) => items.Count switch
    {
        0 => (a.Concat(b).ToList(), Enumerable.Repeat(0, a.Count).Concat(Enumerable.Repeat(1, b.Count)).ToList()),
        1 => items[0].ProcessPair(a, b),
        _ => throw new InvalidOperationException($"pair encoding through a Sequence of {items.Count} post-processors is not supported"),
    };
}

internal interface IDecoder
{
    /// <summary>tokenizers' decode_chain: tokens in, tokens out; the final text is their concatenation.</summary>
    List<string> DecodeChain(List<string> tokens);
}

internal sealed class SequenceDecoder(IReadOnlyList<IDecoder> items) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        foreach (var d in items) tokens = d.DecodeChain(tokens);
        return tokens;
    }
}

internal sealed class ByteLevelDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens)
            foreach (char c in t)
            {
                if (ByteLevelAlphabet.CharToByte.TryGetValue(c, out byte b)) bytes.Add(b);
                else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        // from_utf8_lossy / Python errors="replace": each maximal invalid subpart becomes U+FFFD (as .NET does).
        return [Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }
}

internal sealed class MetaspaceDecoder(char replacement, PrependScheme scheme) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i].Replace(replacement, ' ');
            if (i == 0 && scheme != PrependScheme.Never && t.StartsWith(' ')) t = t[1..];
            r.Add(t);
        }
        return r;
    }
}

internal sealed class WordPieceDecoder(string prefix, bool cleanup) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i];
            if (i != 0) t = t.StartsWith(prefix, StringComparison.Ordinal) ? t[prefix.Length..] : " " + t;
            if (cleanup) t = Cleanup.CleanUpTokenization(t);
            r.Add(t);
        }
        return r;
    }
}

/// <summary>Runs of `&lt;0xXX&gt;` tokens become their UTF-8 text; an invalid run becomes one U+FFFD per byte (Rust).</summary>
internal sealed class ByteFallbackDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            try { r.Add(new UTF8Encoding(false, true).GetString(bytes.ToArray())); }
            catch (DecoderFallbackException) { for (int k = 0; k < bytes.Count; k++) r.Add("\uFFFD"); }
            bytes.Clear();
        }
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
                byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
            {
                bytes.Add(b);
                continue;
            }
            Flush();
            r.Add(t);
        }
        Flush();
        return r;
    }
}

internal sealed class FuseDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

internal sealed class StripDecoder(char content, int start, int stop) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        foreach (var t in tokens)
        {
            int s = 0, e = t.Length;
            for (int k = 0; k < start && s < e && t[s] == content; k++) s++;
            for (int k = 0; k < stop && e > s && t[e - 1] == content; k++) e--;
            r.Add(t[s..e]);
        }
        return r;
    }
}

internal sealed class ReplaceDecoder(string? literal, Regex? regex, string content) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) =>
        tokens.Select(t => regex != null ? regex.Replace(t, content.Replace("$", "$$")) : t.Replace(literal!, content, StringComparison.Ordinal)).ToList();
}

/// <summary>CLIP's BPEDecoder: the end-of-word suffix becomes a space (nothing on the last token).</summary>
internal sealed class BpeSuffixDecoder(string suffix) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++) r.Add(tokens[i].Replace(suffix, i == tokens.Count - 1 ? "" : " ", StringComparison.Ordinal));
        return r;
    }
}

internal static class Cleanup
{
    /// <summary>transformers' clean_up_tokenization (PreTrainedTokenizerBase).</summary>
    public static string CleanUpTokenization(string s) => s
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",")
        .Replace(" ' ", "'").Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s")
        .Replace(" 've", "'ve").Replace(" 're", "'re");
}
