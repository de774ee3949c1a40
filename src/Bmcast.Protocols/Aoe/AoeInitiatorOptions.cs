namespace Bmcast.Protocols.Aoe;

public sealed record AoeInitiatorOptions
{
    /// <summary>
    /// Most requests outstanding, whatever the target's buffer count says. Large enough that a receiver
    /// descheduled for a moment on a busy machine finds a full batch waiting rather than an idle link.
    /// </summary>
    public int MaxWindow { get; init; } = 256;

    /// <summary>The window to start from; it doubles per round trip until the first loss, then grows by one per window of replies, and halves on loss.</summary>
    public int InitialWindow { get; init; } = 16;

    /// <summary>Timeout before any round trip was measured (discovery).</summary>
    public TimeSpan InitialTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Floor of the RTT-based timeout: a veth round trip is microseconds, but a GC pause is not.</summary>
    public TimeSpan MinTimeout { get; init; } = TimeSpan.FromMilliseconds(10);

    public TimeSpan MaxTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Sends of one request (first try included) before it fails with an <see cref="IOException"/>.</summary>
    public int MaxTransmissions { get; init; } = 10;
}
