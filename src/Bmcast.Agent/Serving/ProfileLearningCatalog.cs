using Bmcast.Core.Storage;
using Bmcast.Images;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Serving;

/// <summary>
/// The store's exports plus, for each image that has no boot profile yet, the writable hidden export
/// <c>learn-profile:NAME</c> (<see cref="ProfileOfferDevice"/>), where the agent of a deployment that reached ready offers
/// the profile it recorded. The first valid one is kept with the image for good; while the image has a profile the
/// export does not exist, so later agents are told at once (OPT_GO refused) and offer nothing.
/// </summary>
public sealed class ProfileLearningCatalog(IExportCatalog inner, IImageStore store, ILogger logger) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() => inner.List();

    public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken)
    {
        if (!name.StartsWith(ExportNames.LearnProfilePrefix, StringComparison.Ordinal))
            return inner.OpenAsync(name, cancellationToken);
        string image = ExportNames.ImageOf(name);
        if (!store.Exists(image))
            return ValueTask.FromResult<IBlockDevice?>(null);
        if (store.ReadBootProfile(image) is not null)
        {
            logger.LogInformation("a boot profile offered for {Image} is not taken: it has one", image);
            return ValueTask.FromResult<IBlockDevice?>(null);
        }
        return ValueTask.FromResult<IBlockDevice?>(new ProfileOfferDevice(image, store, store.ReadManifest(image).ChunkCount, logger));
    }
}
