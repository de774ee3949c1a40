namespace Bmcast.Tests.Support;

/// <summary>The checkout the tests were built from, and where they leave files for a person to look at.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>
    /// A path under <c>.build/test-results/</c>, where <c>./test.sh</c> puts its results (CI keeps that folder), for a
    /// file a test leaves behind on purpose, such as a screenshot.
    /// </summary>
    public static string TestResult(string name)
    {
        string results = Path.Combine(Root, ".build", "test-results");
        Directory.CreateDirectory(results);
        return Path.Combine(results, name);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Bmcast.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
