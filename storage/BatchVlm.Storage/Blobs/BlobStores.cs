// Opening blob stores from configuration and from addresses, so every command resolves `az://container/prefix`,
// blob URLs (with or without SAS) and local folders the same way. Configuration keys (section "Storage", see
// BlobStorageOptions): Storage:ConnectionString (written by `./batchvlm stack up`) or Storage:AccountUrl (Azure AD).
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Storage.Blobs;

public static class BlobStores
{
    /// <summary>The "Storage" section bound to <see cref="BlobStorageOptions"/> (defaults where absent).</summary>
    public static BlobStorageOptions Options(IConfiguration configuration)
        => configuration.GetSection(BlobStorageOptions.SectionName).Get<BlobStorageOptions>() ?? new BlobStorageOptions();

    /// <summary>The configured storage account: Storage:ConnectionString, else Storage:AccountUrl with
    /// DefaultAzureCredential; null when neither is set.</summary>
    public static BlobAccount? ConfiguredAccount(IConfiguration configuration)
    {
        var options = Options(configuration);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
            return BlobAccount.Parse(options.ConnectionString);
        if (!string.IsNullOrWhiteSpace(options.AccountUrl))
            return BlobAccount.FromAccountUrl(new Uri(options.AccountUrl));
        return null;
    }

    /// <summary>A store for a container of the configured account.</summary>
    /// <exception cref="InvalidOperationException">No account is configured.</exception>
    public static AzureBlobStore Container(IConfiguration configuration, string container, string rootPrefix = "", ILogger? logger = null)
    {
        var account = ConfiguredAccount(configuration) ?? throw NotConfigured($"az://{container}");
        return new AzureBlobStore(account, container, rootPrefix, Options(configuration), logger: logger);
    }

    /// <summary>A store rooted at an address: <c>az://container[/prefix]</c>, a blob URL
    /// <c>http(s)://…/container[/prefix][?sas]</c>, or a local folder (not required to exist). The prefix becomes the
    /// store's root folder, so keys written are relative to it.</summary>
    public static IBlobStore Open(string address, IConfiguration configuration, ILogger? logger = null)
    {
        if (address.StartsWith("az://", StringComparison.OrdinalIgnoreCase))
        {
            var (container, prefix) = SplitAz(address);
            return Container(configuration, container, prefix, logger);
        }
        if (IsHttpUrl(address))
        {
            var (account, container, prefix) = ParseBlobUrl(new Uri(address), configuration);
            return new AzureBlobStore(account, container, prefix, Options(configuration), logger: logger);
        }
        return new LocalFolderStore(address);
    }

    /// <summary>Split <c>az://container/prefix</c> into its container and (possibly empty) prefix.</summary>
    public static (string Container, string Prefix) SplitAz(string address)
    {
        var rest = address["az://".Length..];
        var slash = rest.IndexOf('/');
        var container = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (container.Length == 0)
            throw new FormatException($"'{address}' names no container (expected az://container/prefix).");
        AzureBlobStore.ValidateContainerName(container);
        BlobKey.ValidatePrefix(prefix.TrimEnd('*'));
        return (container, prefix);
    }

    public static bool IsHttpUrl(string address)
        => address.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || address.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Account, container and prefix of a blob URL. Path-style URLs (IP address or localhost, as Azurite uses)
    /// carry the account as the first path segment. Credential: the URL's SAS when it has one (a <c>sig</c>
    /// parameter); else the configured account's when it is the same account at the same endpoint; else an Azure AD
    /// token for https (DefaultAzureCredential) or anonymous for http.</summary>
    public static (BlobAccount Account, string Container, string Prefix) ParseBlobUrl(Uri url, IConfiguration configuration)
    {
        string accountName, container, prefix;
        Uri endpoint;
        if (BlobAccount.IsPathStyle(url))
        {
            var parts = Uri.UnescapeDataString(url.AbsolutePath).TrimStart('/').Split('/', 3);
            if (parts.Length < 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new FormatException($"'{Configuration.Secrets.RedactUri(url)}' is not a path-style blob URL (expected http://host:port/account/container/prefix).");
            accountName = parts[0];
            container = parts[1];
            prefix = parts.Length > 2 ? parts[2] : "";
            endpoint = new Uri($"{url.Scheme}://{url.Authority}/{accountName}");
        }
        else
        {
            accountName = url.Host.Split('.')[0];
            var segments = Uri.UnescapeDataString(url.AbsolutePath).TrimStart('/').Split('/', 2);
            if (segments[0].Length == 0)
                throw new FormatException($"'{Configuration.Secrets.RedactUri(url)}' names no container (expected https://account.blob.core.windows.net/container/prefix).");
            container = segments[0];
            prefix = segments.Length > 1 ? segments[1] : "";
            endpoint = new Uri($"{url.Scheme}://{url.Authority}");
        }
        AzureBlobStore.ValidateContainerName(container);
        BlobKey.ValidatePrefix(prefix.TrimEnd('*'));

        BlobCredential credential;
        var query = url.Query.TrimStart('?');
        var configured = ConfiguredAccount(configuration);
        if (SharedKeyCredential.ParseQuery(query).ContainsKey("sig"))
            credential = new SasCredential(query);
        else if (configured is not null && configured.Name == accountName
                 && Uri.Compare(configured.BlobEndpoint, endpoint, UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0)
            credential = configured.Credential;
        else if (url.Scheme == Uri.UriSchemeHttps)
            credential = new TokenBlobCredential(BlobAccount.DefaultTokenCredential);
        else
            credential = AnonymousBlobCredential.Instance;
        return (new BlobAccount(accountName, endpoint, credential), container, prefix);
    }

    private static InvalidOperationException NotConfigured(string address)
        => new($"'{address}' needs a storage account: set Storage:ConnectionString (`./batchvlm stack up` writes one for "
               + "the local Azurite; or BATCHVLM_Storage__ConnectionString) or Storage:AccountUrl for Azure AD sign-in.");
}
