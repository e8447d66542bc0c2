// The on-disk layout of the Hugging Face hub cache, as huggingface_hub 0.26.2 writes it (file_download.py,
// docs "Understand caching"):
//   <cache>/models--ORG--NAME/refs/<revision>             text file holding the commit hash
//   <cache>/models--ORG--NAME/blobs/<etag>                 file contents, named by etag (sha256 for LFS files)
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file>    relative symlink -> ../../blobs/<etag>
//   <cache>/models--ORG--NAME/.no_exist/<commit>/<file>    empty marker: the file does not exist at that commit
// Reading needs nothing but this layout, so a cache filled by Python is used as is, and the other way round.
using System.Text.RegularExpressions;

namespace BatchVlm.Engine.Loading;

/// <summary>Paths and lookups in the hub cache layout.</summary>
public static partial class HubCache
{
    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHashRegex();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")]
    private static partial Regex RepoIdRegex();

    public static bool IsCommitHash(string revision) => CommitHashRegex().IsMatch(revision);

    /// <summary>True for "ORG/NAME" or "NAME" repo ids as the hub accepts them.</summary>
    public static bool IsValidRepoId(string repoId) => RepoIdRegex().IsMatch(repoId) && !repoId.Contains("--") && !repoId.Contains("..");

    /// <summary>"google/siglip-base-patch16-224" -> "models--google--siglip-base-patch16-224".</summary>
    public static string RepoFolderName(string repoId) => "models--" + repoId.Replace("/", "--");

    public static string RepoDir(string cacheDir, string repoId) => Path.Combine(cacheDir, RepoFolderName(repoId));

    /// <summary>The commit a revision points to in the cache: the revision itself when it is a cached commit hash,
    /// else the content of refs/&lt;revision&gt;; null when unknown.</summary>
    public static string? TryResolveCommit(string cacheDir, string repoId, string revision)
    {
        string repoDir = RepoDir(cacheDir, repoId);
        if (IsCommitHash(revision))
            return Directory.Exists(Path.Combine(repoDir, "snapshots", revision)) ? revision : null;
        string refFile = Path.Combine(repoDir, "refs", revision);
        if (!File.Exists(refFile)) return null;
        string commit = File.ReadAllText(refFile).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>The snapshot folder of a revision, or null when the revision is not cached.</summary>
    public static string? TryGetSnapshotDir(string cacheDir, string repoId, string revision)
    {
        string? commit = TryResolveCommit(cacheDir, repoId, revision);
        if (commit is null) return null;
        string dir = Path.Combine(RepoDir(cacheDir, repoId), "snapshots", commit);
        return Directory.Exists(dir) ? dir : null;
    }

    /// <summary>The cached path of one file at a revision (a symlink into blobs/ whose target exists), or null.</summary>
    public static string? TryGetCachedFile(string cacheDir, string repoId, string revision, string filename)
    {
        string? snap = TryGetSnapshotDir(cacheDir, repoId, revision);
        if (snap is null) return null;
        string path = Path.Combine(snap, filename);
        return TargetExists(path) ? path : null;
    }

    /// <summary>True when <paramref name="path"/> is a file or a link whose final target is a file (File.Exists is
    /// also true for a dangling link).</summary>
    public static bool TargetExists(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        if (info.LinkTarget is null) return true;
        return info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true };
    }

    /// <summary>True when the cache recorded that <paramref name="filename"/> does not exist at the revision.</summary>
    public static bool IsKnownMissing(string cacheDir, string repoId, string revision, string filename)
    {
        string? commit = TryResolveCommit(cacheDir, repoId, revision);
        return commit != null && File.Exists(Path.Combine(RepoDir(cacheDir, repoId), ".no_exist", commit, filename));
    }
}
