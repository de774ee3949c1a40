using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Logs refused connections at most once per <see cref="Interval"/>, saying how many went unlogged since the last
/// line: a flood of connections must not become a flood of log lines.
/// </summary>
internal sealed class RefusalLog(ILogger logger)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private long _quietUntil = long.MinValue;
    private int _unlogged;

    public void Refused(object peer, string reason)
    {
        int unlogged;
        lock (_lock)
        {
            long now = Environment.TickCount64;
            if (now < _quietUntil)
            {
                _unlogged++;
                return;
            }
            unlogged = _unlogged;
            _unlogged = 0;
            _quietUntil = now + (long)Interval.TotalMilliseconds;
        }
        logger.LogWarning("NBD: refusing a connection from {Peer}: {Reason} ({Unlogged} more refused since the last such line)", peer, reason, unlogged);
    }
}
