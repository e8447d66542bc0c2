// `batchvlm tokenize --tokenizer PATH --input cases.jsonl --output out.jsonl`: runs a checkpoint's tokenizer
// (engine/BatchVlm.Tokenizers: tokenizer.json, SentencePiece .model, vocab.json+merges.txt or vocab.txt, with
// tokenizer_config.json beside it) over each input line's "text" and writes one JSON line per input line:
// {"case"?, "ids", "ids_no_special", "decoded"} — ids with the special tokens the model's Hugging Face tokenizer adds by
// default, ids without them, and the decode of `ids` skipping special tokens. A "case" field is copied through.
// PATH is the tokenizer folder or one of those files; "-" reads stdin / writes stdout.
// Exit codes: 0 all lines written; 1 an input line is not a JSON object with a string "text" (the line is named,
// nothing after it is written); 2 the tokenizer could not be loaded (the message names the file and field).
using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BatchVlm.Tokenizers;

namespace BatchVlm.Cli.Commands;

public static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder, or its tokenizer.json / .model / vocab file", Required = true };
        var input = new Option<string>("--input") { Description = "JSON lines with a \"text\" field (- = stdin)", Required = true };
        var output = new Option<string>("--output") { Description = "JSON lines to write (- = stdout)", Required = true };
        var command = new Command("tokenize", "Tokenize JSON lines with a checkpoint's tokenizer: ids, ids_no_special, decoded");
        foreach (var o in new Option[] { tokenizer, input, output }) command.Options.Add(o);
        command.SetAction(parse => Run(parse.GetValue(tokenizer)!, parse.GetValue(input)!, parse.GetValue(output)!));
        return command;
    }

    private static int Run(string tokenizerPath, string inputPath, string outputPath)
    {
        Tokenizer tok;
        try { tok = Tokenizer.FromFile(tokenizerPath); }
        catch (Exception e) when (e is TokenizerFormatException or FileNotFoundException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"tokenize: {e.Message}");
            return 2;
        }
        var jsonOptions = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using var reader = inputPath == "-" ? new StreamReader(Console.OpenStandardInput(), Encoding.UTF8) : new StreamReader(inputPath, Encoding.UTF8);
        using var outStream = outputPath == "-" ? Console.OpenStandardOutput() : File.Create(outputPath);
        using var writer = new Utf8JsonWriter(outStream, jsonOptions);
        string? line;
        int lineNo = 0, written = 0;
        while ((line = reader.ReadLine()) != null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            string text;
            JsonElement? caseId = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                {
                    Console.Error.WriteLine($"tokenize: {inputPath} line {lineNo}: expected a JSON object with a string \"text\" field");
                    return 1;
                }
                text = t.GetString()!;
                if (doc.RootElement.TryGetProperty("case", out var c)) caseId = c.Clone();
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                Console.Error.WriteLine($"tokenize: {inputPath} line {lineNo}: invalid JSON: {e.Message}");
                return 1;
            }
            var ids = tok.Encode(text, addSpecialTokens: true);
            var noSpecial = tok.Encode(text, addSpecialTokens: false);
            string decoded = tok.Decode(ids, skipSpecialTokens: true);
            writer.Reset();
            writer.WriteStartObject();
            if (caseId is { } cid) { writer.WritePropertyName("case"); cid.WriteTo(writer); }
            writer.WriteStartArray("ids");
            foreach (int id in ids) writer.WriteNumberValue(id);
            writer.WriteEndArray();
            writer.WriteStartArray("ids_no_special");
            foreach (int id in noSpecial) writer.WriteNumberValue(id);
            writer.WriteEndArray();
            writer.WriteString("decoded", decoded);
            writer.WriteEndObject();
            writer.Flush();
            outStream.WriteByte((byte)'\n');
            written++;
        }
        Console.Error.WriteLine($"tokenize: {written} lines with {tok.Description}");
        return 0;
    }
}
