// The one way every BatchVlm process reads its configuration, so that after `./batchvlm stack up` every command
// finds the local servers without flags, and anything can still be overridden. Precedence (lowest first), as decided
// in team/BRIEF.md:
//   1. <state>/batchvlm.settings.json   written by scripts/stack.sh (generated local credentials)
//   2. appsettings.json beside the binary
//   3. the file named by $BATCHVLM_CONFIG (must exist when set)
//   4. environment variables prefixed BATCHVLM_ (BATCHVLM_ConnectionStrings__Postgres, BATCHVLM_Storage__ConnectionString)
//   5. command-line flags of the form --Section:Key=value or --Section:Key value (only keys containing ':' are
//      taken, so command options such as --task or --input never leak into configuration)
// Secret values found in the result are registered with Secrets so that Secrets.Redact strips them from any text.
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Storage.Configuration;

public static class BatchVlmConfiguration
{
    /// <summary>Name of the settings file the stack script writes into the state folder.</summary>
    public const string SettingsFileName = "batchvlm.settings.json";

    /// <summary>Environment variable naming an extra JSON configuration file.</summary>
    public const string ConfigFileVariable = "BATCHVLM_CONFIG";

    /// <summary>Prefix of environment variables that override configuration (':' written as '__').</summary>
    public const string EnvironmentPrefix = "BATCHVLM_";

    /// <summary>Full path of the settings file in the current state folder.</summary>
    public static string SettingsFilePath => Path.Combine(StateFolder.Resolve(), SettingsFileName);

    /// <summary>Build the configuration from every source, in the precedence described at the top of this file.</summary>
    /// <exception cref="FileNotFoundException">$BATCHVLM_CONFIG names a file that does not exist.</exception>
    public static IConfigurationRoot Build(string[]? args = null) => Build(SettingsFilePath, args);

    /// <summary>As <see cref="Build(string[])"/> with an explicit settings file (tests).</summary>
    internal static IConfigurationRoot Build(string settingsFile, string[]? args)
    {
        var builder = new ConfigurationBuilder();
        builder.AddJsonFile(settingsFile, optional: true, reloadOnChange: false);
        builder.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);

        var extra = Environment.GetEnvironmentVariable(ConfigFileVariable);
        if (!string.IsNullOrWhiteSpace(extra))
        {
            var full = Path.GetFullPath(extra);
            if (!File.Exists(full))
                throw new FileNotFoundException($"{ConfigFileVariable} names '{full}', which does not exist.", full);
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
        }

        builder.AddEnvironmentVariables(EnvironmentPrefix);
        if (args is { Length: > 0 })
            builder.AddCommandLine(ConfigurationArguments(args));

        var configuration = builder.Build();
        Secrets.RegisterFrom(configuration);
        return configuration;
    }

    /// <summary>The subset of <paramref name="args"/> that are configuration overrides (--Section:Key[=value]).</summary>
    internal static string[] ConfigurationArguments(string[] args)
    {
        var picked = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                continue;
            var eq = arg.IndexOf('=');
            var key = eq < 0 ? arg[2..] : arg[2..eq];
            if (!key.Contains(':'))
                continue;
            picked.Add(arg);
            if (eq < 0 && i + 1 < args.Length)
                picked.Add(args[++i]);
        }
        return picked.ToArray();
    }
}
