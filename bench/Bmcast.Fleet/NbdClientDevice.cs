using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Fleet;

/// <summary>An agent's export as the replayed guest sees it: the requests QEMU would send, over the agent's NBD socket.</summary>
internal sealed class NbdClientDevice(NbdClient client) : IBlockDevice
{
    public long Size => client.Size;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.WriteZeroes;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => client.ReadAsync(offset, buffer, ct);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) => client.WriteAsync(offset, data, forceUnitAccess, ct);

    public ValueTask FlushAsync(CancellationToken ct) => client.FlushAsync(ct);

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) => client.WriteZeroesAsync(offset, length, forceUnitAccess, ct);

    public ValueTask DisposeAsync() => client.DisposeAsync();
}
