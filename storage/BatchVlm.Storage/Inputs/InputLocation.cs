// Where a job's images come from (team/BRIEF.md "Input addresses"), parsed into an IBlobStore rooted at the
// container or folder plus either a prefix to list or an explicit list of keys:
//   az://container/prefix              the configured account (Storage:ConnectionString / Storage:AccountUrl)
//   https://acct.blob.core.windows.net/container/prefix?<sas>   any http(s) blob URL, Azurite path-style included
//   /some/folder  ./folder             a local folder (recursive)
//   @list.txt  or  list.txt            a manifest: one key (or path) per line
// A prefix names a folder: az://images/cats lists "cats/…" (not "catsanddogs/…"); end it with '*' for a raw name
// prefix (az://images/img_00*). Every blob under the prefix is an item — no filtering by extension, the decoder
// decides; only zero-length "folder marker" blobs (names ending in '/') are skipped (see AzureBlobStore.ListAsync).
//
// Manifests: blank lines and lines starting with '#' are ignored; '# base: <address>' (before the first entry) sets
// what entries are relative to — by default the manifest's own folder. An entry is a key relative to that base, or a
// full address (az://, URL) that lies inside it. An entry cannot reach outside its container or folder: '..',
// absolute paths, other accounts, hosts and containers are rejected with an error naming the file and line.
// Duplicate entries are kept once. Issue 2 item 9.
using System.Runtime.CompilerServices;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Storage.Inputs;

public enum InputKind
{
    /// <summary>az://container/prefix</summary>
    AzureContainer,
    /// <summary>http(s) blob URL</summary>
    BlobUrl,
    /// <summary>a local folder</summary>
    LocalFolder,
    /// <summary>a manifest file listing keys</summary>
    Manifest,
}

public sealed class InputLocation
{
    private InputLocation(InputKind kind, string address, IBlobStore store, string prefix, IReadOnlyList<string>? keys)
    {
        Kind = kind;
        Address = address;
        Store = store;
        Prefix = prefix;
        Keys = keys;
    }

    public InputKind Kind { get; }

    /// <summary>The address as given, with any secret (SAS signature) redacted: safe to log and store.</summary>
    public string Address { get; }

    /// <summary>Store rooted at the container (az, URL) or folder (local, manifest base); items' keys are relative to it.</summary>
    public IBlobStore Store { get; }

    /// <summary>Prefix to list inside <see cref="Store"/> ("" = everything); unused when <see cref="Keys"/> is set.</summary>
    public string Prefix { get; }

    /// <summary>The manifest's keys (relative to <see cref="Store"/>), or null for a listed prefix.</summary>
    public IReadOnlyList<string>? Keys { get; }

    /// <summary>The items of this input in listing order. Manifest entries are not looked up (a missing one fails as
    /// an item when fetched): their size is -1.</summary>
    public async IAsyncEnumerable<BlobItem> ListAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        if (Keys is not null)
        {
            foreach (var key in Keys)
            {
                ct.ThrowIfCancellationRequested();
                yield return new BlobItem(key, -1);
            }
            yield break;
        }
        await foreach (var item in Store.ListAsync(Prefix, ct).ConfigureAwait(false))
            yield return item;
    }

    /// <summary>Parse an input address (see the top of this file).</summary>
    /// <exception cref="FormatException">The address or a manifest line is invalid (the message names it and why).</exception>
    /// <exception cref="DirectoryNotFoundException">A local folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A manifest file does not exist.</exception>
    public static InputLocation Parse(string address, IConfiguration configuration, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        address = address.Trim();
        if (address.Length == 0)
            throw new FormatException("The input address is empty.");

        if (address.StartsWith('@'))
            return ParseManifest(address[1..], configuration, logger);
        if (address.StartsWith("az://", StringComparison.OrdinalIgnoreCase))
        {
            var (container, prefix) = BlobStores.SplitAz(address);
            return new InputLocation(InputKind.AzureContainer, address, BlobStores.Container(configuration, container, "", logger),
                FolderPrefix(prefix), null);
        }
        if (BlobStores.IsHttpUrl(address))
        {
            var url = new Uri(address);
            var (account, container, prefix) = BlobStores.ParseBlobUrl(url, configuration);
            var store = new AzureBlobStore(account, container, "", BlobStores.Options(configuration), logger: logger);
            return new InputLocation(InputKind.BlobUrl, Secrets.RedactUri(url), store, FolderPrefix(prefix), null);
        }
        if (File.Exists(address) && address.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
            return ParseManifest(address, configuration, logger);
        var folder = Path.GetFullPath(address);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Input '{address}' is neither az://container/prefix, a blob URL, a manifest (.txt / @file) "
                + "nor an existing folder.");
        return new InputLocation(InputKind.LocalFolder, folder, new LocalFolderStore(folder), "", null);
    }

    /// <summary>"cats" lists the folder "cats/"; "img_00*" is the raw prefix "img_00"; "" is everything.</summary>
    private static string FolderPrefix(string prefix)
    {
        if (prefix.EndsWith('*'))
            return prefix.TrimEnd('*');
        return prefix.Length == 0 || prefix.EndsWith('/') ? prefix : prefix + "/";
    }

    private static InputLocation ParseManifest(string path, IConfiguration configuration, ILogger? logger)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new FileNotFoundException($"Manifest '{path}' does not exist.", full);

        // Base: the manifest's folder unless '# base: <address>' says otherwise.
        IBlobStore? store = null;
        string basePrefix = "";
        string? baseContainerUrl = null;
        var keys = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in File.ReadLines(full))
        {
            lineNo++;
            var line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0)
                continue;
            if (line.StartsWith('#'))
            {
                var directive = line.TrimStart('#').Trim();
                if (directive.StartsWith("base:", StringComparison.OrdinalIgnoreCase))
                {
                    if (store is not null)
                        throw Bad(path, lineNo, line, "'# base:' must come before the first entry");
                    var baseAddress = directive["base:".Length..].Trim();
                    (store, basePrefix, baseContainerUrl) = OpenBase(baseAddress, full, configuration, logger, path, lineNo);
                }
                continue;
            }
            if (store is null)
                (store, basePrefix, baseContainerUrl) = OpenBase(Path.GetDirectoryName(full)!, full, configuration, logger, path, lineNo);

            var key = ResolveEntry(line, store, basePrefix, baseContainerUrl, configuration, path, lineNo);
            if (seen.Add(key))
                keys.Add(key);
        }
        store ??= new LocalFolderStore(Path.GetDirectoryName(full)!);
        return new InputLocation(InputKind.Manifest, full, store, "", keys);
    }

    private static (IBlobStore Store, string Prefix, string? ContainerUrl) OpenBase(string baseAddress, string manifest,
        IConfiguration configuration, ILogger? logger, string path, int lineNo)
    {
        try
        {
            if (baseAddress.StartsWith("az://", StringComparison.OrdinalIgnoreCase))
            {
                var (container, prefix) = BlobStores.SplitAz(baseAddress);
                var store = BlobStores.Container(configuration, container, "", logger);
                return (store, FolderPrefix(prefix), ContainerUrl(store));
            }
            if (BlobStores.IsHttpUrl(baseAddress))
            {
                var (account, container, prefix) = BlobStores.ParseBlobUrl(new Uri(baseAddress), configuration);
                var store = new AzureBlobStore(account, container, "", BlobStores.Options(configuration), logger: logger);
                return (store, FolderPrefix(prefix), ContainerUrl(store));
            }
            var folder = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(manifest)!, baseAddress));
            if (!Directory.Exists(folder))
                throw new DirectoryNotFoundException($"folder '{folder}' does not exist");
            return (new LocalFolderStore(folder), "", null);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or DirectoryNotFoundException or InvalidOperationException or UriFormatException)
        {
            throw Bad(path, lineNo, "# base: " + Secrets.Redact(baseAddress), e.Message, e);
        }
    }

    private static string ContainerUrl(AzureBlobStore store) => $"{store.Account.BlobEndpoint}/{store.Container}".ToLowerInvariant();

    private static string ResolveEntry(string entry, IBlobStore store, string basePrefix, string? baseContainerUrl,
        IConfiguration configuration, string path, int lineNo)
    {
        string relative;
        if (entry.StartsWith("az://", StringComparison.OrdinalIgnoreCase) || BlobStores.IsHttpUrl(entry))
        {
            if (baseContainerUrl is null || store is not AzureBlobStore azure)
                throw Bad(path, lineNo, entry, $"a blob address cannot appear in a manifest whose base is the folder {store.Describe()}");
            string container, key, entryContainerUrl;
            try
            {
                if (entry.StartsWith("az://", StringComparison.OrdinalIgnoreCase))
                {
                    (container, key) = BlobStores.SplitAz(entry);
                    var configured = BlobStores.ConfiguredAccount(configuration);
                    entryContainerUrl = $"{configured?.BlobEndpoint}/{container}".ToLowerInvariant();
                }
                else
                {
                    var (account, c, k) = BlobStores.ParseBlobUrl(new Uri(entry), configuration);
                    (container, key) = (c, k);
                    entryContainerUrl = $"{account.BlobEndpoint}/{c}".ToLowerInvariant();
                }
            }
            catch (Exception e) when (e is FormatException or ArgumentException or UriFormatException or InvalidOperationException)
            {
                throw Bad(path, lineNo, Secrets.Redact(entry), e.Message, e);
            }
            if (entryContainerUrl != baseContainerUrl)
                throw Bad(path, lineNo, Secrets.Redact(entry), $"it is in another account or container than the manifest's base ({azure.Describe()})");
            if (!key.StartsWith(basePrefix, StringComparison.Ordinal))
                throw Bad(path, lineNo, Secrets.Redact(entry), $"it is outside the manifest's base folder '{basePrefix}'");
            relative = key[basePrefix.Length..];
        }
        else
        {
            relative = entry; // a '\' is rejected by BlobKey below
            if (Path.IsPathRooted(entry) || entry.StartsWith('~'))
                throw Bad(path, lineNo, entry, "it is an absolute path; entries are keys relative to the manifest's base");
        }
        var problem = BlobKey.Problem(relative);
        if (problem is not null)
            throw Bad(path, lineNo, Secrets.Redact(entry), problem);
        var full = basePrefix + relative;
        if (store is LocalFolderStore local)
            _ = local.GetPath(full); // resolves and re-checks that the path stays inside the folder
        return full;
    }

    private static FormatException Bad(string manifest, int line, string entry, string reason, Exception? inner = null)
        => new($"Manifest {manifest}, line {line}: '{entry}' is not allowed: {reason}.", inner);
}
