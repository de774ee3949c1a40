namespace Bmcast.Images;

/// <summary>
/// Refuses a damaged source image before anything of it is imported. qcow2, vmdk, vhdx and vdi files are checked with
/// <c>qemu-img check</c> where the format supports it (corruption or a check that cannot complete is refused; leaked
/// clusters are harmless), and every data extent <c>qemu-img map</c> reports must lie within the file: a file cut short
/// otherwise converts without complaint into an image of zeros. A raw file has no structure to check; for every format
/// the import detects a file that changes while it is read (<see cref="SourceFileState"/>).
/// </summary>
public static class SourceImageCheck
{
    public static async Task CheckAsync(string path, DiskImageFormat format, long fileSize, CancellationToken cancellationToken)
    {
        if (format == DiskImageFormat.Raw)
            return;
        if (await QemuImg.CheckAsync(path, format, cancellationToken) is { } problem)
            throw new ImageStoreException($"{path} is a damaged {Name(format)} image ({problem}): refusing to import it");
        if (await QemuImg.LastDataByteAsync(path, format, cancellationToken) is { } end && end > fileSize)
            throw new ImageStoreException(
                $"{path} is a truncated {Name(format)} image: its data reaches byte {end} but the file has {fileSize} bytes; refusing to import it");
    }

    private static string Name(DiskImageFormat format) => format.ToString().ToLowerInvariant();
}
