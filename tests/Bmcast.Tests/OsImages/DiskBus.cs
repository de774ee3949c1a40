namespace Bmcast.Tests.OsImages;

/// <summary>How the disk is attached: virtio-blk (a module in tiny's initramfs) or NVMe (built into the kernel).</summary>
public enum DiskBus
{
    Virtio,
    Nvme,
}
