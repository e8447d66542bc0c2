// UTF-8 helpers shared by the encoders, with sentencepiece's conventions (OneCharLen by lead byte; a malformed
// sequence is one byte long and reads as U+FFFD), and the input sanitizer every public entry point applies.
using System.Runtime.CompilerServices;
using System.Text;

namespace BatchVlm.Tokenizers.Core;

internal static class Utf8
{
    /// <summary>sentencepiece OneCharLen: length implied by the lead byte (continuation bytes count as 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CharLength(byte lead) => lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;

    /// <summary>Length of the well-formed UTF-8 character at the start of <paramref name="s"/>, or 0 if malformed.</summary>
    public static int ValidCharLength(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty) return 0;
        byte b = s[0];
        if (b < 0x80) return 1;
        int len; int min;
        if (b >= 0xC2 && b < 0xE0) { len = 2; min = 0x80; }
        else if (b >= 0xE0 && b < 0xF0) { len = 3; min = 0x800; }
        else if (b >= 0xF0 && b < 0xF5) { len = 4; min = 0x10000; }
        else return 0;
        if (s.Length < len) return 0;
        int cp = b & (0x7F >> len);
        for (int i = 1; i < len; i++)
        {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        return len;
    }

    /// <summary>
    /// Replaces unpaired UTF-16 surrogates with U+FFFD; returns the input itself when it has none (the common case).
    /// Python cannot even encode such strings to UTF-8, and the Rust tokenizers take only valid `str`, so there is no
    /// reference behaviour to follow: U+FFFD is what .NET's own UTF-8 encoder writes for them, made explicit here.
    /// </summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        int i = 0;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            if (char.IsSurrogate(c)) break;
        }
        if (i >= text.Length) return text;
        var sb = new StringBuilder(text.Length);
        sb.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { sb.Append(c).Append(text[i + 1]); i++; }
            else if (char.IsSurrogate(c)) sb.Append('\uFFFD');
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
