// Random-weight checkpoints with real Hugging Face layouts, written by the engine's own SafetensorsWriter chunk by chunk
// (a multi-GB file never sits in memory): Gemma-2B-shaped decoder stacks for `bench gemma`, and a
// PaliGemma-3B-224-shaped model (SigLIP So400m/14 tower, projector, Gemma-2B, vocab 257216) for the load/decode
// memory measurement. Values: uniform with the std of HF's init (0.02; norms 0), from a seeded xorshift stream.
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Bench.Gemma;

internal static class RandomCheckpoint
{
    public sealed record GemmaShape(int Vocab, int Hidden, int Intermediate, int Layers, int Heads, int KvHeads, int HeadDim)
    {
        /// <summary>Matrix weights of one decoder layer (q, k, v, o, gate, up, down; norms left out): what a decode step
        /// streams per layer.</summary>
        public long LayerWeights =>
            (long)Hidden * HeadDim * (2 * Heads + 2 * KvHeads) + 3L * Hidden * Intermediate;
    }

    /// <summary>Gemma-2B's layer shape (google/gemma-2b config.json).</summary>
    public static GemmaShape Gemma2B(int layers, int vocab) => new(vocab, 2048, 16384, layers, 8, 1, 256);

    /// <summary>Writes config.json + model.safetensors for a GemmaForCausalLM. Returns the weight bytes.</summary>
    public static long WriteGemma(string dir, GemmaShape s, SafetensorsDtype dtype, ulong seed)
    {
        Directory.CreateDirectory(dir);
        var config = GemmaConfigJson(s);
        config["architectures"] = new JsonArray("GemmaForCausalLM");
        config["model_type"] = "gemma";
        config["torch_dtype"] = dtype == SafetensorsDtype.BF16 ? "bfloat16" : "float32";
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var w = new SafetensorsWriter();
        AddGemma(w, "", s, dtype, seed);
        return w.Save(Path.Combine(dir, "model.safetensors"));
    }

    /// <summary>PaliGemma-3B-pt-224's shapes (google/paligemma-3b-pt-224 config.json): SigLIP So400m/14 at 224
    /// (hidden 1152, 27 layers, MLP 4304, 16 heads, 256 patches), projector 1152 → 2048, Gemma-2B with 18 layers
    /// and vocab 257216.</summary>
    public static long WritePaliGemma3B(string dir, SafetensorsDtype dtype, ulong seed, int? textLayers = null, int? visionLayers = null)
    {
        Directory.CreateDirectory(dir);
        var text = new GemmaShape(257216, 2048, 16384, textLayers ?? 18, 8, 1, 256);
        int vHidden = 1152, vInter = 4304, vLayers = visionLayers ?? 27, vHeads = 16, image = 224, patch = 14;
        var textConfig = GemmaConfigJson(text);
        textConfig["model_type"] = "gemma";
        textConfig["num_image_tokens"] = 256;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("PaliGemmaForConditionalGeneration"),
            ["model_type"] = "paligemma",
            ["bos_token_id"] = 2, ["eos_token_id"] = 1, ["pad_token_id"] = 0,
            ["hidden_size"] = 2048, ["projection_dim"] = 2048, ["image_token_index"] = 257152,
            ["torch_dtype"] = dtype == SafetensorsDtype.BF16 ? "bfloat16" : "float32",
            ["text_config"] = textConfig,
            ["vision_config"] = new JsonObject
            {
                ["model_type"] = "siglip_vision_model", ["hidden_size"] = vHidden, ["intermediate_size"] = vInter,
                ["num_hidden_layers"] = vLayers, ["num_attention_heads"] = vHeads, ["image_size"] = image,
                ["patch_size"] = patch, ["projection_dim"] = 2048, ["vision_use_head"] = false,
                ["hidden_act"] = "gelu_pytorch_tanh", ["layer_norm_eps"] = 1e-6,
            },
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var w = new SafetensorsWriter();
        ulong k = seed;
        string vp = "vision_tower.vision_model.";
        Add(w, vp + "embeddings.patch_embedding.weight", dtype, [vHidden, 3, patch, patch], 0.02f, 0, ++k);
        Add(w, vp + "embeddings.patch_embedding.bias", dtype, [vHidden], 0.02f, 0, ++k);
        Add(w, vp + "embeddings.position_embedding.weight", dtype, [(image / patch) * (image / patch), vHidden], 0.02f, 0, ++k);
        for (int l = 0; l < vLayers; l++)
        {
            string p = $"{vp}encoder.layers.{l}.";
            foreach (var n in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                Add(w, $"{p}self_attn.{n}.weight", dtype, [vHidden, vHidden], 0.02f, 0, ++k);
                Add(w, $"{p}self_attn.{n}.bias", dtype, [vHidden], 0.02f, 0, ++k);
            }
            Add(w, $"{p}mlp.fc1.weight", dtype, [vInter, vHidden], 0.02f, 0, ++k);
            Add(w, $"{p}mlp.fc1.bias", dtype, [vInter], 0.02f, 0, ++k);
            Add(w, $"{p}mlp.fc2.weight", dtype, [vHidden, vInter], 0.02f, 0, ++k);
            Add(w, $"{p}mlp.fc2.bias", dtype, [vHidden], 0.02f, 0, ++k);
            foreach (var n in new[] { "layer_norm1", "layer_norm2" })
            {
                Add(w, $"{p}{n}.weight", dtype, [vHidden], 0.02f, 1, ++k);
                Add(w, $"{p}{n}.bias", dtype, [vHidden], 0.02f, 0, ++k);
            }
        }
        Add(w, vp + "post_layernorm.weight", dtype, [vHidden], 0.02f, 1, ++k);
        Add(w, vp + "post_layernorm.bias", dtype, [vHidden], 0.02f, 0, ++k);
        Add(w, "multi_modal_projector.linear.weight", dtype, [2048, vHidden], 0.02f, 0, ++k);
        Add(w, "multi_modal_projector.linear.bias", dtype, [2048], 0.02f, 0, ++k);
        AddGemma(w, "language_model.", text, dtype, ++k);
        return w.Save(Path.Combine(dir, "model.safetensors"));
    }

    private static JsonObject GemmaConfigJson(GemmaShape s) => new()
    {
        ["vocab_size"] = s.Vocab, ["hidden_size"] = s.Hidden, ["intermediate_size"] = s.Intermediate,
        ["num_hidden_layers"] = s.Layers, ["num_attention_heads"] = s.Heads, ["num_key_value_heads"] = s.KvHeads,
        ["head_dim"] = s.HeadDim, ["hidden_activation"] = "gelu_pytorch_tanh", ["rms_norm_eps"] = 1e-6,
        ["rope_theta"] = 10000.0, ["bos_token_id"] = 2, ["eos_token_id"] = 1, ["pad_token_id"] = 0,
    };

    private static void AddGemma(SafetensorsWriter w, string prefix, GemmaShape s, SafetensorsDtype dtype, ulong seed)
    {
        ulong k = seed * 1000;
        string m = prefix + "model.";
        Add(w, m + "embed_tokens.weight", dtype, [s.Vocab, s.Hidden], 1f / MathF.Sqrt(s.Hidden), 0, ++k);
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"{m}layers.{l}.";
            Add(w, p + "self_attn.q_proj.weight", dtype, [s.Heads * s.HeadDim, s.Hidden], 0.02f, 0, ++k);
            Add(w, p + "self_attn.k_proj.weight", dtype, [s.KvHeads * s.HeadDim, s.Hidden], 0.02f, 0, ++k);
            Add(w, p + "self_attn.v_proj.weight", dtype, [s.KvHeads * s.HeadDim, s.Hidden], 0.02f, 0, ++k);
            Add(w, p + "self_attn.o_proj.weight", dtype, [s.Hidden, s.Heads * s.HeadDim], 0.02f, 0, ++k);
            Add(w, p + "mlp.gate_proj.weight", dtype, [s.Intermediate, s.Hidden], 0.02f, 0, ++k);
            Add(w, p + "mlp.up_proj.weight", dtype, [s.Intermediate, s.Hidden], 0.02f, 0, ++k);
            Add(w, p + "mlp.down_proj.weight", dtype, [s.Hidden, s.Intermediate], 0.02f, 0, ++k);
            Add(w, p + "input_layernorm.weight", dtype, [s.Hidden], 0.1f, 0, ++k);
            Add(w, p + "post_attention_layernorm.weight", dtype, [s.Hidden], 0.1f, 0, ++k);
        }
        Add(w, m + "norm.weight", dtype, [s.Hidden], 0.1f, 0, ++k);
    }

    /// <summary>Uniform values with standard deviation <paramref name="std"/> around <paramref name="mean"/>.</summary>
    private static void Add(SafetensorsWriter w, string name, SafetensorsDtype dtype, int[] shape, float std, float mean, ulong seed)
    {
        float half = std * MathF.Sqrt(3f);
        w.AddGenerated(name, dtype, shape, (offset, chunk) =>
        {
            int size = dtype == SafetensorsDtype.BF16 ? 2 : 4;
            ulong x = (seed * 0x9E3779B97F4A7C15UL) ^ (ulong)(offset / size + 1) * 0xD1B54A32D192ED03UL;
            if (x == 0) x = 1;
            if (dtype == SafetensorsDtype.BF16)
            {
                var dst = MemoryMarshal.Cast<byte, ushort>(chunk);
                for (int i = 0; i < dst.Length; i++)
                    dst[i] = DtypeConversion.SingleToBFloat16(mean + half * Next(ref x));
            }
            else if (dtype == SafetensorsDtype.F32)
            {
                var dst = MemoryMarshal.Cast<byte, float>(chunk);
                for (int i = 0; i < dst.Length; i++) dst[i] = mean + half * Next(ref x);
            }
            else throw new ArgumentException($"random checkpoints are F32 or BF16, not {dtype}");
        });
    }

    // xorshift64 → uniform in [-1, 1)
    private static float Next(ref ulong x)
    {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return (int)(x >> 32) * (1f / 2147483648f);
    }

    public static string Mb(long bytes) => (bytes / 1e6).ToString("0", CultureInfo.InvariantCulture) + " MB";
}
