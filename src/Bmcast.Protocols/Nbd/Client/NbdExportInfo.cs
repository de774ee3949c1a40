namespace Bmcast.Protocols.Nbd.Client;

/// <summary>What the server told a client about the export it connected to.</summary>
public sealed record NbdExportInfo(
    string Name,
    long Size,
    NbdTransmissionFlags Flags,
    bool StructuredReplies,
    bool BlockStatus,
    uint MinimumBlockSize,
    uint PreferredBlockSize,
    uint MaximumPayload)
{
    public bool IsReadOnly => (Flags & NbdTransmissionFlags.ReadOnly) != 0;
}
