// tokenizer_config.json as the hub writes it (transformers ≥ 4.34: added_tokens_decoder, AddedToken objects, flags)
// drives what Encode adds, padding side, cleanup and which added tokens are special.
namespace BatchVlm.Tokenizers.Tests;

public sealed class TokenizerConfigTests
{
    [Fact]
    public void FromFile_HubTokenizerConfig_AddBosEosPaddingSideAndAddedTokens()
    {
        string dir = Directory.CreateTempSubdirectory("hub-cfg").FullName;
        try
        {
            File.Copy(Path.Combine(Fixtures.Local("standin-paligemma"), "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
                {
                  "tokenizer_class": "GemmaTokenizer",
                  "add_bos_token": false,
                  "add_eos_token": true,
                  "padding_side": "left",
                  "bos_token": {"content": "<bos>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false},
                  "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                  "added_tokens_decoder": {
                    "3783": {"content": "<image>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true},
                    "2631": {"content": "<loc0000>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": false}
                  },
                  "model_max_length": 1000000000000000019884624838656
                }
                """);
            var tok = Tokenizer.FromFile(dir);
            int eos = tok.EosTokenId!.Value;
            var ids = tok.Encode("<image><loc0000> cat", true);
            Assert.Equal([3783, 2631], ids[..2]);
            Assert.Equal(eos, ids[^1]);
            Assert.NotEqual(tok.BosTokenId, ids[0]);
            Assert.Equal("<loc0000> cat", tok.Decode(ids, true));
            Assert.Equal(Side.Left, tok.DefaultPaddingSide);
            var batch = tok.EncodeBatch(["a", "a longer text"]);
            Assert.Equal(tok.PadTokenId, batch.InputIds[0][0]);
            Assert.Equal(0, batch.AttentionMask[0][0]);
            Assert.Equal(eos, batch.InputIds[0][^1]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FromFile_SpecialTokensMapOnly_FillsMissingTokens()
    {
        string dir = Directory.CreateTempSubdirectory("stm").FullName;
        try
        {
            foreach (var f in new[] { "vocab.json", "merges.txt" })
                File.Copy(Path.Combine(Fixtures.Local("opt"), f), Path.Combine(dir, f));
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"tokenizer_class": "GPT2Tokenizer", "add_bos_token": true, "clean_up_tokenization_spaces": true}""");
            File.WriteAllText(Path.Combine(dir, "special_tokens_map.json"), """
                {"bos_token": {"content": "</s>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
                 "eos_token": "</s>", "unk_token": "</s>", "pad_token": "<pad>"}
                """);
            var tok = Tokenizer.FromFile(dir);
            Assert.Equal([2, 31414, 6, 127, 2335, 16, 11962], tok.Encode("Hello, my dog is cute"));
            Assert.Equal(1, tok.PadTokenId);
            Assert.Equal("Hello, it's me.", tok.Decode(tok.Encode("Hello , it 's me ."), true)); // cleanup from the config
        }
        finally { Directory.Delete(dir, true); }
    }
}
