namespace Bmcast.Agent.Deploy;

/// <summary>
/// What a deploy does once its guest has powered off with the copy incomplete: it lets the copy finish, so that the
/// target boots alone, but not for ever. A copy that makes no progress for a whole stall limit (every image server
/// gone for longer than the deployment waits for one, a full disk) will not finish by itself, and the deploy must
/// end all the same; the state file keeps what arrived, and the same command resumes from there.
/// </summary>
public static class CopyAfterPowerOff
{
    /// <summary>How often progress is looked at: a stall is noticed at most this late.</summary>
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Wait for <paramref name="finished"/> (the copy complete, or the agent ended) while <paramref name="presentBytes"/>
    /// keeps growing; true once it has finished, false when nothing arrived for <paramref name="stallLimit"/>.
    /// </summary>
    public static async Task<bool> FinishAsync(Task finished, Func<long> presentBytes, TimeSpan stallLimit, TimeProvider time, CancellationToken ct)
    {
        long present = presentBytes();
        long lastArrival = time.GetTimestamp();
        while (!finished.IsCompleted)
        {
            await Task.WhenAny(finished, Task.Delay(Poll, time, ct));
            ct.ThrowIfCancellationRequested();
            long now = presentBytes();
            if (now != present)
            {
                present = now;
                lastArrival = time.GetTimestamp();
            }
            else if (!finished.IsCompleted && time.GetElapsedTime(lastArrival) >= stallLimit)
            {
                return false;
            }
        }
        return true;
    }
}
