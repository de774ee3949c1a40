namespace Bmcast.Protocols.Aoe;

/// <summary>
/// What a slot exports: an image (on the target's shelf), that image's signed manifest (on the manifest shelf) or its
/// boot profile (on the profile shelf).
/// </summary>
public enum AoeSlotKind
{
    Image,
    /// <summary>A <see cref="Core.Aoe.CompanionFrame"/>: lets an initiator verify the image without a second protocol.</summary>
    Manifest,
    /// <summary>A <see cref="Core.Aoe.CompanionFrame"/> of the image's boot profile: lets an initiator prefetch what a boot reads first.</summary>
    Profile,
}
