using System.Text.RegularExpressions;
using Bmcast.Agent.Host;
using Bmcast.Agent.ImageBuild;

namespace Bmcast.Tests.OsImages;

/// <summary>
/// A recipe installs what it needs on a fresh Debian 12 machine through its tool check (<c>need_tools TOOL:PACKAGE</c>),
/// so every external command it calls must be declared there, come from a declared package, or come from a package
/// every Debian has (Essential, or Priority required: what debootstrap's minbase and the debian:12 container hold).
/// <c>cpio</c> (Priority important) once was none of these, and <c>bmcast demo</c> failed on a fresh machine.
/// </summary>
public sealed partial class RecipeToolTests
{
    [GeneratedRegex(@"need_tools((?:[ \t]+(?:\\\n)?[ \t]*[^\s:\\]+:[\w.+-]+)+)")]
    private static partial Regex ToolCheck { get; }

    [Theory]
    [InlineData("tiny")]
    [InlineData("tiny-payload")]
    [InlineData("debian")]
    [InlineData("debian-db")]
    public void Every_command_a_recipe_calls_is_in_its_tool_check_or_on_every_Debian(string name)
    {
        if (!DpkgDatabase.Exists)
            Assert.Skip("not a Debian machine: no dpkg database to say which package a command comes from");
        var dpkg = DpkgDatabase.Load();
        var recipes = RecipeDirectory.Locate();
        string script = File.ReadAllText(Path.Combine(recipes.Path, "lib.sh")) + "\n" + File.ReadAllText(recipes.ScriptOf(name));
        var (tools, packages) = Declared(script);
        var called = ShellCommands.Called(script, ShellCommands.Functions(script));

        var unprovided = new List<string>();
        foreach (string command in called.Where(c => !tools.Contains(c)).Order())
        {
            string? package = PackageOf(dpkg, command);
            if (package is null)
                unprovided.Add($"{command} (no package here provides it)");
            else if (!packages.Contains(package) && !dpkg.IsOnEveryDebian(package))
                unprovided.Add($"{command} (package {package})");
        }

        Assert.True(unprovided.Count == 0, $"{name}.sh calls {string.Join(", ", unprovided)} without need_tools declaring it");
        Assert.Contains("mkfs.ext4", called); // the scan sees the recipe's commands at all
    }

    [Fact]
    public void The_scan_finds_commands_in_pipes_substitutions_and_conditions_but_not_in_text_or_the_guest()
    {
        const string script = """
            # a comment: not a command
            helper() { gzip -9 "$1"; }
            die() { echo "$*" >&2; exit 1; }
            out=$(kernel | awk '{print $2; exit}') || die "no $(hostname)"
            [[ $(id -u) -eq 0 ]] && cpio -o >"$x" 2>&1
            for m in $(find . -name x); do mkfs.fat "$m"; done
            n=$(((1 + size) << 20)); ((n)) || truncate -s "${n}M" "$out"
            local missing=() pair
            chroot "$root" sh -c 'mariadb -e "x"; sysbench run'
            helper x; echo "tar is mentioned, not run"
            """;

        var called = ShellCommands.Called(script, ShellCommands.Functions(script));

        Assert.Equal(["awk", "chroot", "cpio", "find", "gzip", "hostname", "id", "kernel", "mkfs.fat", "truncate"], called.Order());
        Assert.Equal(["die", "helper"], ShellCommands.Functions(script).Order());
    }

    [Fact]
    public void The_tool_check_is_read_across_continued_lines()
    {
        var (tools, packages) = Declared("need_tools sfdisk:fdisk mcopy:mtools \\\n  /usr/lib/mbr.bin:syslinux-common\nneed_tools cpio:cpio");

        Assert.Equal(["cpio", "mcopy", "sfdisk"], tools.Order());
        Assert.Equal(["cpio", "fdisk", "mtools", "syslinux-common"], packages.Order());
    }

    /// <summary>The tools (not files) and packages every <c>need_tools</c> call of the script names.</summary>
    private static (HashSet<string> Tools, HashSet<string> Packages) Declared(string script)
    {
        var pairs = ToolCheck.Matches(script)
            .SelectMany(m => m.Groups[1].Value.Split([' ', '\t', '\n', '\\'], StringSplitOptions.RemoveEmptyEntries))
            .Select(pair => pair.Split(':'))
            .ToList();
        return (pairs.Where(p => !p[0].StartsWith('/')).Select(p => p[0]).ToHashSet(), pairs.Select(p => p[1]).ToHashSet());
    }

    /// <summary>The package that installed the command found on PATH (or in /usr/sbin, /sbin), through any alternatives (<c>awk</c> is mawk's).</summary>
    private static string? PackageOf(DpkgDatabase dpkg, string name) =>
        AptPackages.Which(name) is { } path
            ? dpkg.OwnerOf(Path.GetFileName(new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path))
            : null;
}
