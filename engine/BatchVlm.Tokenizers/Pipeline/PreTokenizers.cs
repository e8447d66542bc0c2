// tokenizer.json pre-tokenizers (Hugging Face tokenizers 0.20, src/pre_tokenizers/*.rs): ByteLevel (GPT-2 regex +
// byte→unicode map), Metaspace, Whitespace, WhitespaceSplit, BertPreTokenizer, Split, Punctuation, Digits, Sequence.
// The GPT-2 pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` is a hand-written
// scanner over code points: .NET Regex sees UTF-16 units, so \p{L} would not match letters outside the BMP (𝐀, 𠀀)
// that Rust's and Python's regex engines treat as letters. A Split with that pattern uses the scanner too; any other
// Split/Replace regex runs on .NET Regex over a same-length "shadow" of the text whose astral characters are replaced
// by BMP characters of the same category (RegexTranslation.Shadow), so \p{L} etc. classify them as Rust does.
using System.Text;
using System.Text.RegularExpressions;
using BatchVlm.Tokenizers.Core;

namespace BatchVlm.Tokenizers.Pipeline;

internal interface IPreTokenizer
{
    /// <summary>Splits <paramref name="text"/> and appends the pieces to <paramref name="output"/>.</summary>
    /// <param name="atStart">the text begins at offset 0 of the input (Metaspace's prepend_scheme "first")</param>
    void PreTokenize(string text, bool atStart, List<string> output);
}

/// <summary>How a split keeps its delimiter (tokenizers' SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

internal static class Splitting
{
    /// <summary>One (start, end) UTF-16 range per code point of <paramref name="text"/> that satisfies <paramref name="match"/>.</summary>
    public static List<(int Start, int End)> CodePointsWhere(string text, Func<int, bool> match)
    {
        var matches = new List<(int, int)>();
        var s = text.AsSpan();
        for (int i = 0; i < s.Length;)
        {
            int cp = UnicodeText.CodePointAt(s, i, out int len);
            if (match(cp)) matches.Add((i, i + len));
            i += len;
        }
        return matches;
    }

    /// <summary>Splits by delimiter ranges (sorted, non-overlapping) the way tokenizers' NormalizedString::split does.</summary>
    public static void Split(string text, List<(int Start, int End)> matches, SplitBehavior behavior, List<string> output, bool invert = false)
    {
        // (start, end, isDelimiter) segments covering the text; every match is its own segment. With invert the
        // matches are the pieces and the gaps the delimiters (tokenizers' Split { invert: true }).
        var segs = new List<(int S, int E, bool M)>();
        int pos = 0;
        foreach (var (s, e) in matches)
        {
            if (e <= s) continue;
            if (s > pos) segs.Add((pos, s, invert));
            segs.Add((s, e, !invert));
            pos = e;
        }
        if (pos < text.Length) segs.Add((pos, text.Length, invert));
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var g in segs) if (!g.M) output.Add(text[g.S..g.E]);
                break;
            case SplitBehavior.Isolated:
                foreach (var g in segs) output.Add(text[g.S..g.E]);
                break;
            case SplitBehavior.Contiguous:
                for (int i = 0; i < segs.Count;)
                {
                    int j = i + 1;
                    if (segs[i].M) while (j < segs.Count && segs[j].M && segs[j].S == segs[j - 1].E) j++;
                    output.Add(text[segs[i].S..segs[j - 1].E]);
                    i = j;
                }
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                int start = -1;
                foreach (var g in segs)
                {
                    if (start < 0) start = g.S;
                    if (g.M) { output.Add(text[start..g.E]); start = -1; }
                }
                if (start >= 0) output.Add(text[start..]);
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                int start = -1;
                foreach (var g in segs)
                {
                    if (g.M && start >= 0) { output.Add(text[start..g.S]); start = -1; }
                    if (start < 0) start = g.S;
                }
                if (start >= 0) output.Add(text[start..]);
                break;
            }
        }
    }
}

internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> items) : IPreTokenizer
{
    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        var current = new List<string> { text };
        var next = new List<string>();
        foreach (var p in items)
        {
            next.Clear();
            for (int i = 0; i < current.Count; i++) p.PreTokenize(current[i], atStart && i == 0, next);
            (current, next) = (next, current);
        }
        output.AddRange(current);
    }
}

/// <summary>GPT-2's pre-tokenization regex as a scanner (see file header).</summary>
internal static class Gpt2Splitter
{
    private enum Cls { Space, Letter, Number, Other }

    private static Cls Classify(int cp) =>
        UnicodeText.IsWhiteSpace(cp) ? Cls.Space : UnicodeText.IsLetter(cp) ? Cls.Letter : UnicodeText.IsNumber(cp) ? Cls.Number : Cls.Other;

    public static void Split(string text, List<(int, int)> spans)
    {
        var s = text.AsSpan();
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            // 's|'t|'re|'ve|'m|'ll|'d
            if (s[i] == '\'' && i + 1 < s.Length)
            {
                char a = s[i + 1];
                char b = i + 2 < s.Length ? s[i + 2] : '\0';
                int n = a is 's' or 't' or 'm' or 'd' ? 2
                    : (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') ? 3 : 0;
                if (n > 0) { spans.Add((i, i + n)); i += n; continue; }
            }
            int cp0 = UnicodeText.CodePointAt(s, i, out int len0);
            int j = i;
            Cls target;
            if (cp0 == ' ' && i + 1 < s.Length)
            {
                int cp1 = UnicodeText.CodePointAt(s, i + 1, out _);
                target = Classify(cp1);
                if (target != Cls.Space) j = i + 1; // ` ?` consumed
            }
            else target = Classify(cp0);

            if (target != Cls.Space && (j > i || target == Classify(cp0)))
            {
                // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
                while (j < s.Length)
                {
                    int cp = UnicodeText.CodePointAt(s, j, out int len);
                    if (Classify(cp) != target) break;
                    j += len;
                }
                spans.Add((start, j));
                i = j;
                continue;
            }
            // `\s+(?!\S)|\s+`
            j = i;
            int lastLen = 0;
            while (j < s.Length)
            {
                int cp = UnicodeText.CodePointAt(s, j, out int len);
                if (!UnicodeText.IsWhiteSpace(cp)) break;
                lastLen = len;
                j += len;
            }
            if (j < s.Length && j - lastLen > i) j -= lastLen; // leave the last space for the next word
            spans.Add((i, j));
            i = j;
            _ = len0;
        }
    }
}

/// <summary>GPT-2's reversible byte → printable-character map (bytes_to_unicode).</summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = Build();
    public static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(x => x.c, x => x.Item2);

    private static char[] Build()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    public static string Encode(string piece)
    {
        var bytes = Encoding.UTF8.GetBytes(piece);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }
}

internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    public bool AddPrefixSpace => addPrefixSpace;

    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        if (addPrefixSpace && !text.StartsWith(' ')) text = " " + text;
        if (!useRegex) { output.Add(ByteLevelAlphabet.Encode(text)); return; }
        var spans = new List<(int, int)>();
        Gpt2Splitter.Split(text, spans);
        foreach (var (s, e) in spans) output.Add(ByteLevelAlphabet.Encode(text[s..e]));
    }
}

/// <summary>Prepend scheme of the Metaspace pre-tokenizer/decoder.</summary>
internal enum PrependScheme { Always, First, Never }

internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : IPreTokenizer
{
    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        string s = text.Replace(' ', replacement);
        if (scheme == PrependScheme.Always || (scheme == PrependScheme.First && atStart))
            if (!s.StartsWith(replacement)) s = replacement + s;
        if (!split) { output.Add(s); return; }
        var matches = new List<(int, int)>();
        for (int i = 0; i < s.Length; i++) if (s[i] == replacement) matches.Add((i, i + 1));
        Splitting.Split(s, matches, SplitBehavior.MergedWithNext, output);
    }
}

internal sealed class WhitespaceSplitPreTokenizer : IPreTokenizer
{
    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        var s = text.AsSpan();
        int start = -1;
        for (int i = 0; i < s.Length;)
        {
            int cp = UnicodeText.CodePointAt(s, i, out int len);
            if (UnicodeText.IsWhiteSpace(cp)) { if (start >= 0) { output.Add(text[start..i]); start = -1; } }
            else if (start < 0) start = i;
            i += len;
        }
        if (start >= 0) output.Add(text[start..]);
    }
}

/// <summary>`\w+|[^\w\s]+` over code points (Rust regex's Unicode \w).</summary>
internal sealed class WhitespacePreTokenizer : IPreTokenizer
{
    private static bool IsWord(int cp)
    {
        var c = UnicodeText.Category(cp);
        return UnicodeText.IsLetter(cp) || c is System.Globalization.UnicodeCategory.NonSpacingMark
            or System.Globalization.UnicodeCategory.SpacingCombiningMark or System.Globalization.UnicodeCategory.EnclosingMark
            or System.Globalization.UnicodeCategory.DecimalDigitNumber or System.Globalization.UnicodeCategory.LetterNumber
            or System.Globalization.UnicodeCategory.ConnectorPunctuation || cp is 0x200C or 0x200D;
    }

    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        var s = text.AsSpan();
        int start = -1; int kind = 0; // 1 word, 2 other
        for (int i = 0; i < s.Length;)
        {
            int cp = UnicodeText.CodePointAt(s, i, out int len);
            int k = UnicodeText.IsWhiteSpace(cp) ? 0 : IsWord(cp) ? 1 : 2;
            if (k != kind)
            {
                if (start >= 0) output.Add(text[start..i]);
                start = k == 0 ? -1 : i;
                kind = k;
            }
            i += len;
        }
        if (start >= 0) output.Add(text[start..]);
    }
}

/// <summary>BERT: split on (Python) whitespace, isolate each punctuation character (transformers BasicTokenizer).</summary>
internal sealed class BertPreTokenizer : IPreTokenizer
{
    internal static bool IsBertPunctuation(int cp) =>
        cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126) || UnicodeText.IsPunctuation(cp);

    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        var s = text.AsSpan();
        int start = -1;
        for (int i = 0; i < s.Length;)
        {
            int cp = UnicodeText.CodePointAt(s, i, out int len);
            if (UnicodeText.IsPythonSpace(cp))
            {
                if (start >= 0) { output.Add(text[start..i]); start = -1; }
            }
            else if (IsBertPunctuation(cp))
            {
                if (start >= 0) { output.Add(text[start..i]); start = -1; }
                output.Add(text.Substring(i, len));
            }
            else if (start < 0) start = i;
            i += len;
        }
        if (start >= 0) output.Add(text[start..]);
    }
}

internal sealed class PunctuationPreTokenizer(SplitBehavior behavior) : IPreTokenizer
{
    // tokenizers' is_punc: ASCII punctuation (printable, not a letter or digit) or a Unicode P* category.
    private static bool IsPunctuation(int cp) =>
        (cp is > 32 and < 127 && !char.IsAsciiLetterOrDigit((char)cp)) || UnicodeText.IsPunctuation(cp);

    public void PreTokenize(string text, bool atStart, List<string> output) =>
        Splitting.Split(text, Splitting.CodePointsWhere(text, IsPunctuation), behavior, output);
}

internal sealed class DigitsPreTokenizer(bool individualDigits) : IPreTokenizer
{
    private static bool IsDigit(int cp) => UnicodeText.Category(cp) == System.Globalization.UnicodeCategory.DecimalDigitNumber;

    public void PreTokenize(string text, bool atStart, List<string> output) =>
        Splitting.Split(text, Splitting.CodePointsWhere(text, IsDigit),
            individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, output);
}

internal sealed class SplitPreTokenizer(string? literal, Regex? regex, SplitBehavior behavior, bool invert) : IPreTokenizer
{
    private readonly bool _gpt2 = regex != null && regex.ToString() == RegexTranslation.Gpt2Pattern;

    public void PreTokenize(string text, bool atStart, List<string> output)
    {
        var matches = new List<(int, int)>();
        if (_gpt2)
            Gpt2Splitter.Split(text, matches);
        else if (regex != null)
            foreach (Match m in regex.Matches(RegexTranslation.Shadow(text))) matches.Add((m.Index, m.Index + m.Length));
        else if (!string.IsNullOrEmpty(literal))
            for (int i = text.IndexOf(literal, StringComparison.Ordinal); i >= 0; i = text.IndexOf(literal, i + literal.Length, StringComparison.Ordinal))
                matches.Add((i, i + literal.Length));
        Splitting.Split(text, matches, behavior, output, invert);
    }
}

/// <summary>Compiles tokenizer.json Split/Replace patterns (Oniguruma syntax) for .NET.</summary>
internal static class RegexTranslation
{
    /// <summary>The GPT-2 pattern, which SplitPreTokenizer routes to Gpt2Splitter instead of .NET Regex.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static Regex Compile(string pattern) => new(pattern, RegexOptions.CultureInvariant);

    /// <summary>
    /// .NET Regex sees a character outside the BMP as two surrogates (category Cs), so `\p{L}` would not match 𝐀 or
    /// 𠀀 as Rust's and Oniguruma's engines do. Matching runs on a shadow of the text in which each surrogate pair is
    /// two copies of a BMP character of the same general category; indices are unchanged, so matches map back 1:1.
    /// (A counted quantifier such as \p{N}{1,3} then counts an astral character twice.)
    /// </summary>
    public static string Shadow(string text)
    {
        int i = 0;
        for (; i < text.Length; i++) if (char.IsSurrogate(text[i])) break;
        if (i == text.Length) return text;
        var chars = text.ToCharArray();
        for (; i + 1 < chars.Length; i++)
        {
            if (!char.IsHighSurrogate(chars[i]) || !char.IsLowSurrogate(chars[i + 1])) continue;
            char rep = Representative(System.Globalization.CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(chars[i], chars[i + 1])));
            chars[i] = rep; chars[i + 1] = rep;
            i++;
        }
        return new string(chars);
    }

    private static char Representative(System.Globalization.UnicodeCategory c) => c switch
    {
        System.Globalization.UnicodeCategory.UppercaseLetter => 'A',
        System.Globalization.UnicodeCategory.LowercaseLetter => 'a',
        System.Globalization.UnicodeCategory.TitlecaseLetter => '\u01C5',
        System.Globalization.UnicodeCategory.ModifierLetter => '\u02B0',
        System.Globalization.UnicodeCategory.OtherLetter => '\u05D0',
        System.Globalization.UnicodeCategory.NonSpacingMark => '\u0300',
        System.Globalization.UnicodeCategory.SpacingCombiningMark => '\u0903',
        System.Globalization.UnicodeCategory.EnclosingMark => '\u20DD',
        System.Globalization.UnicodeCategory.DecimalDigitNumber => '0',
        System.Globalization.UnicodeCategory.LetterNumber => '\u2160',
        System.Globalization.UnicodeCategory.OtherNumber => '\u00B2',
        System.Globalization.UnicodeCategory.ConnectorPunctuation => '_',
        System.Globalization.UnicodeCategory.DashPunctuation => '-',
        System.Globalization.UnicodeCategory.OpenPunctuation => '(',
        System.Globalization.UnicodeCategory.ClosePunctuation => ')',
        System.Globalization.UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        System.Globalization.UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        System.Globalization.UnicodeCategory.OtherPunctuation => '!',
        System.Globalization.UnicodeCategory.MathSymbol => '+',
        System.Globalization.UnicodeCategory.CurrencySymbol => '$',
        System.Globalization.UnicodeCategory.ModifierSymbol => '^',
        System.Globalization.UnicodeCategory.OtherSymbol => '\u00A9',
        System.Globalization.UnicodeCategory.Format => '\u200B',
        System.Globalization.UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378', // unassigned
    };
}
