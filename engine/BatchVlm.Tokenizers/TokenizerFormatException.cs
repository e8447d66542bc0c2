// The one error type for tokenizer files that cannot be used: it names the file, the field (a JSON path such as
// `$.model.vocab[12]`, or a protobuf path such as `ModelProto.pieces[3].type`) and the reason. Permanent: retrying
// the same file gives the same error.
namespace BatchVlm.Tokenizers;

public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string source, string field, string reason, Exception? inner = null)
        : base($"Invalid tokenizer file '{source}' at {field}: {reason}", inner)
    {
        SourceFile = source;
        Field = field;
        Reason = reason;
    }

    /// <summary>The file (or folder) that was being read.</summary>
    public string SourceFile { get; }
    /// <summary>Path of the offending field: `$.model.merges[3]`, `ModelProto.trainer_spec.unk_id`.</summary>
    public string Field { get; }
    public string Reason { get; }
}
