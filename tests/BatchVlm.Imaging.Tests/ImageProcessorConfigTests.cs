// preprocessor_config.json binding: the supported processors with HF 4.46.1 defaults and get_size_dict forms, and a
// clear error naming the processor or option this engine cannot reproduce.
using BatchVlm.Imaging.Processing;
using BatchVlm.Imaging.Resampling;

namespace BatchVlm.Imaging.Tests;

public sealed class ImageProcessorConfigTests
{
    [Fact]
    public void Parse_OpenAiClipLegacyConfig_IntSizesAndFeatureExtractorName()
    {
        // openai/clip-vit-base-patch32 style: "CLIPFeatureExtractor", size and crop_size as ints.
        var c = ImageProcessorConfig.Parse("""
            {"crop_size":224,"do_center_crop":true,"do_normalize":true,"do_resize":true,"feature_extractor_type":"CLIPFeatureExtractor",
             "image_mean":[0.48145466,0.4578275,0.40821073],"image_std":[0.26862954,0.26130258,0.27577711],"resample":3,"size":224}
            """);
        Assert.Equal(ImageProcessorType.Clip, c.Type);
        Assert.Equal(new ResizeSpec(null, null, 224), c.Size);
        Assert.Equal((224, 224), c.CropSize);
        Assert.True(c.DoCenterCrop);
        Assert.True(c.DoRescale);
        Assert.Equal(1 / 255.0, c.RescaleFactor);
    }

    [Fact]
    public void Parse_PaliGemmaConfig_SiglipWithIgnoredProcessorKeys()
    {
        var c = ImageProcessorConfig.Parse("""
            {"do_convert_rgb":null,"do_normalize":true,"do_rescale":true,"do_resize":true,"image_mean":[0.5,0.5,0.5],
             "image_processor_type":"SiglipImageProcessor","image_seq_length":256,"image_std":[0.5,0.5,0.5],
             "processor_class":"PaliGemmaProcessor","resample":3,"rescale_factor":0.00392156862745098,"size":{"height":224,"width":224}}
            """);
        Assert.Equal(ImageProcessorType.Siglip, c.Type);
        Assert.Equal(new ResizeSpec(224, 224, null), c.Size);
        Assert.Null(c.DoConvertRgb);
        Assert.False(c.DoCenterCrop);
    }

    [Fact]
    public void Parse_BlipDefaults_Are384SquareWithClipStatistics()
    {
        var c = ImageProcessorConfig.Parse("""{"image_processor_type":"BlipImageProcessor"}""");
        Assert.Equal(new ResizeSpec(384, 384, null), c.Size);
        Assert.Equal(ResampleFilter.Bicubic, c.Resample);
        Assert.Equal([0.48145466, 0.4578275, 0.40821073], c.ImageMean);
        Assert.Equal(new ResizeSpec(300, 300, null), ImageProcessorConfig.Parse("""{"image_processor_type":"BlipImageProcessor","size":300}""").Size);
    }

    [Theory]
    [InlineData("""{"image_processor_type":"ViTImageProcessor"}""", "'ViTImageProcessor' is not supported")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessorFast"}""", "'SiglipImageProcessorFast' is not supported")]
    [InlineData("""{"do_resize":true}""", "neither image_processor_type nor feature_extractor_type")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","do_center_crop":true}""", "option 'do_center_crop' of SiglipImageProcessor is not supported")]
    [InlineData("""{"image_processor_type":"CLIPImageProcessor","do_pad":true}""", "option 'do_pad' of CLIPImageProcessor is not supported")]
    [InlineData("""{"image_processor_type":"CLIPImageProcessor","size":{"shortest_edge":224,"longest_edge":448}}""", "option 'size.longest_edge'")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","resample":0}""", "resample=0 (NEAREST)")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","resample":7}""", "resample=7")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","size":{"shortest_edge":224}}""", "needs size with 'height' and 'width'")]
    [InlineData("""{"image_processor_type":"BlipImageProcessor","image_mean":[0.5,0.5]}""", "option 'image_mean'")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","size":{"height":"224","width":224}}""", "option 'size.height' of SiglipImageProcessor must be an integer")]
    [InlineData("""{"image_processor_type":"CLIPImageProcessor","crop_size":224.5}""", "option 'crop_size' of CLIPImageProcessor must be an integer")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","resample":"bicubic"}""", "option 'resample' of SiglipImageProcessor must be an integer")]
    [InlineData("""{"image_processor_type":"SiglipImageProcessor","rescale_factor":"1/255"}""", "option 'rescale_factor' of SiglipImageProcessor must be a number")]
    [InlineData("""{"image_processor_type":"BlipImageProcessor","image_std":[0.5,"x",0.5]}""", "option 'image_std' of BlipImageProcessor must be a number")]
    public void Parse_Unsupported_ErrorNamesIt(string json, string expected)
    {
        var e = Assert.Throws<UnsupportedImageProcessorException>(() => ImageProcessorConfig.Parse(json));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Load_ModelFolderAndMissingFile_ResolveOrNamePath()
    {
        var dir = Directory.CreateTempSubdirectory("pp-");
        try
        {
            File.Copy(Fixtures.Path_("clip_preprocessor_config.json"), Path.Combine(dir.FullName, "preprocessor_config.json"));
            Assert.Equal(ImageProcessorType.Clip, ImageProcessorConfig.Load(dir.FullName).Type);
            var missing = Path.Combine(dir.FullName, "nope.json");
            Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => ImageProcessorConfig.Load(missing)).Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Preprocess_ParallelCallers_SameBytesAsSequential()
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_("clip_preprocessor_config.json"));
        var inputs = Fixtures.ImageNames.Select(f => Fixtures.Bytes("images", f)).ToArray();
        var sequential = inputs.Select(b => p.Preprocess(b)).ToArray();
        var parallel = new float[inputs.Length * 8][];
        Parallel.For(0, parallel.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = p.Preprocess(inputs[i % inputs.Length]));
        for (int i = 0; i < parallel.Length; i++) Assert.Equal(sequential[i % inputs.Length], parallel[i]);
    }
}
