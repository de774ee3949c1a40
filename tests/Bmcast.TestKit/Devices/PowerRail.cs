namespace Bmcast.TestKit.Devices;

/// <summary>
/// The power supply shared by a machine's simulated disks: armed with a countdown, it cuts power
/// after that many more device writes or flushes, and every device operation fails from then on,
/// so a power cut can land between any two I/Os of an engine operation.
/// </summary>
public sealed class PowerRail
{
    private int _operationsLeft = -1;

    public bool IsCut => _operationsLeft == 0;

    public void CutAfter(int operations) => Interlocked.Exchange(ref _operationsLeft, operations);

    public void Restore() => Interlocked.Exchange(ref _operationsLeft, -1);

    /// <summary>Called before each device write or flush; throws once the power is cut.</summary>
    public void Consume()
    {
        while (true)
        {
            int left = Volatile.Read(ref _operationsLeft);
            if (left < 0)
                return;
            if (left == 0)
                throw new IOException("power cut");
            if (Interlocked.CompareExchange(ref _operationsLeft, left - 1, left) == left)
                return;
        }
    }
}
