// PaliGemma's text side outside the network: the processor's prompt layout (transformers 4.46.1
// models/paligemma/processing_paligemma.py, build_string_from_input and __call__ with/without suffix) and the
// parsing of detection outputs, `<locYYYY><locXXXX><locYYYY><locXXXX> label ; ...` (the big_vision PaliGemma demo's
// _SEGMENT_DETECT_RE / extract_objs: coordinates y_min, x_min, y_max, x_max in 1024 bins of the image side).
// Pure functions; the tokenizer is passed in as ids so this file does not depend on one.
using System.Globalization;
using System.Text.RegularExpressions;

namespace BatchVlm.Engine.Models;

public static class PaliGemmaProcessor
{
    public const string ImageToken = "<image>";

    /// <summary>The prompt string the HF processor tokenizes: <c>"&lt;image&gt;" × n + bos + prompt + "\n"</c>, tokenized as one
    /// string with add_bos/add_eos off.</summary>
    public static string BuildPromptText(string prompt, int imageSeqLength, string bosToken = "<bos>")
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (imageSeqLength < 0) throw new ArgumentOutOfRangeException(nameof(imageSeqLength), $"imageSeqLength {imageSeqLength} < 0");
        return string.Concat(Enumerable.Repeat(ImageToken, imageSeqLength)) + bosToken + prompt + "\n";
    }

    /// <summary>Ids for generation: image tokens × n, bos, then the ids of <c>prompt + "\n"</c> (tokenized together, without
    /// special tokens — exactly what the tokenizer gives for the tail of <see cref="BuildPromptText"/>).</summary>
    public static int[] BuildInputIds(ReadOnlySpan<int> promptAndNewlineIds, int imageSeqLength, int imageTokenId, int bosTokenId)
    {
        if (imageSeqLength < 0) throw new ArgumentOutOfRangeException(nameof(imageSeqLength), $"imageSeqLength {imageSeqLength} < 0");
        var ids = new int[imageSeqLength + 1 + promptAndNewlineIds.Length];
        ids.AsSpan(0, imageSeqLength).Fill(imageTokenId);
        ids[imageSeqLength] = bosTokenId;
        promptAndNewlineIds.CopyTo(ids.AsSpan(imageSeqLength + 1));
        return ids;
    }

    /// <summary>The training layout with a suffix (processor's <c>suffix=</c>): prefix ids, then the suffix ids + eos;
    /// token_type_ids 0 on the prefix and 1 on the suffix; labels = ids with -100 where token_type_ids is 0.</summary>
    public static (int[] Ids, int[] TokenTypeIds, int[] Labels) BuildTrainingIds(
        ReadOnlySpan<int> promptAndNewlineIds, ReadOnlySpan<int> suffixIds, int imageSeqLength, int imageTokenId, int bosTokenId, int eosTokenId)
    {
        var prefix = BuildInputIds(promptAndNewlineIds, imageSeqLength, imageTokenId, bosTokenId);
        int n = prefix.Length + suffixIds.Length + 1;
        var ids = new int[n];
        var types = new int[n];
        var labels = new int[n];
        prefix.CopyTo(ids, 0);
        suffixIds.CopyTo(ids.AsSpan(prefix.Length));
        ids[n - 1] = eosTokenId;
        for (int i = 0; i < n; i++)
        {
            types[i] = i < prefix.Length ? 0 : 1;
            labels[i] = types[i] == 0 ? -100 : ids[i];
        }
        return (ids, types, labels);
    }
}

/// <summary>One detected object in original-image pixel coordinates (x to the right, y down, from the top-left corner).</summary>
/// <param name="Label">the text after the four location tokens, trimmed; "" when the model wrote none</param>
/// <param name="Segmentation">the 16 <c>&lt;segNNN&gt;</c> codes when the output carried a mask, else null</param>
public sealed record DetectedBox(string Label, double XMin, double YMin, double XMax, double YMax, int[]? Segmentation = null);

public static partial class PaliGemmaDetection
{
    // One instance: optional text, 4 locs, optional 16 segs, optional label, optional "; " separator (big_vision demo).
    [GeneratedRegex(@"\G(.*?)<loc(\d{4})><loc(\d{4})><loc(\d{4})><loc(\d{4})>\s*(?:((?:<seg\d{3}>){16}))?\s*([^;<>]+)? ?(?:; )?", RegexOptions.Singleline)]
    private static partial Regex Instance();

    [GeneratedRegex(@"<seg(\d{3})>")]
    private static partial Regex Seg();

    /// <summary>
    /// Parses a decoded detection output into boxes. Location token value v (0–1023) maps to v / 1024 of the image side:
    /// y = v / 1024 · height, x = v / 1024 · width (as the PaliGemma demo, without its rounding to whole pixels).
    /// Text that is not part of an instance is skipped; an output without location tokens gives no boxes.
    /// </summary>
    public static IReadOnlyList<DetectedBox> Parse(string text, int imageWidth, int imageHeight)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (imageWidth <= 0 || imageHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(imageWidth), $"image size {imageWidth}x{imageHeight} must be positive");
        var boxes = new List<DetectedBox>();
        int at = 0;
        text = text.TrimStart('\n');
        while (at < text.Length)
        {
            var m = Instance().Match(text, at);
            if (!m.Success || m.Length == 0) break;
            double Loc(int g) => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture) / 1024.0;
            double y1 = Loc(2) * imageHeight, x1 = Loc(3) * imageWidth, y2 = Loc(4) * imageHeight, x2 = Loc(5) * imageWidth;
            int[]? seg = m.Groups[6].Success
                ? Seg().Matches(m.Groups[6].Value).Select(s => int.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray()
                : null;
            string label = m.Groups[7].Success ? m.Groups[7].Value.Trim() : "";
            boxes.Add(new DetectedBox(label, x1, y1, x2, y2, seg));
            at = m.Index + m.Length;
        }
        return boxes;
    }

    /// <summary>The <c>detect</c> prompt for several classes: <c>"detect cat ; dog"</c>.</summary>
    public static string DetectPrompt(IEnumerable<string> labels)
    {
        var list = labels.Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (list.Count == 0) throw new ArgumentException("detect needs at least one label");
        return "detect " + string.Join(" ; ", list);
    }
}
