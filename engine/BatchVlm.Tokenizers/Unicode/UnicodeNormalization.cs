// Unicode normalization forms NFC, NFD, NFKC, NFKD (UAX #15) from tables generated out of Python 3.11's
// unicodedata (Unicode 14.0, see generate_unicode_data.py). Needed because .NET's string.Normalize does nothing under
// InvariantGlobalization (which every BatchVlm executable runs with), and because the golden ids were made by Python.
using System.IO.Compression;
using System.Text;
using BatchVlm.Tokenizers.Core;

namespace BatchVlm.Tokenizers.Unicode;

public enum NormalizationKind { Nfc, Nfd, Nfkc, Nfkd }

internal static class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private sealed class Tables
    {
        public readonly Dictionary<int, (bool Compat, int[] Mapping)> Decomp = new();
        public readonly Dictionary<int, byte> Ccc = new();
        public readonly Dictionary<long, int> Compose = new();
    }

    private static readonly Lazy<Tables> s_tables = new(Load);

    private static Tables Load()
    {
        var t = new Tables();
        var excluded = new HashSet<int>();
        using var stream = typeof(UnicodeNormalization).Assembly.GetManifestResourceStream("BatchVlm.Tokenizers.UnicodeData.txt.gz")
            ?? throw new InvalidOperationException("embedded resource UnicodeData.txt.gz is missing from BatchVlm.Tokenizers");
        using var gz = new GZipStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(gz, Encoding.ASCII);
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var f = line.Split(';');
            int cp = Convert.ToInt32(f[1], 16);
            switch (f[0])
            {
                case "D":
                    byte ccc = Convert.ToByte(f[2], 16);
                    if (ccc != 0) t.Ccc[cp] = ccc;
                    var map = f[4].Split(' ').Select(h => Convert.ToInt32(h, 16)).ToArray();
                    t.Decomp[cp] = (f[3] == "k", map);
                    break;
                case "C": t.Ccc[cp] = Convert.ToByte(f[2], 16); break;
                case "X": excluded.Add(cp); break;
            }
        }
        foreach (var (cp, (compat, map)) in t.Decomp)
            if (!compat && map.Length == 2 && !excluded.Contains(cp))
                t.Compose[(long)map[0] << 21 | (uint)map[1]] = cp;
        return t;
    }

    public static string Normalize(string s, NormalizationKind kind)
    {
        // ASCII is invariant under every form.
        bool ascii = true;
        foreach (char c in s) if (c >= 0x80) { ascii = false; break; }
        if (ascii) return s;
        var t = s_tables.Value;
        bool compat = kind is NormalizationKind.Nfkc or NormalizationKind.Nfkd;
        var cps = new List<int>(s.Length);
        var span = s.AsSpan();
        for (int i = 0; i < span.Length;)
        {
            int cp = UnicodeText.CodePointAt(span, i, out int len);
            i += len;
            Decompose(t, cp, compat, cps);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < cps.Count; i++)
        {
            int c = CombiningClass(t, cps[i]);
            if (c == 0) continue;
            int j = i;
            while (j > 0 && CombiningClass(t, cps[j - 1]) > c) { (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]); j--; }
        }
        if (kind is NormalizationKind.Nfc or NormalizationKind.Nfkc) ComposeInPlace(t, cps);
        var sb = new StringBuilder(cps.Count);
        foreach (int cp in cps) UnicodeText.AppendCodePoint(sb, cp);
        return sb.ToString();
    }

    private static int CombiningClass(Tables t, int cp) => t.Ccc.TryGetValue(cp, out byte c) ? c : 0;

    private static void Decompose(Tables t, int cp, bool compat, List<int> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (t.Decomp.TryGetValue(cp, out var d) && (compat || !d.Compat))
        {
            foreach (int m in d.Mapping) Decompose(t, m, compat, output);
            return;
        }
        output.Add(cp);
    }

    private static void ComposeInPlace(Tables t, List<int> cps)
    {
        var output = new List<int>(cps.Count);
        int starterPos = -1, lastCcc = 0;
        foreach (int cp in cps)
        {
            int cc = CombiningClass(t, cp);
            if (starterPos >= 0)
            {
                // Not blocked: adjacent to the starter, or the last character in between has a lower non-zero class.
                bool adjacent = output.Count - 1 == starterPos;
                if (adjacent || (lastCcc != 0 && lastCcc < cc))
                {
                    int composed = ComposePair(t, output[starterPos], cp);
                    if (composed >= 0) { output[starterPos] = composed; continue; }
                }
            }
            if (cc == 0) { starterPos = output.Count; lastCcc = 0; }
            else lastCcc = cc;
            output.Add(cp);
        }
        cps.Clear();
        cps.AddRange(output);
    }

    private static int ComposePair(Tables t, int a, int b)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
            return a + (b - TBase);
        return t.Compose.TryGetValue((long)a << 21 | (uint)b, out int c) ? c : -1;
    }
}
