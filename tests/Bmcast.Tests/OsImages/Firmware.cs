namespace Bmcast.Tests.OsImages;

/// <summary>Which firmware boots the guest: QEMU's default SeaBIOS, or OVMF (UEFI).</summary>
public enum Firmware
{
    SeaBios,
    Ovmf,
}
