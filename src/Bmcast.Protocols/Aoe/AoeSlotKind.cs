namespace Bmcast.Protocols.Aoe;

/// <summary>What a slot exports: an image (on the target's shelf) or that image's signed manifest (on the manifest shelf).</summary>
public enum AoeSlotKind
{
    Image,
    /// <summary>A <see cref="Core.Aoe.ManifestFrame"/>: lets an initiator verify the image without a second protocol.</summary>
    Manifest,
}
