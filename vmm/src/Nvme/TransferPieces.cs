namespace Bmcast.Vmm.Nvme;

// A range of logical blocks split into commands of at most
// PrivateQueuePair.MaxTransferBytes, in order: the one split both the
// private pair's polled range transfers and the fetcher's queued chunk
// writes make. Walk it with Next; each piece is Count blocks at Offset
// (blocks from the range's start), the Index-th of the range.
internal struct TransferPieces
{
    private readonly ulong _blocks, _perCommand;

    public ulong Offset;
    public uint Count;
    public uint Index;

    public TransferPieces(ulong blocks, ulong blockSize)
    {
        _blocks = blocks;
        _perCommand = PrivateQueuePair.MaxTransferBytes / blockSize;
        Offset = 0;
        Count = 0;
        Index = 0;
    }

    // Moves to the next piece; false past the last.
    public bool Next()
    {
        if (Count != 0)
            Index++;
        Offset += Count;
        if (Offset >= _blocks)
            return false;
        ulong left = _blocks - Offset;
        Count = (uint)(left < _perCommand ? left : _perCommand);
        return true;
    }
}
