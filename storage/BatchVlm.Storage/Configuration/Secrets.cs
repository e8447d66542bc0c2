// Keeps credentials out of logs and error messages (issue 2 item 9). Two layers:
//  1. patterns: connection-string fields (AccountKey=, Password=, SharedAccessSignature=, ...), JSON fields of the
//     same names, SAS `sig=` query values, `Bearer <token>`, `SharedKey account:<signature>`, URI user:password@;
//  2. exact values registered at start-up (BatchVlmConfiguration.Build registers every secret it finds in the
//     configuration), also in their URL-encoded form, so a password is removed even where no pattern frames it.
// Use Secrets.Redact on any text that may carry configuration before it reaches a log, an exception or the console.
using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Storage.Configuration;

public static partial class Secrets
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Mask = "***";

    /// <summary>Registered values shorter than this are ignored (replacing "a" everywhere would wreck the text).</summary>
    public const int MinimumRegisteredLength = 6;

    private static readonly ConcurrentDictionary<string, byte> s_registered = new(StringComparer.Ordinal);

    // Field names whose values are secrets, in connection strings ("Name=value;") and JSON ("Name": "value").
    private const string SecretFields =
        "AccountKey|Password|Pwd|SharedAccessKey|SharedAccessSignature|ClientSecret|Secret|AccessToken|SasToken|Sas|Token|Key";

    [GeneratedRegex(@"(?<name>\b(?:" + SecretFields + @"))\s*=\s*(?<value>'[^']*'|""[^""]*""|[^;\s""']+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ConnectionStringField();

    [GeneratedRegex(@"(?<name>""(?:" + SecretFields + @"|ConnectionString)""\s*:\s*)""(?<value>(?:[^""\\]|\\.)*)""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex JsonField();

    [GeneratedRegex(@"(?<name>(?:[?&;]|\b)sig=)(?<value>[^&\s""';<>]+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SasSignature();

    [GeneratedRegex(@"(?<name>\bBearer\s+)(?<value>[A-Za-z0-9\-._~+/]+=*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex BearerToken();

    [GeneratedRegex(@"(?<name>\bSharedKey(?:Lite)?\s+[^:\s]+:)(?<value>[A-Za-z0-9+/=]+)", RegexOptions.CultureInvariant)]
    private static partial Regex SharedKeyHeader();

    [GeneratedRegex(@"(?<name>\b[a-z][a-z0-9+.\-]*://[^:/?#@\s]+:)(?<value>[^@/?#\s]+)(?=@)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UriPassword();

    /// <summary>Register a secret value so that <see cref="Redact"/> removes it wherever it appears.</summary>
    public static void Register(string? secret)
    {
        if (string.IsNullOrEmpty(secret) || secret.Length < MinimumRegisteredLength)
            return;
        s_registered.TryAdd(secret, 0);
        var escaped = Uri.EscapeDataString(secret);
        if (escaped != secret)
            s_registered.TryAdd(escaped, 0);
    }

    /// <summary>Register every secret in <paramref name="configuration"/>: values of keys named like a secret
    /// (Password, AccountKey, Secret, Token, Sas...) and the secret fields inside every connection string.</summary>
    public static void RegisterFrom(IConfiguration configuration)
    {
        foreach (var (key, value) in configuration.AsEnumerable())
        {
            if (string.IsNullOrEmpty(value))
                continue;
            var leaf = key[(key.LastIndexOf(':') + 1)..];
            if (IsSecretName(leaf))
                Register(value);
            if (leaf.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("ConnectionStrings:", StringComparison.OrdinalIgnoreCase)
                || value.Contains('='))
                RegisterConnectionStringSecrets(value);
        }
    }

    /// <summary>Register the secret fields of a connection string (AccountKey, Password, SharedAccessSignature and its sig).</summary>
    public static void RegisterConnectionStringSecrets(string connectionString)
    {
        foreach (Match m in ConnectionStringField().Matches(connectionString))
        {
            var value = m.Groups["value"].Value.Trim('\'', '"');
            Register(value);
            foreach (Match sig in SasSignature().Matches(value))
                Register(Uri.UnescapeDataString(sig.Groups["value"].Value));
        }
    }

    /// <summary>Whether a configuration key's last segment names a secret.</summary>
    public static bool IsSecretName(string name) =>
        name.Equals("Password", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Pwd", StringComparison.OrdinalIgnoreCase)
        || name.EndsWith("Key", StringComparison.OrdinalIgnoreCase)
        || name.Contains("Secret", StringComparison.OrdinalIgnoreCase)
        || name.Contains("Token", StringComparison.OrdinalIgnoreCase)
        || name.Contains("Sas", StringComparison.OrdinalIgnoreCase)
        || name.Contains("SharedAccessSignature", StringComparison.OrdinalIgnoreCase);

    /// <summary>Text with every recognisable or registered secret replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return text ?? string.Empty;
        var result = text;
        foreach (var secret in s_registered.Keys.OrderByDescending(s => s.Length))
        {
            if (result.Contains(secret, StringComparison.Ordinal))
                result = result.Replace(secret, Mask, StringComparison.Ordinal);
        }
        result = ConnectionStringField().Replace(result, m => m.Groups["name"].Value + "=" + Mask);
        result = JsonField().Replace(result, m => m.Groups["name"].Value + "\"" + Mask + "\"");
        result = SasSignature().Replace(result, m => m.Groups["name"].Value + Mask);
        result = BearerToken().Replace(result, m => m.Groups["name"].Value + Mask);
        result = SharedKeyHeader().Replace(result, m => m.Groups["name"].Value + Mask);
        result = UriPassword().Replace(result, m => m.Groups["name"].Value + Mask);
        return result;
    }

    /// <summary>A URI fit for logs: the query (which may hold a SAS) and any user info are dropped.</summary>
    public static string RedactUri(Uri uri)
    {
        var builder = new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty, Query = string.Empty };
        var text = builder.Uri.GetLeftPart(UriPartial.Path);
        return uri.Query.Length > 1 ? text + "?" + Mask : text;
    }
}
