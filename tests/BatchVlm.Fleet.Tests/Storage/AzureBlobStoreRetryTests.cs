// The retry pipeline against a small local HTTP server (raw sockets on 127.0.0.1) that plays a misbehaving blob
// service: 503 then 200, 429 with Retry-After, a connection dropped mid-request, a permanent 403, and a service that
// never recovers. Checks that transient failures are retried with backoff (honouring Retry-After), permanent ones
// surface at once with their x-ms-error-code and key, and that no credential reaches the exception.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BatchVlm.Storage.Blobs;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class AzureBlobStoreRetryTests : IDisposable
{
    private const string AccountKey = "c2VjcmV0LWFjY291bnQta2V5LWZvci1yZXRyeS10ZXN0cy0wMTIzNDU2Nzg5YWJjZGVm";
    private readonly FakeBlobService _service = new();

    public void Dispose() => _service.Dispose();

    private AzureBlobStore Store(int maxRetries = 4) => new(
        new BlobAccount("acct", new Uri($"{_service.BaseUrl}acct"), new SharedKeyCredential("acct", AccountKey)),
        "images",
        options: new BlobStorageOptions
        {
            Retry = new BlobRetryOptions { MaxRetries = maxRetries, BaseDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) },
        });

    [Fact]
    public async Task ReadAllBytesAsync_503Then200_RetriesAndSucceeds()
    {
        _service.Script(Reply.Status(503, "ServerBusy"), Reply.Status(503, "ServerBusy"), Reply.Ok("hello"));
        var bytes = await Store().ReadAllBytesAsync("cat.jpg", TestContext.Current.CancellationToken);
        Assert.Equal("hello", Encoding.UTF8.GetString(bytes));
        Assert.Equal(3, _service.Requests.Count);
        Assert.All(_service.Requests, r => Assert.Equal("/acct/images/cat.jpg", r.Path));
        Assert.All(_service.Requests, r => Assert.StartsWith("SharedKey acct:", r.Authorization));
    }

    [Fact]
    public async Task ReadAllBytesAsync_429WithRetryAfter_WaitsAsAsked()
    {
        _service.Script(Reply.Status(429, "TooManyRequests", retryAfterSeconds: 1), Reply.Ok("late"));
        var clock = Stopwatch.StartNew();
        var bytes = await Store().ReadAllBytesAsync("dog.jpg", TestContext.Current.CancellationToken);
        Assert.Equal("late", Encoding.UTF8.GetString(bytes));
        Assert.Equal(2, _service.Requests.Count);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(950), $"retried after {clock.ElapsedMilliseconds} ms, Retry-After was 1 s");
    }

    [Fact]
    public async Task WriteAsync_ConnectionDropped_RetriesWithFreshSignature()
    {
        _service.Script(Reply.Drop(), Reply.Status(500, "InternalError"), Reply.Created());
        Assert.True(await Store().WriteBytesAsync("up/load.bin", Encoding.UTF8.GetBytes("payload"), ct: TestContext.Current.CancellationToken));
        Assert.Equal(3, _service.Requests.Count);
        Assert.All(_service.Requests, r => Assert.Equal("payload", r.Body));
    }

    [Fact]
    public async Task ReadAllBytesAsync_403_FailsAtOnceWithCodeAndKeyButNoSecret()
    {
        _service.Script(Reply.Status(403, "AuthorizationFailure", message: "Server failed to authenticate the request."));
        var e = await Assert.ThrowsAsync<BlobStorageException>(() => Store().ReadAllBytesAsync("secret/plans.jpg", TestContext.Current.CancellationToken));
        Assert.Single(_service.Requests);
        Assert.Equal(403, e.StatusCode);
        Assert.Equal("AuthorizationFailure", e.ErrorCode);
        Assert.Equal("secret/plans.jpg", e.Key);
        Assert.False(e.IsTransient);
        Assert.Contains("secret/plans.jpg", e.Message);
        Assert.Contains("AuthorizationFailure", e.Message);
        Assert.DoesNotContain(AccountKey, e.ToString());
        Assert.DoesNotContain(_service.Requests[0].Authorization.Split(':')[1], e.ToString());
    }

    [Fact]
    public async Task ReadAllBytesAsync_404_IsBlobNotFoundWithoutRetry()
    {
        _service.Script(Reply.Status(404, "BlobNotFound"));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Store().ReadAllBytesAsync("gone.jpg", TestContext.Current.CancellationToken));
        Assert.Single(_service.Requests);
    }

    [Fact]
    public async Task ReadAllBytesAsync_AlwaysUnavailable_GivesUpAsTransientAfterMaxRetries()
    {
        _service.Script(Enumerable.Repeat(Reply.Status(503, "ServerBusy"), 10).ToArray());
        var e = await Assert.ThrowsAsync<BlobStorageException>(() => Store(maxRetries: 2).ReadAllBytesAsync("x.jpg", TestContext.Current.CancellationToken));
        Assert.Equal(3, _service.Requests.Count);
        Assert.True(e.IsTransient);
        Assert.Equal(503, e.StatusCode);
        Assert.Equal("ServerBusy", e.ErrorCode);
    }

    [Fact]
    public async Task ListAsync_TransientPageFailure_RetriesThatPageOnly()
    {
        const string page1 = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs><Blob><Name>a.jpg</Name><Properties><Content-Length>3</Content-Length><Etag>0x1</Etag></Properties></Blob></Blobs><NextMarker>m2</NextMarker></EnumerationResults>";
        const string page2 = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs><Blob><Name>b.jpg</Name><Properties><Content-Length>4</Content-Length><Etag>0x2</Etag></Properties></Blob></Blobs><NextMarker /></EnumerationResults>";
        _service.Script(Reply.Ok(page1), Reply.Status(502, null), Reply.Ok(page2));
        var items = new List<BlobItem>();
        await foreach (var item in Store().ListAsync("", TestContext.Current.CancellationToken))
            items.Add(item);
        Assert.Equal(["a.jpg", "b.jpg"], items.Select(i => i.Key));
        Assert.Equal([3L, 4L], items.Select(i => i.Size));
        Assert.Equal(3, _service.Requests.Count);
        Assert.Contains("marker=m2", _service.Requests[2].Query);
    }

    private sealed record Reply(int StatusCode, string? ErrorCode, string? Body, int? RetryAfterSeconds, bool DropConnection)
    {
        public static Reply Ok(string body) => new(200, null, body, null, false);
        public static Reply Created() => new(201, null, null, null, false);
        public static Reply Drop() => new(0, null, null, null, true);

        public static Reply Status(int code, string? errorCode, int? retryAfterSeconds = null, string? message = null)
            => new(code, errorCode, errorCode is null ? null : $"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{errorCode}</Code><Message>{message ?? errorCode}\nRequestId:1</Message></Error>",
                retryAfterSeconds, false);
    }

    private sealed record Seen(string Method, string Path, string Query, string Authorization, string Body);

    /// <summary>A minimal HTTP/1.1 server on a free loopback port (raw sockets, so it can also drop a connection
    /// mid-request) that answers each request with the next scripted reply and closes the connection.</summary>
    private sealed class FakeBlobService : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly ConcurrentQueue<Reply> _replies = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Seen> _requests = [];

        public FakeBlobService()
        {
            _listener.Start();
            BaseUrl = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";
            _ = Task.Run(LoopAsync);
        }

        public string BaseUrl { get; }

        public List<Seen> Requests
        {
            get
            {
                lock (_requests)
                    return [.. _requests];
            }
        }

        public void Script(params Reply[] replies)
        {
            foreach (var r in replies)
                _replies.Enqueue(r);
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                try
                {
                    await HandleAsync(socket);
                }
                catch (Exception e) when (e is IOException or SocketException)
                {
                    // the client went away; the next connection is a new attempt
                }
                finally
                {
                    socket.Dispose();
                }
            }
        }

        private async Task HandleAsync(Socket socket)
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            // Request line and headers up to the blank line, then Content-Length bytes of body.
            var head = new List<byte>();
            var one = new byte[1];
            while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
            {
                if (await stream.ReadAsync(one) == 0)
                    return;
                head.Add(one[0]);
            }
            var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            var requestLine = lines[0].Split(' ');
            var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(h => h[0].Trim(), h => h[1].Trim(), StringComparer.OrdinalIgnoreCase);
            var length = headers.TryGetValue("Content-Length", out var cl) ? int.Parse(cl) : 0;
            var body = new byte[length];
            await stream.ReadExactlyAsync(body);
            var target = new Uri("http://x" + requestLine[1]);
            lock (_requests)
                _requests.Add(new Seen(requestLine[0], target.AbsolutePath, target.Query, headers.GetValueOrDefault("Authorization", ""), Encoding.UTF8.GetString(body)));

            var reply = _replies.TryDequeue(out var r) ? r : new Reply(500, "NoScriptedReply", null, null, false);
            if (reply.DropConnection)
            {
                socket.LingerState = new LingerOption(true, 0); // close with RST: "connection reset by peer"
                return;
            }
            var bytes = Encoding.UTF8.GetBytes(reply.Body ?? "");
            var response = new StringBuilder($"HTTP/1.1 {reply.StatusCode} Status\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n");
            if (reply.ErrorCode is not null)
                response.Append($"x-ms-error-code: {reply.ErrorCode}\r\n");
            if (reply.RetryAfterSeconds is { } s)
                response.Append($"Retry-After: {s}\r\n");
            response.Append("\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(response.ToString()));
            await stream.WriteAsync(bytes);
            await stream.FlushAsync();
            socket.Shutdown(SocketShutdown.Send);
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
        }
    }
}
