// Unicode character classes as the reference tokenizers define them, over code points (not UTF-16 units, so letters
// outside the BMP such as 𝐀 or CJK extension B are letters, as in Python's `regex` and Rust). Python semantics are
// followed where the slow tokenizers that produced our golden files differ from Rust (str.split whitespace,
// str.lower with Final_Sigma and İ → i̇).
using System.Globalization;
using System.Text;

namespace BatchVlm.Tokenizers.Core;

internal static class UnicodeText
{
    public static UnicodeCategory Category(int cp) => CharUnicodeInfo.GetUnicodeCategory(cp);

    public static bool IsLetter(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    public static bool IsNumber(int cp) => Category(cp) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
        or UnicodeCategory.OtherNumber;

    /// <summary>Unicode White_Space (= Rust char::is_whitespace = regex `\s` in Python `regex` and .NET).</summary>
    public static bool IsWhiteSpace(int cp) => cp is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>Python str.isspace / str.split(): White_Space plus the separators U+001C..U+001F.</summary>
    public static bool IsPythonSpace(int cp) => IsWhiteSpace(cp) || cp is >= 0x1C and <= 0x1F;

    public static bool IsPunctuation(int cp) => Category(cp) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
        or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
        or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    public static bool IsOther(int cp) => Category(cp) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
        or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    public static bool IsNonSpacingMark(int cp) => Category(cp) == UnicodeCategory.NonSpacingMark;

    /// <summary>BERT's CJK ideograph ranges (BasicTokenizer._is_chinese_char).</summary>
    public static bool IsChineseChar(int cp) => cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF)
        or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F)
        or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>Code point at <paramref name="i"/> and its UTF-16 length (input has no lone surrogates).</summary>
    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int len)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            len = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        len = 1;
        return c;
    }

    public static void AppendCodePoint(StringBuilder sb, int cp)
    {
        if (cp < 0x10000) sb.Append((char)cp);
        else sb.Append(char.ConvertFromUtf32(cp));
    }

    private static bool IsCased(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter || cp is 0x345 or 0xAA or 0xBA || (cp >= 0x2160 && cp <= 0x217F)
        || (cp >= 0x24B6 && cp <= 0x24E9);

    private static bool IsCaseIgnorable(int cp) => Category(cp) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
        or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || cp is '\'' or '.' or ':' or '^' or '`' or 0xAD or 0xB7 or 0x2019 or 0x2018 or 0x2024 or 0x2027;

    /// <summary>Full lowercase as Python str.lower / Rust to_lowercase: İ → "i̇", and Final_Sigma when
    /// <paramref name="finalSigma"/> (transformers' slow do_lower_case lowers one character at a time, so BERT has none).</summary>
    public static string ToLowerFull(string s, bool finalSigma = true)
    {
        bool simple = true;
        foreach (char c in s)
            if (c >= 0x80) { simple = false; break; }
        if (simple) return s.ToLowerInvariant();
        var sb = new StringBuilder(s.Length);
        var span = s.AsSpan();
        for (int i = 0; i < span.Length;)
        {
            int cp = CodePointAt(span, i, out int len);
            if (cp == 0x130) sb.Append("i\u0307");
            else if (cp == 0x3A3) sb.Append(finalSigma && IsFinalSigma(span, i) ? '\u03C2' : '\u03C3');
            else AppendCodePoint(sb, Rune.ToLowerInvariant(new Rune(cp)).Value);
            i += len;
        }
        return sb.ToString();
    }

    private static bool IsFinalSigma(ReadOnlySpan<char> s, int i)
    {
        // Preceded by a cased letter (skipping case-ignorables) and not followed by one.
        bool before = false;
        for (int j = i - 1; j >= 0; j--)
        {
            int cp = s[j];
            if (char.IsLowSurrogate(s[j]) && j > 0 && char.IsHighSurrogate(s[j - 1])) { cp = char.ConvertToUtf32(s[j - 1], s[j]); j--; }
            if (IsCaseIgnorable(cp)) continue;
            before = IsCased(cp);
            break;
        }
        if (!before) return false;
        for (int j = i + 1; j < s.Length;)
        {
            int cp = CodePointAt(s, j, out int len);
            j += len;
            if (IsCaseIgnorable(cp)) continue;
            return !IsCased(cp);
        }
        return true;
    }
}
