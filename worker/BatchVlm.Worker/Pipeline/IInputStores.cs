// Resolves a job's credential-free input address (az://container/prefix, an http(s) blob URL without its SAS, a local
// folder) to a blob store, with credentials taken from this process's own configuration — never from the message.
using BatchVlm.Storage.Blobs;

namespace BatchVlm.Worker.Pipeline;

public interface IInputStores
{
    /// <summary>The store rooted at <paramref name="inputAddress"/>. Throws ArgumentException when the address cannot
    /// be used here (unknown scheme, missing credentials): a permanent failure for the shard.</summary>
    IBlobStore Open(string inputAddress);
}
