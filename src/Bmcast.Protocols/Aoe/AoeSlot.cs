using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// One exported device at shelf.slot, with the config string initiators may set (kept in memory only). An image's
/// companions (manifest, boot profile) have the image's slot number and name; their shelves are
/// <see cref="AoeTargetOptions.ManifestShelf"/> and <see cref="AoeTargetOptions.ProfileShelf"/>.
/// </summary>
public sealed class AoeSlot(byte number, string name, IBlockDevice device, AoeSlotKind kind = AoeSlotKind.Image)
{
    private readonly Lock _lock = new();
    private byte[] _configString = [];

    public byte Number { get; } = number;

    /// <summary>The image's name, for its companions too.</summary>
    public string Name { get; } = name;

    public AoeSlotKind Kind { get; } = kind;

    /// <summary>What the slot holds, for logs and IDENTIFY's model string: <c>NAME</c>, <c>manifest of NAME</c> or <c>boot profile of NAME</c>.</summary>
    public string Description => Kind switch
    {
        AoeSlotKind.Manifest => "manifest of " + Name,
        AoeSlotKind.Profile => "boot profile of " + Name,
        _ => Name,
    };

    public IBlockDevice Device { get; } = device;

    /// <summary>
    /// Read straight from the device: a frame's 1-8.5 KiB is one <c>pread</c> on a pack the store keeps open, which
    /// the page cache serves as well as a block cache of our own would, without its copy and its lock.
    /// </summary>
    internal ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        Device.ReadAsync(offset, buffer, cancellationToken);

    /// <summary>Whole sectors; a size that is not a multiple of 512 reads as zero-padded to the next sector.</summary>
    public ulong Sectors => (ulong)((Device.Size + 511) / 512);

    public byte[] ConfigString
    {
        get { lock (_lock) return _configString; }
    }

    /// <summary>Apply a config command's side effect; false when <see cref="Core.Aoe.ConfigCommand.Set"/> meets a different string.</summary>
    public bool TrySet(ReadOnlySpan<byte> value, bool force)
    {
        lock (_lock)
        {
            if (!force && _configString.Length != 0 && !value.SequenceEqual(_configString))
                return false;
            _configString = value.ToArray();
            return true;
        }
    }
}
