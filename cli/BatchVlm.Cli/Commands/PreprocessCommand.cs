// `batchvlm preprocess --model DIR | --config preprocessor_config.json --images FILE... --output pixel_values.safetensors`:
// runs the model's Hugging Face image processor (engine/BatchVlm.Imaging, bit-identical with transformers 4.46.1 +
// Pillow 9.4) on the files in the order given and writes one float32 tensor `pixel_values` (N, 3, H, W).
// Exit codes: 0 written; 1 an image could not be decoded (every bad file is listed, nothing is written);
// 2 the processor config is missing or unsupported, or a native image library (libvips, libturbojpeg) is missing.
using System.CommandLine;
using System.Diagnostics;
using BatchVlm.Imaging;
using BatchVlm.Imaging.Processing;

namespace BatchVlm.Cli.Commands;

public static class PreprocessCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo?>("--model") { Description = "Model folder containing preprocessor_config.json" };
        var config = new Option<FileInfo?>("--config") { Description = "A preprocessor_config.json (instead of --model)" };
        var images = new Option<string[]>("--images")
        {
            Description = "Image files, in output order",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<FileInfo>("--output") { Description = "The safetensors file to write", Required = true };
        var threads = new Option<int>("--threads") { Description = "Decode/preprocess threads (default: processor count)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var shrink = new Option<bool>("--shrink-on-load")
        {
            Description = "JPEG DCT shrink-on-load before the exact resize (faster on large photos; not bit-identical with HF)",
        };
        var maxPixels = new Option<long>("--max-pixels")
        {
            Description = "Refuse images with more pixels (decompression-bomb guard)",
            DefaultValueFactory = _ => DecodeOptions.Default.MaxPixels,
        };
        var command = new Command("preprocess", "Turn image files into the model's pixel_values (N, 3, H, W) float32 safetensors");
        foreach (var o in new Option[] { model, config, images, output, threads, shrink, maxPixels }) command.Options.Add(o);
        command.SetAction(parse => Run(parse.GetValue(model), parse.GetValue(config), parse.GetValue(images)!, parse.GetValue(output)!,
            parse.GetValue(threads), parse.GetValue(shrink), parse.GetValue(maxPixels)));
        return command;
    }

    private static int Run(DirectoryInfo? model, FileInfo? config, string[] images, FileInfo output, int threads, bool shrink, long maxPixels)
    {
        if ((model is null) == (config is null))
        {
            Console.Error.WriteLine("preprocess: give exactly one of --model DIR or --config preprocessor_config.json");
            return 2;
        }
        ImageProcessor processor;
        try
        {
            var options = new ImageProcessorOptions { ShrinkOnLoad = shrink, Decode = new DecodeOptions { MaxPixels = maxPixels } };
            processor = ImageProcessor.FromConfig(model?.FullName ?? config!.FullName, options);
        }
        catch (Exception e) when (e is UnsupportedImageProcessorException or FileNotFoundException)
        {
            Console.Error.WriteLine($"preprocess: {e.Message}");
            return 2;
        }
        if (processor.FixedOutputSize is not { } size)
        {
            Console.Error.WriteLine($"preprocess: {processor.Config.TypeName} here has no fixed output size (no center crop), so the images cannot share one (N, 3, H, W) tensor");
            return 2;
        }
        var sw = Stopwatch.StartNew();
        var inputs = new ReadOnlyMemory<byte>[images.Length];
        var errors = new SortedDictionary<int, string>();
        for (int i = 0; i < images.Length; i++)
        {
            try { inputs[i] = File.ReadAllBytes(images[i]); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { errors[i] = $"{images[i]}: cannot read: {e.Message}"; }
        }
        var (h, w) = size;
        var pixels = new float[(long)images.Length * 3 * h * w];
        ImageDecodeException?[] decodeErrors;
        try { decodeErrors = processor.PreprocessBatch(inputs, pixels, Math.Max(1, threads)); }
        catch (BatchVlm.Imaging.Native.ImagingNativeLibraryException e)
        {
            Console.Error.WriteLine($"preprocess: {e.Message}");
            return 2;
        }
        for (int i = 0; i < decodeErrors.Length; i++)
            if (decodeErrors[i] is { } e && !errors.ContainsKey(i)) errors[i] = e.WithItem(images[i]).Message;
        if (errors.Count > 0)
        {
            foreach (var e in errors.Values) Console.Error.WriteLine($"preprocess: {e}");
            Console.Error.WriteLine($"preprocess: {errors.Count} of {images.Length} images failed; nothing written");
            return 1;
        }
        PixelValuesFile.Write(output.FullName, pixels, [images.Length, 3, h, w], metadata: new Dictionary<string, string>
        {
            ["image_processor_type"] = processor.Config.TypeName,
            ["shrink_on_load"] = shrink ? "true" : "false",
        });
        Console.WriteLine($"wrote pixel_values ({images.Length}, 3, {h}, {w}) float32 to {output.FullName} in {sw.Elapsed.TotalSeconds:F2} s");
        return 0;
    }
}
