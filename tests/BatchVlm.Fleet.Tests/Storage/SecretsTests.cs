// Secrets.Redact (issue 2 item 9: credentials never appear in logs or error messages): every credential shape the
// fleet handles — connection-string fields, JSON settings, SAS signatures, bearer and SharedKey headers, URI
// passwords — and values registered from configuration, including the stack's real generated settings.
using BatchVlm.Fleet.Tests.Infrastructure;
using BatchVlm.Storage.Configuration;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class SecretsTests
{
    [Theory]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=QUJDREVGR0hJSktMTU5PUA==;EndpointSuffix=core.windows.net", "QUJDREVGR0hJSktMTU5PUA==")]
    [InlineData("Host=127.0.0.1;Port=5439;Username=batchvlm;Password=s3cretPassw0rd;Database=batchvlm", "s3cretPassw0rd")]
    [InlineData("Server=x;User Id=sa;Pwd='quoted;secret';", "quoted;secret")]
    [InlineData("BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2025-01-05&sr=c&sig=SIGNATUREvalue%3D", "SIGNATUREvalue")]
    [InlineData("GET https://a.blob.core.windows.net/c/b.jpg?sv=2025-01-05&sp=r&sig=abcDEF123%2B%2F%3D failed", "abcDEF123")]
    [InlineData("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.payload.signature", "eyJ0eXAiOiJKV1Qi")]
    [InlineData("Authorization: SharedKey devstoreaccount1:c2lnbmF0dXJlLWJ5dGVzLWhlcmU=", "c2lnbmF0dXJlLWJ5dGVzLWhlcmU=")]
    [InlineData("amqp://batchvlm:rabbitPassw0rd@127.0.0.1:5679/", "rabbitPassw0rd")]
    [InlineData("{\"RabbitMq\":{\"Username\":\"batchvlm\",\"Password\":\"jsonPassw0rd\"}}", "jsonPassw0rd")]
    [InlineData("{\"Storage\":{\"ConnectionString\":\"AccountName=a;AccountKey=jsonKeyValue==\"}}", "jsonKeyValue")]
    public void Redact_TextWithSecret_RemovesIt(string text, string secret)
    {
        var redacted = Secrets.Redact(text);
        Assert.DoesNotContain(secret, redacted);
        Assert.Contains(Secrets.Mask, redacted);
    }

    [Fact]
    public void Redact_TextWithoutSecret_Unchanged()
    {
        const string text = "Blob 'images/cat.jpg' not found in http://127.0.0.1:10009/devstoreaccount1/c/ (404 BlobNotFound)";
        Assert.Equal(text, Secrets.Redact(text));
    }

    [Fact]
    public void Redact_RegisteredValue_RemovedAnywhereAlsoUrlEncoded()
    {
        var secret = "reg1stered+Value/" + Guid.NewGuid().ToString("N");
        Secrets.Register(secret);
        Assert.Equal("x *** y", Secrets.Redact($"x {secret} y"));
        Assert.Equal("u=***", Secrets.Redact($"u={Uri.EscapeDataString(secret)}"));
    }

    [Fact]
    public void RegisterFrom_Configuration_RegistersPasswordsKeysAndConnectionStringFields()
    {
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        var token = "tok-" + Guid.NewGuid().ToString("N");
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMq:Password"] = password,
            ["Storage:ConnectionString"] = $"AccountName=a;AccountKey={key}",
            ["Custom:ApiToken"] = token,
            ["Harmless:Name"] = "visible-value",
        }).Build();
        Secrets.RegisterFrom(config);
        var line = $"connecting with {password}, key {key}, token {token}, name visible-value";
        var redacted = Secrets.Redact(line);
        Assert.DoesNotContain(password, redacted);
        Assert.DoesNotContain(key, redacted);
        Assert.DoesNotContain(token, redacted);
        Assert.Contains("visible-value", redacted);
    }

    [Fact]
    public void RedactUri_WithSasAndUserInfo_KeepsOnlyPath()
    {
        var uri = new Uri("https://user:pw@acct.blob.core.windows.net/c/a%20b.jpg?sv=1&sig=zzz");
        var text = Secrets.RedactUri(uri);
        Assert.Equal("https://acct.blob.core.windows.net/c/a%20b.jpg?***", text);
    }
}

/// <summary>The real generated stack credentials are redacted once the configuration has been built.</summary>
public sealed class StackSecretsTests(StackFixture stack) : IClassFixture<StackFixture>
{
    [Fact]
    public void Build_StackSettings_EverySecretIsRedacted()
    {
        var config = BatchVlmConfiguration.Build();
        var rabbit = config["RabbitMq:Password"]!;
        var pg = config.GetConnectionString("Postgres")!.Split(';').First(p => p.StartsWith("Password=", StringComparison.Ordinal))["Password=".Length..];
        var key = stack.StorageConnectionString.Split(';').First(p => p.StartsWith("AccountKey=", StringComparison.Ordinal))["AccountKey=".Length..];
        foreach (var secret in new[] { rabbit, pg, key })
        {
            Assert.False(string.IsNullOrEmpty(secret));
            Assert.Equal("before *** after", Secrets.Redact($"before {secret} after"));
        }
    }
}
