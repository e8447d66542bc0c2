// Tokenizers built from a SentencePiece .model the way transformers 4.46's slow classes use it (the golden reference):
//   Gemma/PaliGemma (GemmaTokenizer): specials <pad> <eos> <bos> <unk> (+ additional), <bos> prepended; decode joins
//     sp.decode of runs between added tokens with "" and maps `▁` → " " (tokenization_gemma.py _decode).
//   Llama (LlamaTokenizer, legacy): like Gemma with <s> </s>; `▁` dummy prefix dropped by sp.decode.
//   T5 (T5Tokenizer, legacy=True): <extra_id_N> = len(sp)+extra_ids-1-N with lstrip/rstrip; </s> appended unless the
//     ids already end with it; decode = sp.decode(...).strip() (tokenization_t5.py convert_tokens_to_string).
//   XLM-R (XLMRobertaTokenizer): fairseq ids (<s>=0 <pad>=1 </s>=2 <unk>=3, sp id + 1 otherwise, sp unk → 3),
//     <mask> = len(sp)+1 with lstrip; <s> … </s>; decode = "".join(tokens).replace("▁", " ").strip().
// Each text segment between added tokens is sentencepiece-encoded on its own (so the dummy prefix reappears after
// every special token, which is transformers' legacy behaviour for T5 and what XLM-R/Gemma do too).
using System.Text;
using BatchVlm.Tokenizers.Pipeline;

namespace BatchVlm.Tokenizers.SentencePiece;

internal enum SlowFlavor { Gemma, Llama, T5, XlmRoberta }

internal sealed class SentencePieceSegmentEncoder(SentencePieceProcessor sp, bool fairseq) : ISegmentEncoder
{
    [ThreadStatic] private static List<int>? t_buffer;
    /// <summary>A per-thread buffer grown past this many ids is dropped after use, so one huge text is not kept alive.</summary>
    private const int KeepIds = 1 << 16;

    public void Encode(string segment, bool atStart, List<int> ids)
    {
        if (!fairseq) { sp.Encode(segment, ids); return; }
        var buf = t_buffer ??= new List<int>();
        buf.Clear();
        sp.Encode(segment, buf);
        foreach (int id in buf) ids.Add(id == sp.UnkId ? 3 : id + 1);
        buf.Clear();
        if (buf.Capacity > KeepIds) t_buffer = null;
    }
}

internal sealed class SlowSentencePieceDecoder(SentencePieceProcessor sp, SlowFlavor flavor, AddedVocabulary added, bool defaultCleanUp) : ITextDecoder
{
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens, bool? cleanUp)
    {
        string text = DecodeCore(ids, skipSpecialTokens);
        // GemmaTokenizer._decode never cleans up (the argument lands in its **kwargs).
        return flavor != SlowFlavor.Gemma && (cleanUp ?? defaultCleanUp) ? Cleanup.CleanUpTokenization(text) : text;
    }

    private int ToSp(int id) => flavor == SlowFlavor.XlmRoberta ? (id == 3 ? sp.UnkId : id - 1) : id;

    private string DecodeCore(IReadOnlyList<int> ids, bool skipSpecialTokens)
    {
        var kept = new List<int>(ids.Count);
        foreach (int id in ids)
            if (!(skipSpecialTokens && added.ById(id) is { Special: true })) kept.Add(id);
        switch (flavor)
        {
            case SlowFlavor.XlmRoberta:
            {
                var sb = new StringBuilder();
                foreach (int id in kept) sb.Append(added.ById(id)?.Content ?? sp.PieceOf(ToSp(id)));
                return sb.Replace('\u2581', ' ').ToString().Trim(PythonWhitespace);
            }
            case SlowFlavor.T5:
            {
                // Non-special added tokens and extra ids beyond the sp vocabulary stand alone, joined by " ".
                var parts = new List<string>();
                var run = new List<int>();
                bool prevSpecial = false;
                var cur = new StringBuilder();
                void FlushRun()
                {
                    if (run.Count == 0) return;
                    var sb = new StringBuilder();
                    sp.Decode(run.ToArray(), sb);
                    cur.Append(sb);
                    run.Clear();
                }
                foreach (int id in kept)
                {
                    var a = added.ById(id);
                    if (a != null && id >= sp.PieceCount)
                    {
                        FlushRun();
                        if (cur.Length > 0) parts.Add(cur.ToString().Trim(PythonWhitespace));
                        cur.Clear();
                        parts.Add(a.Content);
                        prevSpecial = false;
                        continue;
                    }
                    if (a is { Special: true })
                    {
                        FlushRun();
                        if (!prevSpecial) cur.Append(' ');
                        cur.Append(a.Content);
                        prevSpecial = true;
                        continue;
                    }
                    run.Add(id);
                    prevSpecial = false;
                }
                FlushRun();
                if (cur.Length > 0) parts.Add(cur.ToString().Trim(PythonWhitespace));
                return string.Join(" ", parts.Where(p => p.Length > 0 || parts.Count == 1));
            }
            default:
            {
                // Gemma / Llama: sp.decode of runs, added tokens verbatim, joined with "".
                var sb = new StringBuilder();
                var run = new List<int>();
                foreach (int id in kept)
                {
                    var a = added.ById(id);
                    if (a != null)
                    {
                        if (run.Count > 0) { sp.Decode(run.ToArray(), sb); run.Clear(); }
                        sb.Append(a.Content);
                    }
                    else run.Add(id);
                }
                if (run.Count > 0) sp.Decode(run.ToArray(), sb);
                return sb.Replace('\u2581', ' ').ToString();
            }
        }
    }

    // Python str.strip() whitespace.
    internal static readonly char[] PythonWhitespace =
        [' ', '\t', '\n', '\v', '\f', '\r', '\x1c', '\x1d', '\x1e', '\x1f', '\x85', '\xa0', '\u1680', '\u2000', '\u2001',
         '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029',
         '\u202f', '\u205f', '\u3000'];
}

internal static class SlowSentencePieceTokenizerBuilder
{
    public static Tokenizer Build(SentencePieceModelProto proto, string source, string fileName, TokenizerConfig config)
    {
        var sp = new SentencePieceProcessor(proto, source);
        var flavor = ChooseFlavor(config, fileName, sp);
        var added = new AddedVocabulary();
        int? bos = null, eos = null, pad = null, unk = null;
        int[] before = [], after = [];
        bool fairseq = flavor == SlowFlavor.XlmRoberta;

        int SpId(string piece, string field)
        {
            int id = sp.PieceToId(piece);
            if (id == sp.UnkId && piece != sp.PieceOf(sp.UnkId))
                throw new TokenizerFormatException(source, field, $"special token '{piece}' is not a piece of the SentencePiece model");
            return id;
        }

        switch (flavor)
        {
            case SlowFlavor.Gemma:
            case SlowFlavor.Llama:
            {
                bool gemma = flavor == SlowFlavor.Gemma;
                string bosS = config.BosToken?.Content ?? (gemma ? "<bos>" : "<s>");
                string eosS = config.EosToken?.Content ?? (gemma ? "<eos>" : "</s>");
                string unkS = config.UnkToken?.Content ?? "<unk>";
                string? padS = config.PadToken?.Content ?? (gemma ? "<pad>" : null);
                unk = SpId(unkS, "unk_token"); bos = SpId(bosS, "bos_token"); eos = SpId(eosS, "eos_token");
                if (padS != null) pad = SpId(padS, "pad_token");
                // transformers registers the specials in this order: bos, eos, unk, pad, additional.
                added.Add(new AddedToken(bosS, bos.Value, true));
                added.Add(new AddedToken(eosS, eos.Value, true));
                added.Add(new AddedToken(unkS, unk.Value, true));
                if (padS != null) added.Add(new AddedToken(padS, pad!.Value, true));
                before = config.AddBosToken ?? true ? [bos.Value] : [];
                after = config.AddEosToken ?? false ? [eos.Value] : [];
                break;
            }
            case SlowFlavor.T5:
            {
                string eosS = config.EosToken?.Content ?? "</s>", unkS = config.UnkToken?.Content ?? "<unk>", padS = config.PadToken?.Content ?? "<pad>";
                eos = SpId(eosS, "eos_token"); unk = SpId(unkS, "unk_token"); pad = SpId(padS, "pad_token");
                added.Add(new AddedToken(padS, pad.Value, true));
                added.Add(new AddedToken(eosS, eos.Value, true));
                added.Add(new AddedToken(unkS, unk.Value, true));
                int extra = config.ExtraIds ?? 100;
                for (int i = 0; i < extra; i++)
                    added.Add(new AddedToken($"<extra_id_{i}>", sp.PieceCount + extra - 1 - i, true, LStrip: true, RStrip: true));
                after = config.AddEosToken ?? true ? [eos.Value] : [];
                break;
            }
            case SlowFlavor.XlmRoberta:
            {
                bos = 0; pad = 1; eos = 2; unk = 3;
                added.Add(new AddedToken(config.BosToken?.Content ?? "<s>", 0, true));
                added.Add(new AddedToken(config.PadToken?.Content ?? "<pad>", 1, true));
                added.Add(new AddedToken(config.EosToken?.Content ?? "</s>", 2, true));
                added.Add(new AddedToken(config.UnkToken?.Content ?? "<unk>", 3, true));
                added.Add(new AddedToken(config.MaskToken?.Content ?? "<mask>", sp.PieceCount + 1, true, LStrip: true));
                before = [0]; after = [2];
                break;
            }
        }
        // Additional special tokens by name: sp pieces keep their id; new ones go after the vocabulary.
        int next = Math.Max(sp.PieceCount + (fairseq ? 2 : 0), added.Tokens.Count == 0 ? 0 : added.Tokens.Max(t => t.Id) + 1);
        foreach (var t in config.AdditionalSpecialTokens)
        {
            if (added.ByContent(t.Content) != null) continue;
            int id = sp.PieceToId(t.Content);
            if (id == sp.UnkId && t.Content != sp.PieceOf(sp.UnkId)) id = next++;
            else if (fairseq) id += 1;
            added.Add(t with { Id = id, Special = true });
        }
        foreach (var t in config.AddedTokensDecoder) added.Add(t);

        // Pairs: Gemma/Llama bos A eos | bos B eos with type ids 0 | 1 (the default template); XLM-R <s> A </s></s> B </s>
        // all type 0; T5 A</s> B</s> all type 0.
        IPostProcessor post = flavor == SlowFlavor.T5 && after.Length == 1 ? new EosIfNotPresentPostProcessor(after[0])
            : flavor == SlowFlavor.XlmRoberta
                ? new TemplatePostProcessor(before, after, [TemplateItem.Special(before), TemplateItem.Seq(0, 0), TemplateItem.Special([.. after, .. after]), TemplateItem.Seq(1, 0), TemplateItem.Special(after)])
                : new TemplatePostProcessor(before, after);
        var decoder = new SlowSentencePieceDecoder(sp, flavor, added, config.CleanUpTokenizationSpaces ?? false);
        Func<int, string?> idToToken = fairseq
            ? id => id >= 1 && id <= sp.PieceCount ? sp.PieceOf(id - 1) : null
            : id => id >= 0 && id < sp.PieceCount ? sp.PieceOf(id) : null;
        Func<string, int?> tokenToId = t =>
        {
            int id = sp.PieceToId(t);
            if (id == sp.UnkId && t != sp.PieceOf(sp.UnkId)) return null;
            return fairseq ? (id == sp.UnkId ? 3 : id + 1) : id;
        };
        return new Tokenizer($"sentencepiece {proto.ModelType} ({flavor}) from {Path.GetFileName(source)}", added,
            new SentencePieceSegmentEncoder(sp, fairseq), post, decoder, idToToken, tokenToId,
            sp.PieceCount + (fairseq ? 1 : 0), config, bos, eos, pad, unk);
    }

    private static SlowFlavor ChooseFlavor(TokenizerConfig config, string fileName, SentencePieceProcessor sp)
    {
        switch (config.Family)
        {
            case "Gemma" or "PaliGemma" or "CodeGemma": return SlowFlavor.Gemma;
            case "Llama" or "Mistral": return SlowFlavor.Llama;
            case "T5" or "MT5" or "UMT5": return SlowFlavor.T5;
            case "XLMRoberta" or "AltCLIP" or "Camembert": return SlowFlavor.XlmRoberta;
        }
        // No (known) class: the hub file names are conventional.
        if (fileName == "spiece.model") return SlowFlavor.T5;
        if (fileName == "sentencepiece.bpe.model") return SlowFlavor.XlmRoberta;
        return sp.PieceToId("<bos>") != sp.UnkId ? SlowFlavor.Gemma : SlowFlavor.Llama;
    }
}
