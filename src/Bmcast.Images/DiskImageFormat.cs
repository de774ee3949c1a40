namespace Bmcast.Images;

/// <summary>Source formats <c>bmcast image import</c> accepts; all but raw are converted with qemu-img.</summary>
public enum DiskImageFormat
{
    /// <summary>Ask <c>qemu-img info</c>.</summary>
    Auto,
    Raw,
    Qcow2,
    Vmdk,
    Vhdx,
    Vdi,
}
