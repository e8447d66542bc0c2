// Configuration precedence decided in team/BRIEF.md: settings file < appsettings.json < $BATCHVLM_CONFIG <
// BATCHVLM_* environment < --Section:Key flags; command options like --task never leak into configuration.
using BatchVlm.Storage.Configuration;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class BatchVlmConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("batchvlm-config-").FullName;
    // A variable name no other test uses, so setting it cannot disturb tests running in parallel.
    private readonly string _section = "CfgTest" + Guid.NewGuid().ToString("N")[..8];

    public void Dispose()
    {
        Environment.SetEnvironmentVariable($"BATCHVLM_{_section}__FromEnv", null);
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Build_AllSources_LaterOnesWin()
    {
        var settings = Path.Combine(_dir, "batchvlm.settings.json");
        File.WriteAllText(settings, $"{{\"{_section}\":{{\"FromFile\":\"file\",\"FromEnv\":\"file\",\"FromArgs\":\"file\"}}}}");
        Environment.SetEnvironmentVariable($"BATCHVLM_{_section}__FromEnv", "env");

        var config = BatchVlmConfiguration.Build(settings, ["submit", "--task", "inspect", $"--{_section}:FromArgs=args", "--wait"]);

        Assert.Equal("file", config[$"{_section}:FromFile"]);
        Assert.Equal("env", config[$"{_section}:FromEnv"]);
        Assert.Equal("args", config[$"{_section}:FromArgs"]);
        Assert.Null(config["task"]);
        Assert.Null(config["wait"]);
    }

    [Fact]
    public void ConfigurationArguments_OnlySectionKeys_BothForms()
    {
        var picked = BatchVlmConfiguration.ConfigurationArguments(
            ["run", "--input", "/data", "--Storage:ConnectionString", "UseDevelopmentStorage=true", "--RabbitMq:Port=1", "/abs/path", "-x"]);
        Assert.Equal(["--Storage:ConnectionString", "UseDevelopmentStorage=true", "--RabbitMq:Port=1"], picked);
    }

    [Fact]
    public void Build_MissingSettingsFile_IsFine()
    {
        var config = BatchVlmConfiguration.Build(Path.Combine(_dir, "absent.json"), null);
        Assert.Null(config[$"{_section}:Anything"]);
    }

    [Fact]
    public void StateFolder_Default_IsRepoDotState()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(StateFolder.EnvironmentVariable)))
            Assert.Skip("BATCHVLM_STATE is set in this environment");
        var repo = StateFolder.FindRepositoryRoot();
        Assert.NotNull(repo);
        Assert.True(File.Exists(Path.Combine(repo, "BatchVlm.sln")));
        Assert.Equal(Path.Combine(repo, ".state"), StateFolder.Resolve());
    }
}
