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
    /// <summary>How many ids <see cref="Process"/> adds (truncation leaves room for them).</summary>
    int AddedCount { get; }
}

/// <summary>A template like `[CLS]:0 $A:0 [SEP]:0`, reduced to the ids before and after the sequence.</summary>
internal sealed class TemplatePostProcessor(int[] before, int[] after) : IPostProcessor
{
    public int[] Before => before;
    public int[] After => after;
    public int AddedCount => before.Length + after.Length;

    public List<int> Process(List<int> ids)
    {
        var r = new List<int>(ids.Count + AddedCount);
        r.AddRange(before); r.AddRange(ids); r.AddRange(after);
        return r;
    }
}

/// <summary>T5Tokenizer's _add_eos_if_not_present: &lt;/s&gt; appended unless the ids already end with it.</summary>
internal sealed class EosIfNotPresentPostProcessor(int eos) : IPostProcessor
{
    public int AddedCount => 1;

    public List<int> Process(List<int> ids)
    {
        var r = new List<int>(ids);
        if (r.Count == 0 || r[^1] != eos) r.Add(eos);
        return r;
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
