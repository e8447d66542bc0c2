// PaliGemma's prompt layout (against the processor-built ids in tests/fixtures/paligemma-tiny) and the parsing of
// `<locNNNN>` detection outputs into boxes in original-image pixels.
using BatchVlm.Engine.Models;

namespace BatchVlm.Engine.Tests.Models;

public sealed class PaliGemmaProcessorTests
{
    [Fact]
    public void BuildTrainingIds_MatchesProcessorLayoutOfFixture()
    {
        var f = GemmaFixture.Open("paligemma-tiny");
        var ids = f.InputIds2D("suffix.input_ids");
        var types = f.InputIds2D("suffix.token_type_ids");
        var labels = f.InputIds2D("suffix.labels");
        var prefixIds = f.InputIds2D("prefix.input_ids");
        for (int b = 0; b < 2; b++)
        {
            // 16 image tokens, bos, 6 prompt ids + "\n" (108); suffix 4 ids + eos
            var prompt = Enumerable.Range(17, 7).Select(j => (int)ids[b, j]).ToArray();
            var suffix = Enumerable.Range(24, 4).Select(j => (int)ids[b, j]).ToArray();
            var prefix = PaliGemmaProcessor.BuildInputIds(prompt, 16, 508, 2);
            Assert.Equal(Enumerable.Range(0, 24).Select(j => (int)prefixIds[b, j]), prefix);
            var (tIds, tTypes, tLabels) = PaliGemmaProcessor.BuildTrainingIds(prompt, suffix, 16, 508, 2, 1);
            Assert.Equal(Enumerable.Range(0, 29).Select(j => (int)ids[b, j]), tIds);
            Assert.Equal(Enumerable.Range(0, 29).Select(j => (int)types[b, j]), tTypes);
            Assert.Equal(Enumerable.Range(0, 29).Select(j => (int)labels[b, j]), tLabels);
        }
    }

    [Fact]
    public void BuildIds_MatchRealProcessorCases()
    {
        // tests/fixtures/paligemma-processor: PaliGemmaProcessor outputs (stand-in tokenizer; <image> 3783, bos 2, eos 1).
        var path = Path.Combine(GemmaFixture.Dir("paligemma-processor"), "processor_cases.jsonl");
        int checkedCases = 0;
        foreach (var line in File.ReadLines(path))
        {
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            var c = doc.RootElement;
            int n = c.GetProperty("image_seq_length").GetInt32();
            var ids = c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            bool hasSuffix = c.TryGetProperty("token_type_ids", out var ttElement);
            var tt = hasSuffix ? ttElement.EnumerateArray().Select(e => e.GetInt32()).ToArray() : null;
            int prefixLength = tt?.Count(x => x == 0) ?? ids.Length;
            var tail = ids.AsSpan(n + 1, prefixLength - n - 1);
            Assert.Equal(ids.Take(prefixLength), PaliGemmaProcessor.BuildInputIds(tail, n, 3783, 2));
            if (hasSuffix)
            {
                var labels = c.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                var (tIds, tTypes, tLabels) = PaliGemmaProcessor.BuildTrainingIds(tail, ids.AsSpan(prefixLength, ids.Length - prefixLength - 1), n, 3783, 2, 1);
                Assert.Equal(ids, tIds);
                Assert.Equal(tt!, tTypes);
                Assert.Equal(labels, tLabels);
            }
            checkedCases++;
        }
        Assert.Equal(9, checkedCases);
    }

    [Fact]
    public void BuildPromptText_ImageTokensBosPromptNewline()
    {
        Assert.Equal("<image><image><bos>caption en\n", PaliGemmaProcessor.BuildPromptText("caption en", 2));
    }

    [Fact]
    public void Parse_TwoLabelledBoxes_ScalesBinsToImagePixels()
    {
        var boxes = PaliGemmaDetection.Parse("<loc0256><loc0128><loc0768><loc0512> cat ; <loc0000><loc0000><loc1023><loc1023> dog", 640, 480);
        Assert.Equal(2, boxes.Count);
        Assert.Equal(new DetectedBox("cat", 128 / 1024.0 * 640, 256 / 1024.0 * 480, 512 / 1024.0 * 640, 768 / 1024.0 * 480), boxes[0]);
        Assert.Equal("dog", boxes[1].Label);
        Assert.Equal(0, boxes[1].XMin);
        Assert.Equal(1023 / 1024.0 * 480, boxes[1].YMax, 9);
    }

    [Fact]
    public void Parse_SegmentTokensAndUnlabelledBox()
    {
        string segs = string.Concat(Enumerable.Range(0, 16).Select(i => $"<seg{i * 7:000}>"));
        var boxes = PaliGemmaDetection.Parse($"<loc0100><loc0200><loc0300><loc0400>{segs} person ; <loc0001><loc0002><loc0003><loc0004>", 1024, 1024);
        Assert.Equal(2, boxes.Count);
        Assert.Equal("person", boxes[0].Label);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * 7), boxes[0].Segmentation!);
        Assert.Equal(new DetectedBox("", 2, 1, 4, 3), boxes[1]);
    }

    [Fact]
    public void Parse_TextWithoutLocations_GivesNoBoxes()
    {
        Assert.Empty(PaliGemmaDetection.Parse("a cat on a mat", 100, 100));
        Assert.Empty(PaliGemmaDetection.Parse("<loc0001><loc0002> cat", 100, 100));
    }

    [Fact]
    public void Parse_BadImageSize_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PaliGemmaDetection.Parse("", 0, 10));
    }

    [Fact]
    public void DetectPrompt_JoinsLabels()
    {
        Assert.Equal("detect cat ; dog", PaliGemmaDetection.DetectPrompt(["cat", " dog "]));
        Assert.Throws<ArgumentException>(() => PaliGemmaDetection.DetectPrompt([" "]));
    }
}
