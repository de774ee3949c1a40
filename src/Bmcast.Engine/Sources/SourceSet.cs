using System.Diagnostics;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Engine.Sources;

/// <summary>
/// The sources of one deployment, all serving the same image (issue 14): each fetch goes to the healthy source with
/// the fewest fetches in flight (<see cref="SpreadPolicy"/>), not to a primary with fallbacks. A source whose read
/// fails, goes unanswered (<see cref="NoReplyLimit"/>) or whose chunk fails verification is marked down: the fetch is retried on another, and the source is probed
/// in the background with backoff (100 ms doubling to 5 s, reset by its next verified chunk) until it answers again;
/// its members reconnect, and check the image's identity, by themselves. Only when every source is down do the
/// single-source outage rules apply to the set: fetches wait up to <see cref="OutageLimit"/> for one to return, then
/// fail at once with <see cref="ImageSourceUnavailableException"/> until one does.
/// A set of one source never marks it down: that source's own outage rules (<see cref="ReconnectingImageSource"/>)
/// are the whole story, as before there were several.
/// </summary>
public sealed class SourceSet : IImageSource
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    /// <summary>A probe unanswered this long counts as a failure.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);
    private const int ProbeBytes = 4096;

    private readonly SourceMember[] _members;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _probes = [];
    private TaskCompletionSource _memberUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _allDownSince;

    public SourceSet(IReadOnlyList<IImageSource> sources, TimeSpan outageLimit, ILogger logger)
    {
        if (sources.Count == 0)
            throw new ArgumentException("a source set needs at least one source", nameof(sources));
        if (sources.FirstOrDefault(s => s.Size != sources[0].Size) is { } odd)
            throw new ArgumentException($"{odd.Description} has {odd.Size} bytes but {sources[0].Description} has {sources[0].Size}: not the same image");
        _members = [.. sources.Select(s => new SourceMember(s))];
        OutageLimit = outageLimit;
        _logger = logger;
        Size = sources[0].Size;
        Description = string.Join(" + ", _members.Select(m => m.Uri));
    }

    /// <summary><paramref name="source"/> itself when it is a set, else a set of that one source.</summary>
    public static SourceSet Of(IImageSource source) => source as SourceSet ?? new SourceSet([source], TimeSpan.Zero, NullLogger.Instance);

    public long Size { get; }

    public string Description { get; }

    public TimeSpan OutageLimit { get; }

    public IReadOnlyList<SourceMember> Members => _members;

    /// <summary>
    /// With several sources, a read unanswered this long fails (and marks its source down) rather than waiting for the
    /// member's own 30 s limit, which would only reconnect to the same silent server.
    /// </summary>
    public TimeSpan NoReplyLimit { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether a fetch that failed on one source may be retried on another.</summary>
    public bool CanFailOver => _members.Length > 1;

    /// <summary>Every source's URI, verified bytes and state, in the order given.</summary>
    public SourceTally[] Tallies()
    {
        lock (_gate)
            return [.. _members.Select(m => new SourceTally(m.Uri, m.Bytes, m.Down))];
    }

    /// <summary>
    /// The source the next fetch goes to, counted in flight until <see cref="Succeeded"/>, <see cref="Failed"/> or
    /// <see cref="Abandoned"/>; <paramref name="avoid"/> only if no other is up. When every source is down, waits for one
    /// to return, up to the outage limit counted from when the last went down.
    /// </summary>
    public async ValueTask<SourceMember> AcquireAsync(SourceMember? avoid, CancellationToken ct)
    {
        while (true)
        {
            Task up;
            TimeSpan left;
            lock (_gate)
            {
                if (SpreadPolicy.Pick(_members, avoid) is { } member)
                {
                    member.Outstanding++;
                    return member;
                }
                up = _memberUp.Task;
                left = OutageLimit - Stopwatch.GetElapsedTime(_allDownSince);
                if (left <= TimeSpan.Zero)
                    throw new ImageSourceUnavailableException(
                        $"all {_members.Length} sources down for {(OutageLimit - left).TotalSeconds:0} s (limit {OutageLimit.TotalSeconds:0} s): " +
                        string.Join("; ", _members.Select(m => $"{m.Uri}: {m.LastProblem}")), new IOException("no source up"));
            }
            try
            {
                await up.WaitAsync(left, ct);
            }
            catch (TimeoutException)
            {
                // Past the limit: the next pass says so, unless a source came back meanwhile.
            }
        }
    }

    /// <summary>
    /// Read from <paramref name="member"/> (acquired from this set); with several sources a read unanswered for
    /// <see cref="NoReplyLimit"/> fails with an <see cref="IOException"/>, so that another source can serve it.
    /// </summary>
    public async ValueTask ReadAsync(SourceMember member, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        if (!CanFailOver)
        {
            await member.Source.ReadAsync(offset, buffer, ct);
            return;
        }
        using var noReply = CancellationTokenSource.CreateLinkedTokenSource(ct);
        noReply.CancelAfter(NoReplyLimit);
        try
        {
            await member.Source.ReadAsync(offset, buffer, noReply.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IOException($"no reply within {NoReplyLimit.TotalSeconds:0.#} s");
        }
    }

    /// <summary>The fetch on <paramref name="member"/> brought <paramref name="bytes"/> verified bytes.</summary>
    public void Succeeded(SourceMember member, long bytes)
    {
        lock (_gate)
        {
            member.Outstanding--;
            member.Bytes += bytes;
            member.ConsecutiveFailures = 0;
        }
        EngineMetrics.RecordSourceFetched(member.Tag, bytes);
    }

    /// <summary>The fetch on <paramref name="member"/> ended without a result that says anything about the source.</summary>
    public void Abandoned(SourceMember member)
    {
        lock (_gate)
            member.Outstanding--;
    }

    /// <summary>
    /// The fetch on <paramref name="member"/> failed: its read broke, timed out, or its chunk failed verification. In a
    /// set of several the source is marked down (once) and probed until it answers again. <paramref name="verifiedBytes"/>:
    /// what it served that passed verification all the same (the other chunks of a run with one that failed).
    /// </summary>
    public void Failed(SourceMember member, string problem, long verifiedBytes = 0)
    {
        if (verifiedBytes > 0)
            EngineMetrics.RecordSourceFetched(member.Tag, verifiedBytes);
        lock (_gate)
        {
            member.Outstanding--;
            member.Bytes += verifiedBytes;
            member.LastProblem = problem;
            if (!CanFailOver || member.Down)
                return;
            member.Down = true;
            member.ConsecutiveFailures++;
            int up = _members.Count(m => !m.Down);
            if (up == 0)
                _allDownSince = Stopwatch.GetTimestamp();
            _logger.LogWarning("source {Source} is down ({Problem}); retrying it in {Delay:0.0} s; {Up} of {Count} sources up{Rule}",
                member.Uri, problem, Backoff(member.ConsecutiveFailures).TotalSeconds, up, _members.Length,
                up == 0 ? $": reads wait up to {OutageLimit.TotalSeconds:0} s for one to return" : "");
            _probes.RemoveAll(p => p.IsCompleted);
            _probes.Add(ProbeAsync(member));
        }
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        SourceMember? previous = null;
        while (true)
        {
            var member = await AcquireAsync(previous, cancellationToken);
            try
            {
                await ReadAsync(member, offset, buffer, cancellationToken);
            }
            catch (IOException e) when (CanFailOver)
            {
                Failed(member, e.Message);
                previous = member;
                continue;
            }
            catch
            {
                Abandoned(member);
                throw;
            }
            Succeeded(member, buffer.Length);
            return;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        Task[] probes;
        lock (_gate)
            probes = [.. _probes];
        await Task.WhenAll(probes);
        foreach (var member in _members)
            await member.Source.DisposeAsync();
        _stopping.Dispose();
    }

    /// <summary>
    /// Waits the member's backoff, then reads the image's first bytes from it (its reconnection, identity check
    /// included, happens there); the first answer puts it back into the spreading. Ends quietly when the set is disposed.
    /// </summary>
    private async Task ProbeAsync(SourceMember member)
    {
        var buffer = new byte[(int)Math.Min(Size, ProbeBytes)];
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan delay;
            lock (_gate)
                delay = Backoff(member.ConsecutiveFailures);
            try
            {
                await Task.Delay(delay, stopping);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(ProbeTimeout);
                await member.Source.ReadAsync(0, buffer, timeout.Token);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                lock (_gate)
                {
                    member.ConsecutiveFailures++;
                    member.LastProblem = e.Message;
                }
                continue;
            }
            BackUp(member);
            return;
        }
    }

    private void BackUp(SourceMember member)
    {
        lock (_gate)
        {
            member.Down = false;
            _allDownSince = 0;
            var up = _memberUp;
            _memberUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            up.SetResult();
        }
        _logger.LogWarning("source {Source} answers again: fetches go to it again", member.Uri);
    }

    private static TimeSpan Backoff(int failures) =>
        TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Clamp(failures - 1, 0, 20)));
}
