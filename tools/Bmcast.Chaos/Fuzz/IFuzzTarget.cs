namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// One component under <c>bmcast chaos fuzz</c>: it makes inputs (structure-aware where that reaches
/// deeper) and feeds them to the real code, in process.
/// </summary>
public interface IFuzzTarget : IAsyncDisposable
{
    /// <summary>The counter of inputs fed to this target (<c>nbd_server</c>, <c>manifest</c>, ...).</summary>
    string Name { get; }

    byte[] Generate(Random random);

    /// <summary>
    /// Feed one input. Returning, or throwing one of the target's documented errors, is a pass; a
    /// <see cref="FuzzViolationException"/> reports something the protocol forbids that was let through.
    /// </summary>
    Task FeedAsync(byte[] input, CancellationToken ct);

    /// <summary>True for the errors the component documents for bad input (e.g. <see cref="InvalidDataException"/>).</summary>
    bool IsDocumented(Exception error);
}
