using Bmcast.Agent.Host;
using Bmcast.Agent.ImageBuild;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.OsImages;

/// <summary>
/// Builds the tiny sample image once for its tests, through the same builder <c>bmcast image build</c>
/// uses, into a private cache removed afterwards. A missing prerequisite becomes a skip reason; a build
/// failure fails every test with the recipe's output.
/// </summary>
public sealed class TinyImageFixture : IAsyncLifetime
{
    private readonly TempDirectory _cache = new();
    private string? _skipReason;
    private Exception? _buildFailure;
    private BuiltImage? _image;
    private ImageBuilder? _builder;

    public string Qemu { get; private set; } = "";

    /// <summary>Builds of the same recipes are reused: the second one found the first in the cache.</summary>
    internal BuiltImage? SecondBuild { get; private set; }

    internal BuiltImage Image
    {
        get
        {
            if (_skipReason is not null)
                Assert.Skip(_skipReason);
            if (_buildFailure is not null)
                throw new InvalidOperationException("building the tiny image failed", _buildFailure);
            return _image!;
        }
    }

    public async ValueTask InitializeAsync()
    {
        _skipReason = WhyCannotBuild();
        if (_skipReason is not null)
            return;
        Qemu = AptPackages.Which("qemu-system-x86_64")!;
        var builder = _builder = new ImageBuilder(RecipeDirectory.Locate(), new ImageCache(_cache.Path));
        try
        {
            _image = await builder.BuildAsync("tiny", force: false, _ => { }, CancellationToken.None);
            SecondBuild = await builder.BuildAsync("tiny", force: false, _ => { }, CancellationToken.None);
        }
        catch (Exception e)
        {
            _buildFailure = e;
        }
    }

    /// <summary>Build an image built on tiny (<see cref="RecipeDirectory.BaseOf"/>) in the same cache, which holds tiny's build.</summary>
    internal Task<BuiltImage> BuildOnTinyAsync(string name)
    {
        _ = Image; // skips or fails as the tests of tiny do
        return _builder!.BuildAsync(name, force: false, _ => { }, CancellationToken.None);
    }

    public ValueTask DisposeAsync()
    {
        _cache.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The recipe installs its own tools with apt-get, which needs root; QEMU must be there to boot.</summary>
    private static string? WhyCannotBuild()
    {
        if (AptPackages.Which("qemu-system-x86_64") is null)
            return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
        if (AptPackages.Which("apt-get") is null || AptPackages.Which("dpkg") is null)
            return "the image recipes need a Debian system (apt-get, dpkg)";
        string[] tools = ["syslinux", "sfdisk", "mkfs.fat", "mcopy", "mkfs.ext4", "cpio"];
        if (Environment.UserName != "root" && tools.FirstOrDefault(tool => AptPackages.Which(tool) is null) is { } missing)
            return $"{missing} is missing and only root can install it (apt-get install syslinux syslinux-common fdisk dosfstools mtools e2fsprogs cpio)";
        return null;
    }
}
