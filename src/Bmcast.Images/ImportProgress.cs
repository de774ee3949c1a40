namespace Bmcast.Images;

/// <summary>Where an import is: converting (no byte count known) or chunking <c>Done</c> of <c>Total</c> bytes.</summary>
public readonly record struct ImportProgress(ImportPhase Phase, long Done, long Total);

public enum ImportPhase
{
    Converting,
    Chunking,
}
