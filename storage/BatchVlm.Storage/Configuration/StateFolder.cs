// Where the local stack keeps everything it runs (data, logs, pids, generated credentials) and where
// `batchvlm.settings.json` lives. Convention from team/BRIEF.md: $BATCHVLM_STATE, else `<repo>/.state`, the repo
// being the nearest folder holding BatchVlm.sln above the current directory or above the running binary.
namespace BatchVlm.Storage.Configuration;

public static class StateFolder
{
    /// <summary>Environment variable that overrides the state folder.</summary>
    public const string EnvironmentVariable = "BATCHVLM_STATE";

    /// <summary>File name of the solution that marks the repository root.</summary>
    public const string SolutionFileName = "BatchVlm.sln";

    /// <summary>
    /// The state folder (not created): $BATCHVLM_STATE when set, else <c>&lt;repo&gt;/.state</c> where the repo is
    /// found by walking up from the current directory, then from <see cref="AppContext.BaseDirectory"/>. Outside a
    /// checkout (an installed binary, a container) it falls back to <c>$XDG_STATE_HOME/batchvlm</c> or
    /// <c>~/.local/state/batchvlm</c>.
    /// </summary>
    public static string Resolve()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
            return Path.GetFullPath(fromEnv);

        var repo = FindRepositoryRoot();
        if (repo is not null)
            return Path.Combine(repo, ".state");

        var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var baseDir = !string.IsNullOrWhiteSpace(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        return Path.Combine(baseDir, "batchvlm");
    }

    /// <summary>The nearest folder holding BatchVlm.sln above the current directory, else above the binary; null if none.</summary>
    public static string? FindRepositoryRoot()
        => WalkUp(Directory.GetCurrentDirectory()) ?? WalkUp(AppContext.BaseDirectory);

    private static string? WalkUp(string? start)
    {
        for (var dir = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFileName)))
                return dir.FullName;
        }
        return null;
    }
}
