// Turns a user's --input into (a credential-free store address, the item keys) for submit/run, and a job's address
// back into a blob store for the worker (IInputStores). The address syntax (az://, https blob URLs with SAS, local
// folders, manifests) and the manifest safety rules belong to BatchVlm.Storage.Inputs.InputLocation.
// What a job records and sends is the input store's root, IBlobStore.Describe(): a container URL without any SAS
// (http://127.0.0.1:10009/devstoreaccount1/images/) or a folder path; keys are relative to that root. A worker opens
// it with BlobStores.Open and its *own* configuration: the configured account's key for the same account and
// endpoint, else Azure AD (DefaultAzureCredential) for https. A SAS given to `submit` is used for listing only and
// never leaves the submitting process.
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Inputs;
using BatchVlm.Worker.Pipeline;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Cli.Commands.Hosting;

/// <summary>A listed input: the store root jobs record and send (no credentials), the sorted item keys, and the
/// input as the user wrote it with secrets redacted (for messages).</summary>
public sealed record InputListing(string Address, IReadOnlyList<string> Keys, string DisplayAddress);

public sealed class InputResolver(IConfiguration configuration) : IInputStores
{
    public async Task<InputListing> ListAsync(string input, CancellationToken ct)
    {
        var location = InputLocation.Parse(input, configuration);
        var keys = new List<string>();
        await foreach (var item in location.ListAsync(ct))
            keys.Add(item.Key);
        keys.Sort(StringComparer.Ordinal);
        return new InputListing(location.Store.Describe(), keys, location.Address);
    }

    public IBlobStore Open(string inputAddress) => BlobStores.Open(inputAddress, configuration);
}
