namespace Bmcast.Vmm.Shared;

// What ManifestView.TryParse and CheckRoot found; only Valid lets a manifest be used.
internal enum ManifestStatus
{
    Valid,
    BadMagic,
    BadVersion,
    BadChunkSize,
    BadImageSize,
    BadChunkCount,
    Truncated,
    BitmapPadding,
    RootMismatch,
    NotPinnedRoot,
}
