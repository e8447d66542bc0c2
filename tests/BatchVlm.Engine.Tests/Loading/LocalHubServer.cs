// A local stand-in for the Hugging Face hub (the real one is unreachable here), serving model folders the way the
// hub's resolve endpoint does (observed behaviour of huggingface.co, as huggingface_hub 0.26.2 consumes it):
//   HEAD/GET /ORG/NAME/resolve/REV/FILE
//     regular file: 200, ETag "<git blob sha1>", X-Repo-Commit, Content-Length (+ body on GET)
//     LFS file (*.safetensors): 302 to the CDN with X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit, Location
//     missing file: 404 X-Error-Code EntryNotFound (+ X-Repo-Commit); unknown repo: 401 RepositoryNotFound;
//     unknown revision: 404 RevisionNotFound; token required (private repo): 401 without "Bearer <token>"
//   GET /cdn/<sha256> on a SECOND listener (another port, i.e. another origin): Range support (206), and
//     fault injection: cut the connection after N bytes, or flip a byte of the body.
// Every request is logged so tests can assert Range headers, network use and that the token never reaches the CDN.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace BatchVlm.Engine.Tests.Loading;

internal sealed class LocalHubServer : IDisposable
{
    public sealed record Request(string Origin, string Method, string Path, string? Range, bool HasAuthorization);

    private sealed record Repo(string Commit, string Dir);

    private readonly HttpListener _hub = new();
    private readonly HttpListener _cdn = new();
    private readonly ConcurrentDictionary<string, Repo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _blobsBySha = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    public ConcurrentQueue<Request> Requests { get; } = new();
    public string Endpoint { get; }
    public string CdnBase { get; }
    /// <summary>When set, resolve requests need "Authorization: Bearer RequiredToken".</summary>
    public string? RequiredToken { get; set; }
    /// <summary>The next N CDN transfers send only this many bytes, then drop the connection.</summary>
    public int CutAfterBytes { get; set; } = -1;
    public int CutTransfers { get; set; }
    /// <summary>The next N CDN transfers flip one byte of the body (size unchanged).</summary>
    public int CorruptTransfers { get; set; }

    public LocalHubServer()
    {
        for (int attempt = 0; ; attempt++)
        {
            var (hubPort, cdnPort) = TwoFreePorts();
            try
            {
                _hub.Prefixes.Add($"http://127.0.0.1:{hubPort}/");
                _hub.Start();
                _cdn.Prefixes.Add($"http://127.0.0.1:{cdnPort}/");
                _cdn.Start();
                Endpoint = $"http://127.0.0.1:{hubPort}";
                CdnBase = $"http://127.0.0.1:{cdnPort}";
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another test grabbed the port between probing and listening: try new ones.
                if (_hub.IsListening) _hub.Stop();
                if (_cdn.IsListening) _cdn.Stop();
                _hub.Prefixes.Clear();
                _cdn.Prefixes.Clear();
            }
        }
        _loops.Add(Task.Run(() => Loop(_hub, "hub", HandleHub)));
        _loops.Add(Task.Run(() => Loop(_cdn, "cdn", HandleCdn)));
    }

    private static (int, int) TwoFreePorts()
    {
        // Both probes stay open until both ports are known, so the two ports differ.
        var a = new TcpListener(IPAddress.Loopback, 0);
        var b = new TcpListener(IPAddress.Loopback, 0);
        a.Start();
        b.Start();
        int pa = ((IPEndPoint)a.LocalEndpoint).Port, pb = ((IPEndPoint)b.LocalEndpoint).Port;
        a.Stop();
        b.Stop();
        return (pa, pb);
    }

    /// <summary>Serves <paramref name="dir"/>'s files as repo <paramref name="repoId"/> at a fixed commit.</summary>
    public string AddRepo(string repoId, string dir)
    {
        string commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(repoId + "@" + dir)));
        _repos[repoId] = new Repo(commit, dir);
        foreach (var f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
            _blobsBySha[Sha256(f)] = f;
        return commit;
    }

    public int CountRequests(string origin, string method, string pathSuffix) =>
        Requests.Count(r => r.Origin == origin && r.Method == method && r.Path.EndsWith(pathSuffix, StringComparison.Ordinal));

    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    public static string GitBlobSha1(string path)
    {
        byte[] content = File.ReadAllBytes(path);
        byte[] header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
        return Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
    }

    private static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal);

    private async Task Loop(HttpListener listener, string origin, Func<HttpListenerContext, Task> handle)
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested || !listener.IsListening) { return; }
            catch (HttpListenerException) { continue; }
            Requests.Enqueue(new Request(origin, ctx.Request.HttpMethod, ctx.Request.Url!.AbsolutePath,
                ctx.Request.Headers["Range"], ctx.Request.Headers["Authorization"] != null));
            _ = Task.Run(async () =>
            {
                try { await handle(ctx); }
                catch (Exception) { try { ctx.Response.Abort(); } catch (Exception) { } }
            });
        }
    }

    private async Task HandleHub(HttpListenerContext ctx)
    {
        var res = ctx.Response;
        // /ORG/NAME/resolve/REV/FILE...
        var parts = ctx.Request.Url!.AbsolutePath.TrimStart('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
        if (parts.Length < 5 || parts[2] != "resolve")
        {
            res.StatusCode = 404;
            res.Close();
            return;
        }
        string repoId = parts[0] + "/" + parts[1], rev = parts[3], file = string.Join('/', parts[4..]);
        if (!_repos.TryGetValue(repoId, out var repo))
        {
            res.StatusCode = 401; // the hub answers 401 for unknown repos (it cannot tell them from private ones)
            res.Headers["X-Error-Code"] = "RepositoryNotFound";
            res.Close();
            return;
        }
        if (RequiredToken != null && ctx.Request.Headers["Authorization"] != "Bearer " + RequiredToken)
        {
            res.StatusCode = 401;
            res.Headers["X-Error-Code"] = "GatedRepo";
            res.Close();
            return;
        }
        if (rev != "main" && rev != repo.Commit)
        {
            res.StatusCode = 404;
            res.Headers["X-Error-Code"] = "RevisionNotFound";
            res.Close();
            return;
        }
        string path = Path.Combine(repo.Dir, file);
        res.Headers["X-Repo-Commit"] = repo.Commit;
        if (!File.Exists(path))
        {
            res.StatusCode = 404;
            res.Headers["X-Error-Code"] = "EntryNotFound";
            res.Close();
            return;
        }
        long size = new FileInfo(path).Length;
        if (IsLfs(file))
        {
            string sha = Sha256(path);
            res.StatusCode = 302;
            res.Headers["X-Linked-Etag"] = $"\"{sha}\"";
            res.Headers["X-Linked-Size"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture);
            res.Headers["ETag"] = $"\"{GitBlobSha1(path)}\""; // the LFS pointer's own id, as on the hub
            res.Headers["Location"] = $"{CdnBase}/cdn/{sha}?X-Amz-Signature=test";
            res.ContentLength64 = 0;
            res.Close();
            return;
        }
        res.StatusCode = 200;
        res.Headers["ETag"] = $"\"{GitBlobSha1(path)}\"";
        byte[] body = await File.ReadAllBytesAsync(path);
        res.ContentLength64 = body.Length;
        if (ctx.Request.HttpMethod == "GET") await res.OutputStream.WriteAsync(body);
        res.Close();
    }

    private async Task HandleCdn(HttpListenerContext ctx)
    {
        var res = ctx.Response;
        var parts = ctx.Request.Url!.AbsolutePath.Trim('/').Split('/');
        if (ctx.Request.Headers["Authorization"] != null)
        {
            res.StatusCode = 400; // a presigned CDN URL must not receive the hub token
            res.Close();
            return;
        }
        if (parts.Length != 2 || parts[0] != "cdn" || !_blobsBySha.TryGetValue(parts[1], out var path))
        {
            res.StatusCode = 404;
            res.Close();
            return;
        }
        byte[] body = await File.ReadAllBytesAsync(path);
        long from = 0;
        string? range = ctx.Request.Headers["Range"];
        if (range != null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (from >= body.Length)
            {
                res.StatusCode = 416;
                res.Headers["Content-Range"] = $"bytes */{body.Length}";
                res.Close();
                return;
            }
            res.StatusCode = 206;
            res.Headers["Content-Range"] = $"bytes {from}-{body.Length - 1}/{body.Length}";
        }
        else res.StatusCode = 200;
        res.Headers["Accept-Ranges"] = "bytes";
        var payload = body.AsMemory((int)from);
        res.ContentLength64 = payload.Length;
        if (CorruptTransfers > 0)
        {
            CorruptTransfers--;
            var copy = payload.ToArray();
            copy[copy.Length / 2] ^= 0xFF;
            payload = copy;
        }
        if (CutTransfers > 0 && CutAfterBytes >= 0 && CutAfterBytes < payload.Length)
        {
            CutTransfers--;
            await res.OutputStream.WriteAsync(payload[..CutAfterBytes]);
            await res.OutputStream.FlushAsync();
            res.Abort(); // drop the connection mid-body
            return;
        }
        await res.OutputStream.WriteAsync(payload);
        res.Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _hub.Stop(); _hub.Close(); } catch (ObjectDisposedException) { }
        try { _cdn.Stop(); _cdn.Close(); } catch (ObjectDisposedException) { }
        Task.WaitAll(_loops.ToArray(), TimeSpan.FromSeconds(5));
    }
}
