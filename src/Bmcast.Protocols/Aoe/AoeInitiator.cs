using System.Diagnostics;
using System.Net.Sockets;
using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Reads sectors from one AoE target (shelf.slot). Finds the target by a broadcast Query Config,
/// learns its size by IDENTIFY DEVICE, then keeps a window of tagged READ SECTORS EXT requests
/// outstanding, resending each on an RTT-based timeout with a fresh tag. Thread-safe; one receive
/// loop matches replies to requests a batch at a time, and a timer loop resends. Frames go out after
/// the lock is released, in batches. Owns its channel.
/// </summary>
public sealed class AoeInitiator : IAsyncDisposable
{
    private const int RequestFrameLength = AoeProtocol.MinimumFrameLength;
    /// <summary>Replies taken per receive call.</summary>
    private const int ReceiveBatchSize = 64;
    /// <summary>Requests expiring together, with no reply for a timeout, that look like a stall rather than loss.</summary>
    private const int StallProbeThreshold = 8;
    /// <summary>How fast a pause learnt (<see cref="RttEstimator.LearnPause"/>) is forgotten: halved every this long.</summary>
    private static readonly TimeSpan PauseMemoryHalfLife = TimeSpan.FromSeconds(5);
    /// <summary>Spare requests kept for the next reads: several reads of a MiB in flight at MTU 1500, beyond which the GC takes them.</summary>
    private const int MaxSpareRequests = 8192;

    private readonly IFrameChannel _channel;
    private readonly AoeInitiatorOptions _options;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, AoeRequest> _inflight = [];
    /// <summary>
    /// The earlier sends of each request that was resent and is still pending, with when they went out: on a loaded
    /// machine most timeouts are a descheduled peer, not a lost frame, and an earlier send's reply is as good as the resend's.
    /// </summary>
    private readonly Dictionary<uint, (AoeRequest Request, long SentAt, int Send)> _superseded = [];
    /// <summary>
    /// The first sends of requests that a resend's reply completed, with when they went out and how many resends followed:
    /// a reply to one of them, coming after all, shows those resends were in vain, as a DSACK does for TCP (RFC 3708).
    /// Without it a target that answers out of order (one of its threads descheduled holding a batch while another answers
    /// the later ones) and answers the resends at once never looks slow, only lossy. Forgotten after the longest timeout.
    /// </summary>
    private readonly Dictionary<uint, (long SentAt, int Resends)> _answeredByResend = [];
    private readonly long _forgetAnsweredAfter;
    /// <summary>Requests not sent yet, each with the read it was queued for: one whose request has since begun another life is stale.</summary>
    private readonly Queue<(AoeRequest Request, AoeRequestSet Set)> _waiting = new();
    /// <summary>Requests whose read is over, none of their tags known any more, for the next reads to take (linked by <see cref="AoeRequest.Next"/>).</summary>
    private AoeRequest? _spareRequests;
    private int _spareCount;
    /// <summary>Send batches for callers' threads (the receive and timer loops own theirs).</summary>
    private readonly Stack<FrameBatch> _spareBatches = new();
    private readonly RttEstimator _rtt;
    private readonly CongestionWindow _window;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _receiver;
    private readonly Task _timer;
    private uint _nextTag = (uint)Random.Shared.Next();
    private MacAddress _target = MacAddress.Broadcast;
    private Exception? _broken;
    /// <summary>When the last reply completed a request (<see cref="Stopwatch"/> ticks); guarded by the lock.</summary>
    private long _lastReply = Stopwatch.GetTimestamp();
    /// <summary>When the latest-sent request that has been answered went out; guarded by the lock.</summary>
    private long _newestAnsweredSentAt;
    private long _retransmissions;
    private long _spuriousRetransmissions;
    private long _ignored;

    private AoeInitiator(IFrameChannel channel, ushort shelf, byte slot, AoeInitiatorOptions options)
    {
        _channel = channel;
        _options = options;
        Shelf = shelf;
        Slot = slot;
        _rtt = new RttEstimator(Ticks(options.InitialTimeout), Ticks(options.MinTimeout), Ticks(options.MaxTimeout), Ticks(PauseMemoryHalfLife));
        _window = new CongestionWindow(options.InitialWindow, options.MaxWindow);
        _forgetAnsweredAfter = Ticks(options.MaxTimeout);
        SectorsPerFrame = Math.Min(byte.MaxValue, AoeProtocol.SectorsPerFrame(channel.Mtu));
        _receiver = StartReceiver();
        _timer = Task.Run(TimerLoopAsync);
    }

    public ushort Shelf { get; }

    public byte Slot { get; }

    /// <summary>The target's Ethernet address, learnt from its reply to the discovery broadcast.</summary>
    public MacAddress Target => _target;

    /// <summary>Sectors per request: what our MTU carries, capped by what the target advertised.</summary>
    public int SectorsPerFrame { get; private set; }

    public ulong Sectors { get; private set; }

    /// <summary>The model string of the target's IDENTIFY reply.</summary>
    public string Model { get; private set; } = "";

    /// <summary>Requests sent again after a timeout.</summary>
    public long Retransmissions => Interlocked.Read(ref _retransmissions);

    /// <summary>Resends made in vain: an earlier send's reply completed the request (the timeout was premature).</summary>
    public long SpuriousRetransmissions => Interlocked.Read(ref _spuriousRetransmissions);

    /// <summary>How long a silence may last now before requests are resent into it (a pause seen before, decaying), for logs and tests.</summary>
    public TimeSpan LearntPause
    {
        get
        {
            lock (_lock)
                return TimeSpan.FromSeconds((double)_rtt.PauseAt(Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
        }
    }

    /// <summary>Frames dropped as malformed, late, duplicate or not for us.</summary>
    public long IgnoredFrames => Interlocked.Read(ref _ignored);

    public static async Task<AoeInitiator> ConnectAsync(IFrameChannel channel, ushort shelf, byte slot,
        AoeInitiatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        var initiator = new AoeInitiator(channel, shelf, slot, options ?? new AoeInitiatorOptions());
        try
        {
            await initiator.DiscoverAsync(cancellationToken);
            await initiator.IdentifyAsync(cancellationToken);
            return initiator;
        }
        catch
        {
            await initiator.DisposeAsync();
            throw;
        }
    }

    /// <summary>Read <c>destination.Length / 512</c> sectors starting at <paramref name="lba"/>.</summary>
    public async Task ReadSectorsAsync(ulong lba, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.Length % AoeProtocol.SectorSize != 0)
            throw new ArgumentException("read length must be whole sectors", nameof(destination));
        ulong count = (ulong)destination.Length / AoeProtocol.SectorSize;
        if (lba + count > Sectors)
            throw new ArgumentOutOfRangeException(nameof(lba), $"sectors {lba}..{lba + count} are beyond the target's {Sectors}");
        int perFrame = SectorsPerFrame;
        int parts = (int)((count + (ulong)perFrame - 1) / (ulong)perFrame);
        var set = new AoeRequestSet(parts);
        AoeRequest? first = null;
        lock (_lock)
            for (int i = parts - 1; i >= 0; i--)
            {
                int sectors = (int)Math.Min((ulong)perFrame, count - (ulong)i * (ulong)perFrame);
                var request = TakeSpare().Start(set, AoeCommand.Ata, Ata.ReadSectorsExt, AtaFlags.Extended, lba + (ulong)(i * perFrame), sectors,
                    destination.Slice(i * perFrame * AoeProtocol.SectorSize, sectors * AoeProtocol.SectorSize));
                request.Next = first;
                first = request;
            }
        try
        {
            await RunAsync(set, first!, cancellationToken);
        }
        finally
        {
            Recycle(first!);
        }
    }

    /// <summary>A spare request, or a new one while there are none. Caller holds the lock.</summary>
    private AoeRequest TakeSpare()
    {
        if (_spareRequests is not { } spare)
            return new AoeRequest();
        _spareRequests = spare.Next;
        _spareCount--;
        return spare;
    }

    /// <summary>
    /// Keep the requests of a read that is over (linked from <paramref name="first"/>) for the next reads. Their tags are
    /// forgotten first, so no late reply can reach a request in its next life; a queue entry still naming one is stale
    /// by its set (<see cref="Pump"/>).
    /// </summary>
    private void Recycle(AoeRequest first)
    {
        lock (_lock)
        {
            for (var request = first; request is not null;)
            {
                var next = request.Next;
                Forget(request);
                request.Next = null;
                if (_spareCount < MaxSpareRequests)
                {
                    request.Next = _spareRequests;
                    _spareRequests = request;
                    _spareCount++;
                }
                request = next;
            }
        }
    }

    private async Task DiscoverAsync(CancellationToken cancellationToken)
    {
        var set = new AoeRequestSet(1);
        var request = new AoeRequest().Start(set, AoeCommand.QueryConfig, 0, AtaFlags.None, 0, 0, Memory<byte>.Empty);
        await RunAsync(set, request, cancellationToken);
        lock (_lock)
        {
            _target = request.ReplySource;
            // A target that advertises no sector count gets two, what every Ethernet frame carries (as Linux does).
            int advertised = request.Config.SectorCount == 0 ? 2 : request.Config.SectorCount;
            SectorsPerFrame = Math.Max(1, Math.Min(SectorsPerFrame, advertised));
            _window.Limit(Math.Max(1, (int)request.Config.BufferCount));
        }
    }

    private async Task IdentifyAsync(CancellationToken cancellationToken)
    {
        var identify = new byte[AtaIdentify.Length];
        var set = new AoeRequestSet(1);
        await RunAsync(set, new AoeRequest().Start(set, AoeCommand.Ata, Ata.IdentifyDevice, AtaFlags.None, 0, 1, identify), cancellationToken);
        Sectors = AtaIdentify.ReadSectors(identify);
        Span<char> model = stackalloc char[AtaIdentify.ModelLength];
        Model = new string(model[..AtaIdentify.ReadModel(identify, model)]);
    }

    /// <summary>
    /// Send the requests of one read (linked from <paramref name="first"/>) as the window allows and wait for all; when it
    /// returns or throws, no reply writes into their buffers any more.
    /// </summary>
    private async Task RunAsync(AoeRequestSet set, AoeRequest first, CancellationToken cancellationToken)
    {
        FrameBatch outgoing;
        lock (_lock)
        {
            if (_broken is not null)
                throw new IOException($"AoE initiator for e{Shelf}.{Slot} stopped: {_broken.Message}", _broken);
            for (var request = first; request is not null; request = request.Next)
                _waiting.Enqueue((request, set));
            outgoing = _spareBatches.TryPop(out var spare) ? spare : NewOutgoingBatch();
            Pump(outgoing);
        }
        Send(outgoing);
        lock (_lock)
            _spareBatches.Push(outgoing);
        // Cancelling withdraws the requests under the lock, so no reply can write into the caller's buffer afterwards.
        using var registration = cancellationToken.Register(() => Withdraw(set, first, cancellationToken));
        try
        {
            await set.Completion.Task;
        }
        catch
        {
            // One part failed: its siblings must not keep writing into a buffer the caller gets back now.
            Withdraw(set, first, CancellationToken.None);
            throw;
        }
    }

    private void Withdraw(AoeRequestSet set, AoeRequest first, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            for (var request = first; request is not null; request = request.Next)
                Forget(request);
            set.Cancel(cancellationToken);
        }
    }

    /// <summary>Drop the request's current and superseded tags, so no reply to any of its sends can reach it.</summary>
    private void Forget(AoeRequest request)
    {
        if (_inflight.TryGetValue(request.Tag, out var current) && current == request)
            _inflight.Remove(request.Tag);
        for (int i = 0; i < request.Transmissions - 1; i++)
        {
            uint tag = request.EarlierTags![i];
            if (_superseded.TryGetValue(tag, out var earlier) && earlier.Request == request)
                _superseded.Remove(tag);
        }
    }

    /// <summary>Queue waiting requests for sending while the window has room. Caller holds the lock.</summary>
    private void Pump(FrameBatch outgoing)
    {
        while (_waiting.Count > 0 && _inflight.Count < _window.Current)
        {
            var (request, set) = _waiting.Dequeue();
            if (request.Set == set && !request.IsOver)
                Transmit(request, Stopwatch.GetTimestamp(), outgoing);
        }
    }

    /// <summary>
    /// Give the request a fresh tag and its frame a place in <paramref name="outgoing"/>, which the caller sends
    /// after releasing the lock: no syscall happens under the lock the receive thread needs for every reply.
    /// </summary>
    private void Transmit(AoeRequest request, long now, FrameBatch outgoing)
    {
        if (request.Transmissions > 0)
        {
            request.Supersede(_options.MaxTransmissions);
            _superseded[request.Tag] = (request, request.SentAt, request.Transmissions);
        }
        do
            request.Tag = _nextTag++;
        while (_inflight.ContainsKey(request.Tag) || _superseded.ContainsKey(request.Tag) || _answeredByResend.ContainsKey(request.Tag));
        request.Transmissions++;
        request.SentAt = now;
        request.Deadline = now + _rtt.TimeoutFor(request.Transmissions);
        _inflight[request.Tag] = request;
        if (outgoing.IsFull)
            Send(outgoing); // more than a whole window at once: rare enough to send under the lock
        outgoing.Add(request.Write(outgoing.Next().Span, _target, _channel.Address, Shelf, Slot));
    }

    private void Send(FrameBatch outgoing)
    {
        try
        {
            if (outgoing.Count > 0)
                _channel.Send(outgoing);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // A full socket buffer, a link blip or a closing channel is one more lost frame; the timeout resends it.
        }
        outgoing.Clear();
    }

    private FrameBatch NewOutgoingBatch() => new(_options.MaxWindow, RequestFrameLength);

    /// <summary>Match one received frame to the request it answers. Never throws for any input.</summary>
    public AoeReplyOutcome HandleReply(ReadOnlySpan<byte> frame)
    {
        FrameBatch outgoing;
        lock (_lock)
            outgoing = _spareBatches.TryPop(out var spare) ? spare : NewOutgoingBatch();
        var outcome = HandleReply(frame, outgoing);
        Send(outgoing);
        lock (_lock)
            _spareBatches.Push(outgoing);
        return outcome;
    }

    /// <summary>Match one frame; requests it lets into the window go into <paramref name="outgoing"/>.</summary>
    private AoeReplyOutcome HandleReply(ReadOnlySpan<byte> frame, FrameBatch outgoing)
    {
        var outcome = Match(frame, outgoing);
        if (outcome is not (AoeReplyOutcome.Completed or AoeReplyOutcome.Failed))
            Interlocked.Increment(ref _ignored);
        return outcome;
    }

    private AoeReplyOutcome Match(ReadOnlySpan<byte> frame, FrameBatch outgoing)
    {
        if (AoeHeader.TryRead(frame, out var header) != AoeFrameStatus.Valid)
            return AoeReplyOutcome.Malformed;
        if (!header.IsResponse || header.Destination != _channel.Address || header.Major != Shelf || header.Minor != Slot)
            return AoeReplyOutcome.NotForUs;
        lock (_lock)
        {
            bool current = _inflight.TryGetValue(header.Tag, out var request);
            long sentAt;
            int send;
            if (current)
                (sentAt, send) = (request!.SentAt, request.Transmissions);
            else if (_superseded.TryGetValue(header.Tag, out var earlier))
                (request, sentAt, send) = earlier;
            else if ((_target.IsBroadcast || header.Source == _target) && _answeredByResend.Remove(header.Tag, out var answered))
                return LateAfterResend(answered.SentAt, answered.Resends);
            else
                return AoeReplyOutcome.Late;
            if (!_target.IsBroadcast && header.Source != _target)
                return AoeReplyOutcome.NotForUs;
            if (header.Command != request.Command)
                return AoeReplyOutcome.Malformed;
            if (request.IsOver)
            {
                Forget(request);
                return AoeReplyOutcome.Late;
            }
            if (header.IsError)
                return Fail(request, $"target {header.Source} e{Shelf}.{Slot} answered AoE error {(byte)header.Error} ({header.Error})", outgoing);
            var outcome = request.Command == AoeCommand.Ata ? CompleteAta(frame, request, outgoing) : CompleteConfig(frame, request);
            if (outcome == AoeReplyOutcome.Completed)
            {
                // Each send has its own tag, so every reply times the send it answers: no ambiguity to avoid (Karn).
                long now = Stopwatch.GetTimestamp();
                _rtt.Sample(now - sentAt);
                if (!current)
                    LearnFromResendsInVain(now - sentAt, request.Transmissions - send, now); // the timeouts were premature
                else if (request.Transmissions > 1 && _superseded.TryGetValue(request.EarlierTags![0], out var first))
                    _answeredByResend[request.EarlierTags[0]] = (first.SentAt, request.Transmissions - 1);
                _window.OnReply();
                _lastReply = now;
                _newestAnsweredSentAt = Math.Max(_newestAnsweredSentAt, sentAt);
                Forget(request);
                request.Answer(header.Source);
                Pump(outgoing);
            }
            return outcome;
        }
    }

    /// <summary>
    /// The reply to a first send came after a resend's reply had completed the request: the resends were in vain, and
    /// replies may lag this far behind later ones. Caller holds the lock.
    /// </summary>
    private AoeReplyOutcome LateAfterResend(long sentAt, int resends)
    {
        long now = Stopwatch.GetTimestamp();
        LearnFromResendsInVain(now - sentAt, resends, now);
        return AoeReplyOutcome.Late;
    }

    /// <summary>
    /// Resends made in vain: the send they superseded was only slow (a descheduled peer, or us). Remember the delay for a
    /// while, so the next such silence or lag is waited out, not resent into, and take back the window's halving.
    /// </summary>
    private void LearnFromResendsInVain(long delay, int resends, long now)
    {
        Interlocked.Add(ref _spuriousRetransmissions, resends);
        ServerMetrics.RecordAoeInitiatorSpuriousResends(resends);
        _rtt.LearnPause(delay, now);
        _window.UndoLoss();
    }

    private AoeReplyOutcome CompleteAta(ReadOnlySpan<byte> frame, AoeRequest request, FrameBatch outgoing)
    {
        if (AtaHeader.TryRead(frame, out var ata) != AoeFrameStatus.Valid || ata.Lba != request.Lba)
            return AoeReplyOutcome.Malformed;
        if ((ata.CommandOrStatus & (Ata.StatusError | Ata.StatusDeviceFault)) != 0)
            return Fail(request, $"target e{Shelf}.{Slot} failed the ATA command at LBA {request.Lba}: status 0x{ata.CommandOrStatus:x2}, error 0x{ata.ErrorOrFeature:x2}", outgoing);
        var data = frame[AoeProtocol.AtaDataOffset..];
        if (data.Length < request.Destination.Length)
            return AoeReplyOutcome.Malformed;
        data[..request.Destination.Length].CopyTo(request.Destination.Span);
        return AoeReplyOutcome.Completed;
    }

    private static AoeReplyOutcome CompleteConfig(ReadOnlySpan<byte> frame, AoeRequest request)
    {
        if (ConfigHeader.TryRead(frame, out var config) != AoeFrameStatus.Valid)
            return AoeReplyOutcome.Malformed;
        request.Config = config;
        return AoeReplyOutcome.Completed;
    }

    private AoeReplyOutcome Fail(AoeRequest request, string message, FrameBatch outgoing)
    {
        Forget(request);
        request.Fail(new IOException(message));
        Pump(outgoing);
        return AoeReplyOutcome.Failed;
    }

    /// <summary>One dedicated thread blocks in receive; disposing the channel ends it.</summary>
    private Task StartReceiver()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() => ReceiveLoop(done)) { IsBackground = true, Name = $"aoe-initiator-e{Shelf}.{Slot}" }.Start();
        return done.Task;
    }

    /// <summary>
    /// Takes every reply queued so far in one call, matches them all, then sends the requests they let into the
    /// window in one call: two syscalls per batch instead of two per frame.
    /// </summary>
    private void ReceiveLoop(TaskCompletionSource done)
    {
        // This thread alone receives, and is done with a batch's replies when it receives again: a receive ring may lend them in place.
        var frames = new FrameBatch(ReceiveBatchSize,
            AoeProtocol.EthernetHeaderLength + Math.Max(_channel.Mtu, AtaIdentify.Length + AoeProtocol.HeaderLength) + 64, mayBorrow: true);
        var outgoing = NewOutgoingBatch();
        try
        {
            while (true)
            {
                _channel.Receive(frames);
                for (int i = 0; i < frames.Count; i++)
                    HandleReply(frames.Frame(i).Span, outgoing);
                Send(outgoing);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException or IOException)
        {
            if (!_stop.IsCancellationRequested)
                Break(e);
        }
        done.SetResult();
    }

    private async Task TimerLoopAsync()
    {
        long tick = Math.Max(1, (long)(_options.MinTimeout.TotalMilliseconds / 2));
        var expired = new List<AoeRequest>();
        var outgoing = NewOutgoingBatch();
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(tick), _stop.Token);
                lock (_lock)
                    ResendExpired(expired, outgoing);
                Send(outgoing);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private void ResendExpired(List<AoeRequest> expired, FrameBatch outgoing)
    {
        long now = Stopwatch.GetTimestamp();
        long timeout = _rtt.Timeout;
        long silence = now - _lastReply;
        // An overdue request is lost when a request sent after it has been answered (as RACK, RFC 8985, tells loss from
        // delay) and it has been out longer than a pause that turned out harmless before: RACK's reordering window. A
        // target answers out of order when one of its threads is descheduled holding a batch of requests while another
        // answers the later ones; without the window each such batch was resent, in vain (63 and 82 resends in two of six
        // reads of 256 MiB at MTU 9000 on a loaded machine, each read then at half the rate). Otherwise it may be queued
        // behind a pause, or be draining after one: while the silence is shorter than that pause, wait.
        long pause = _rtt.PauseAt(now);
        bool waitOut = silence < pause;
        foreach (var (tag, answered) in _answeredByResend)
            if (now - answered.SentAt > _forgetAnsweredAfter)
                _answeredByResend.Remove(tag);
        expired.Clear();
        foreach (var request in _inflight.Values)
            if (now >= request.Deadline && ((request.SentAt < _newestAnsweredSentAt && now - request.SentAt >= pause) || !waitOut))
                expired.Add(request);
        if (expired.Count == 0)
            return;
        // At most one halving per timeout period: the losses it reveals all date from one window.
        _window.OnLoss(now, timeout);
        if (silence >= timeout && expired.Count >= StallProbeThreshold)
        {
            // A large window expired with no reply for a whole timeout: the peer (or we) stalled, as a descheduled
            // process on a busy machine does, rather than frames being lost one by one. Probe with the oldest
            // request and give the rest another timeout instead of sending the whole window again (and making the
            // target read it all twice). A few requests expiring together are resent at once: that is plain loss
            // with a small window.
            var oldest = expired.MinBy(request => request.SentAt)!;
            foreach (var request in expired)
                if (request != oldest)
                    request.Deadline = now + _rtt.TimeoutFor(request.Transmissions);
            expired.Clear();
            expired.Add(oldest);
        }
        foreach (var request in expired)
        {
            if (request.IsOver || request.Transmissions >= _options.MaxTransmissions)
            {
                Forget(request);
                if (request.IsOver)
                    continue;
                request.Fail(new AoeNoReplyException(
                    $"no reply from {(_target.IsBroadcast ? "any target" : _target.ToString())} for e{Shelf}.{Slot} after {request.Transmissions} sends",
                    targetFound: !_target.IsBroadcast));
                continue;
            }
            // The send it supersedes stays welcome (Transmit files its tag); only the window slot it held is freed.
            _inflight.Remove(request.Tag);
            Interlocked.Increment(ref _retransmissions);
            ServerMetrics.RecordAoeInitiatorResend();
            Transmit(request, now, outgoing);
        }
        Pump(outgoing);
    }

    private void Break(Exception cause)
    {
        lock (_lock)
        {
            _broken = cause;
            var failure = new IOException($"AoE initiator for e{Shelf}.{Slot} stopped: {cause.Message}", cause);
            foreach (var request in _inflight.Values)
                request.Fail(failure);
            foreach (var (request, set) in _waiting)
                if (request.Set == set)
                    request.Fail(failure);
            _inflight.Clear();
            _superseded.Clear();
            _answeredByResend.Clear();
            _waiting.Clear();
        }
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _channel.Dispose();
        await Task.WhenAll(_receiver, _timer);
        Break(new ObjectDisposedException(nameof(AoeInitiator)));
        _stop.Dispose();
    }
}
