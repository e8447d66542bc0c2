// tokenizer.json normalizers (Hugging Face tokenizers 0.20, src/normalizers/*.rs): Sequence, NFC/NFD/NFKC/NFKD,
// Lowercase, Strip, StripAccents, Replace (string or regex), Prepend, BertNormalizer, Precompiled.
// They work on whole strings (no offset tracking: BatchVlm needs ids, not character offsets).
// BertNormalizer follows transformers' slow BasicTokenizer (the golden reference) where the two differ: NFC first,
// Python's notion of whitespace/control, lowercase before accent stripping, no Final_Sigma (transformers lowers the
// text one character at a time in PreTrainedTokenizer.tokenize).
using System.Text;
using System.Text.RegularExpressions;
using BatchVlm.Tokenizers.Core;
using BatchVlm.Tokenizers.SentencePiece;
using BatchVlm.Tokenizers.Unicode;

namespace BatchVlm.Tokenizers.Pipeline;

internal interface INormalizer
{
    string Normalize(string text);
}

internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> items) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var n in items) text = n.Normalize(text);
        return text;
    }
}

internal sealed class UnicodeNormalizer(NormalizationKind kind) : INormalizer
{
    public string Normalize(string text) => UnicodeNormalization.Normalize(text, kind);
}

internal sealed class LowercaseNormalizer : INormalizer
{
    public string Normalize(string text) => UnicodeText.ToLowerFull(text);
}

internal sealed class StripNormalizer(bool left, bool right) : INormalizer
{
    public string Normalize(string text)
    {
        var span = text.AsSpan();
        int start = 0, end = span.Length;
        if (left) while (start < end && UnicodeText.IsWhiteSpace(span[start])) start++;
        if (right) while (end > start && UnicodeText.IsWhiteSpace(span[end - 1])) end--;
        return start == 0 && end == span.Length ? text : text[start..end];
    }
}

/// <summary>Removes combining marks (Mn); the Rust normalizer expects NFD before it, as tokenizer.json files declare.</summary>
internal sealed class StripAccentsNormalizer : INormalizer
{
    public string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        var span = text.AsSpan();
        for (int i = 0; i < span.Length;)
        {
            int cp = UnicodeText.CodePointAt(span, i, out int len);
            if (!UnicodeText.IsNonSpacingMark(cp)) sb.Append(span.Slice(i, len));
            i += len;
        }
        return sb.ToString();
    }
}

internal sealed class ReplaceNormalizer : INormalizer
{
    private readonly string? _literal;
    private readonly Regex? _regex;
    private readonly string _content;

    public ReplaceNormalizer(string? literal, Regex? regex, string content)
    {
        _literal = literal; _regex = regex; _content = content;
    }

    public string Normalize(string text)
    {
        if (_regex == null) return text.Replace(_literal!, _content, StringComparison.Ordinal);
        var sb = new StringBuilder(text.Length);
        int pos = 0;
        foreach (Match m in _regex.Matches(RegexTranslation.Shadow(text)))
        {
            sb.Append(text, pos, m.Index - pos).Append(_content);
            pos = m.Index + m.Length;
        }
        return sb.Append(text, pos, text.Length - pos).ToString();
    }
}

internal sealed class PrependNormalizer(string prepend) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : prepend + text;
}

/// <summary>BERT's normalization as transformers' BasicTokenizer does it (clean text, CJK spacing, NFC, lowercase, strip accents).</summary>
internal sealed class BertNormalizer(bool cleanText, bool handleChineseChars, bool? stripAccents, bool lowercase) : INormalizer
{
    public string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        var span = text.AsSpan();
        for (int i = 0; i < span.Length;)
        {
            int cp = UnicodeText.CodePointAt(span, i, out int len);
            i += len;
            if (cleanText)
            {
                if (cp == 0 || cp == 0xFFFD || IsControl(cp)) continue;
                if (IsBertWhitespace(cp)) { sb.Append(' '); continue; }
            }
            if (handleChineseChars && UnicodeText.IsChineseChar(cp))
            {
                sb.Append(' '); UnicodeText.AppendCodePoint(sb, cp); sb.Append(' ');
                continue;
            }
            UnicodeText.AppendCodePoint(sb, cp);
        }
        string s = UnicodeNormalization.Normalize(sb.ToString(), NormalizationKind.Nfc);
        if (lowercase) s = UnicodeText.ToLowerFull(s, finalSigma: false);
        if (stripAccents ?? lowercase)
            s = new StripAccentsNormalizer().Normalize(UnicodeNormalization.Normalize(s, NormalizationKind.Nfd));
        return s;
    }

    // transformers' _is_whitespace / _is_control.
    internal static bool IsBertWhitespace(int cp) => cp is ' ' or '\t' or '\n' or '\r' ||
        UnicodeText.Category(cp) == System.Globalization.UnicodeCategory.SpaceSeparator;

    internal static bool IsControl(int cp) => cp is not ('\t' or '\n' or '\r') && UnicodeText.IsOther(cp);
}

/// <summary>
/// SentencePiece precompiled charsmap applied to a string: longest rule at each position over the UTF-8 bytes, as
/// sentencepiece's normalizer does (the Rust crate works per grapheme cluster; the two agree on nmt_nfkc except for
/// exotic clusters, and the golden ids follow sentencepiece).
/// </summary>
internal sealed class PrecompiledNormalizer(PrecompiledCharsMap map) : INormalizer
{
    public string Normalize(string text)
    {
        var input = Encoding.UTF8.GetBytes(text);
        var output = new List<byte>(input.Length + 8);
        var span = input.AsSpan();
        while (!span.IsEmpty)
        {
            int n = map.LongestMatch(span, out var rep);
            if (n > 0)
            {
                foreach (byte b in rep) output.Add(b);
                span = span[n..];
                continue;
            }
            int mb = Utf8.ValidCharLength(span);
            if (mb == 0) { output.AddRange("\uFFFD"u8.ToArray()); mb = 1; }
            else for (int k = 0; k < mb; k++) output.Add(span[k]);
            span = span[mb..];
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output));
    }
}
