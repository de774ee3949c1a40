using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>What the handshake settled: the open device and every feature the transmission phase may use.</summary>
/// <param name="BaseAllocationContextId">Context ID of <c>base:allocation</c>, or 0 when block status was not negotiated.</param>
internal sealed record NbdExportSession(
    string ExportName,
    IBlockDevice Device,
    NbdTransmissionFlags Flags,
    bool StructuredReplies,
    uint BaseAllocationContextId)
{
    public long Size => Device.Size;

    public bool Has(NbdTransmissionFlags flag) => (Flags & flag) != 0;

    /// <summary>Transmission flags for a device: asked once per connection, as its capabilities are fixed.</summary>
    public static NbdTransmissionFlags FlagsFor(BlockDeviceCapabilities capabilities, bool structuredReplies)
    {
        var flags = NbdTransmissionFlags.HasFlags;
        bool writable = (capabilities & BlockDeviceCapabilities.Writable) != 0;
        if (!writable)
            flags |= NbdTransmissionFlags.ReadOnly;
        if ((capabilities & BlockDeviceCapabilities.Flush) != 0)
            flags |= NbdTransmissionFlags.SendFlush;
        if ((capabilities & BlockDeviceCapabilities.ForceUnitAccess) != 0)
            flags |= NbdTransmissionFlags.SendFua;
        if (writable && (capabilities & BlockDeviceCapabilities.WriteZeroes) != 0)
            flags |= NbdTransmissionFlags.SendWriteZeroes;
        if ((capabilities & BlockDeviceCapabilities.MultiConnection) != 0)
            flags |= NbdTransmissionFlags.CanMultiConn;
        // Every read is answered with one OFFSET_DATA chunk, so "don't fragment" costs nothing to honour.
        if (structuredReplies)
            flags |= NbdTransmissionFlags.SendDf;
        return flags;
    }
}
