namespace Bmcast.Vmm.Net;

// One AoE device as the initiator found it: shelf.slot, the MAC that
// answered, how many sectors one request may carry, and its size.
internal struct AoeTarget
{
    public ushort Major;
    public byte Minor;
    public ulong Mac;
    public int SectorsPerFrame;
    public ulong Sectors;
}
