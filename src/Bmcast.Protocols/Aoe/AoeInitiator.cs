using System.Diagnostics;
using System.Net.Sockets;
using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Reads sectors from one AoE target (shelf.slot). Finds the target by a broadcast Query Config,
/// learns its size by IDENTIFY DEVICE, then keeps a window of tagged READ SECTORS EXT requests
/// outstanding, resending each on an RTT-based timeout with a fresh tag. Thread-safe; one receive
/// loop matches replies to requests, and a timer loop resends. Owns its channel.
/// </summary>
public sealed class AoeInitiator : IAsyncDisposable
{
    private const int RequestFrameLength = AoeProtocol.MinimumFrameLength;

    private readonly IFrameChannel _channel;
    private readonly AoeInitiatorOptions _options;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, AoeRequest> _inflight = [];
    private readonly Queue<AoeRequest> _waiting = new();
    private readonly RttEstimator _rtt;
    private readonly CongestionWindow _window;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _receiver;
    private readonly Task _timer;
    private uint _nextTag = (uint)Random.Shared.Next();
    private MacAddress _target = MacAddress.Broadcast;
    private Exception? _broken;
    private long _retransmissions;
    private long _ignored;

    private AoeInitiator(IFrameChannel channel, ushort shelf, byte slot, AoeInitiatorOptions options)
    {
        _channel = channel;
        _options = options;
        Shelf = shelf;
        Slot = slot;
        _rtt = new RttEstimator(Ticks(options.InitialTimeout), Ticks(options.MinTimeout), Ticks(options.MaxTimeout));
        _window = new CongestionWindow(options.InitialWindow, options.MaxWindow);
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

    public long Retransmissions => Interlocked.Read(ref _retransmissions);

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
        var requests = new AoeRequest[(int)((count + (ulong)perFrame - 1) / (ulong)perFrame)];
        for (int i = 0; i < requests.Length; i++)
        {
            int sectors = (int)Math.Min((ulong)perFrame, count - (ulong)i * (ulong)perFrame);
            ulong at = lba + (ulong)(i * perFrame);
            requests[i] = CreateAta(Ata.ReadSectorsExt, AtaFlags.Extended, at, sectors,
                destination.Slice(i * perFrame * AoeProtocol.SectorSize, sectors * AoeProtocol.SectorSize));
        }
        await RunAsync(requests, cancellationToken);
    }

    private async Task DiscoverAsync(CancellationToken cancellationToken)
    {
        var frame = new byte[RequestFrameLength];
        new AoeHeader(MacAddress.Broadcast, _channel.Address, AoeFlags.None, AoeError.None, Shelf, Slot, AoeCommand.QueryConfig, 0).Write(frame);
        new ConfigHeader(0, 0, 0, ConfigCommand.Read, 0).Write(frame, []);
        var request = new AoeRequest(AoeCommand.QueryConfig, frame, Memory<byte>.Empty, 0);
        await RunAsync([request], cancellationToken);
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
        await RunAsync([CreateAta(Ata.IdentifyDevice, AtaFlags.None, 0, 1, identify)], cancellationToken);
        Sectors = AtaIdentify.ReadSectors(identify);
    }

    private AoeRequest CreateAta(byte command, AtaFlags flags, ulong lba, int sectors, Memory<byte> destination)
    {
        var frame = new byte[RequestFrameLength];
        new AoeHeader(_target, _channel.Address, AoeFlags.None, AoeError.None, Shelf, Slot, AoeCommand.Ata, 0).Write(frame);
        new AtaHeader(flags, 0, (byte)sectors, command, lba).Write(frame);
        return new AoeRequest(AoeCommand.Ata, frame, destination, lba);
    }

    private async Task RunAsync(AoeRequest[] requests, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_broken is not null)
                throw new IOException($"AoE initiator for e{Shelf}.{Slot} stopped: {_broken.Message}", _broken);
            foreach (var request in requests)
                _waiting.Enqueue(request);
            Pump();
        }
        // Cancelling withdraws the requests under the lock, so no reply can write into the caller's buffer afterwards.
        using var registration = cancellationToken.Register(() => Withdraw(requests, cancellationToken));
        try
        {
            await Task.WhenAll(requests.Select(r => r.Completion.Task));
        }
        catch
        {
            // One part failed: its siblings must not keep writing into a buffer the caller gets back now.
            Withdraw(requests, CancellationToken.None);
            throw;
        }
    }

    private void Withdraw(AoeRequest[] requests, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var request in requests)
            {
                RemoveInflight(request);
                request.Completion.TrySetCanceled(cancellationToken);
            }
        }
    }

    private void RemoveInflight(AoeRequest request)
    {
        if (_inflight.TryGetValue(request.Tag, out var current) && current == request)
            _inflight.Remove(request.Tag);
    }

    /// <summary>Send waiting requests while the window has room. Caller holds the lock.</summary>
    private void Pump()
    {
        while (_waiting.Count > 0 && _inflight.Count < _window.Current)
        {
            var request = _waiting.Dequeue();
            if (!request.Completion.Task.IsCompleted)
                Transmit(request, Stopwatch.GetTimestamp());
        }
    }

    private void Transmit(AoeRequest request, long now)
    {
        do
            request.Tag = _nextTag++;
        while (_inflight.ContainsKey(request.Tag));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(request.Frame.AsSpan(20), request.Tag);
        request.Transmissions++;
        request.SentAt = now;
        request.Deadline = now + _rtt.TimeoutFor(request.Transmissions);
        _inflight[request.Tag] = request;
        try
        {
            _channel.Send(request.Frame);
        }
        catch (SocketException)
        {
            // A full socket buffer or a link blip is one more lost frame; the timeout resends it.
        }
    }

    /// <summary>Match one received frame to the request it answers. Never throws for any input.</summary>
    public AoeReplyOutcome HandleReply(ReadOnlySpan<byte> frame)
    {
        var outcome = Match(frame);
        if (outcome is not (AoeReplyOutcome.Completed or AoeReplyOutcome.Failed))
            Interlocked.Increment(ref _ignored);
        return outcome;
    }

    private AoeReplyOutcome Match(ReadOnlySpan<byte> frame)
    {
        if (AoeHeader.TryRead(frame, out var header) != AoeFrameStatus.Valid)
            return AoeReplyOutcome.Malformed;
        if (!header.IsResponse || header.Destination != _channel.Address || header.Major != Shelf || header.Minor != Slot)
            return AoeReplyOutcome.NotForUs;
        lock (_lock)
        {
            if (!_inflight.TryGetValue(header.Tag, out var request))
                return AoeReplyOutcome.Late;
            if (!_target.IsBroadcast && header.Source != _target)
                return AoeReplyOutcome.NotForUs;
            if (header.Command != request.Command)
                return AoeReplyOutcome.Malformed;
            if (header.IsError)
                return Fail(request, $"target {header.Source} e{Shelf}.{Slot} answered AoE error {(byte)header.Error} ({header.Error})");
            var outcome = request.Command == AoeCommand.Ata ? CompleteAta(frame, request) : CompleteConfig(frame, request);
            if (outcome == AoeReplyOutcome.Completed)
            {
                request.ReplySource = header.Source;
                if (request.Transmissions == 1)
                    _rtt.Sample(Stopwatch.GetTimestamp() - request.SentAt);
                _window.OnReply();
                _inflight.Remove(request.Tag);
                request.Completion.TrySetResult();
                Pump();
            }
            return outcome;
        }
    }

    private AoeReplyOutcome CompleteAta(ReadOnlySpan<byte> frame, AoeRequest request)
    {
        if (AtaHeader.TryRead(frame, out var ata) != AoeFrameStatus.Valid || ata.Lba != request.Lba)
            return AoeReplyOutcome.Malformed;
        if ((ata.CommandOrStatus & (Ata.StatusError | Ata.StatusDeviceFault)) != 0)
            return Fail(request, $"target e{Shelf}.{Slot} failed the ATA command at LBA {request.Lba}: status 0x{ata.CommandOrStatus:x2}, error 0x{ata.ErrorOrFeature:x2}");
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

    private AoeReplyOutcome Fail(AoeRequest request, string message)
    {
        _inflight.Remove(request.Tag);
        request.Completion.TrySetException(new IOException(message));
        Pump();
        return AoeReplyOutcome.Failed;
    }

    /// <summary>One dedicated thread blocks in receive; disposing the channel ends it.</summary>
    private Task StartReceiver()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() => ReceiveLoop(done)) { IsBackground = true, Name = $"aoe-initiator-e{Shelf}.{Slot}" }.Start();
        return done.Task;
    }

    private void ReceiveLoop(TaskCompletionSource done)
    {
        var buffer = new byte[AoeProtocol.EthernetHeaderLength + Math.Max(_channel.Mtu, AtaIdentify.Length + AoeProtocol.HeaderLength) + 64];
        try
        {
            while (true)
            {
                int length = _channel.Receive(buffer);
                HandleReply(buffer.AsSpan(0, length));
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
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(tick), _stop.Token);
                lock (_lock)
                    ResendExpired(expired);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private void ResendExpired(List<AoeRequest> expired)
    {
        long now = Stopwatch.GetTimestamp();
        expired.Clear();
        foreach (var request in _inflight.Values)
            if (now >= request.Deadline)
                expired.Add(request);
        if (expired.Count == 0)
            return;
        // At most one halving per timeout period: the losses it reveals all date from one window.
        _window.OnLoss(now, _rtt.Timeout);
        foreach (var request in expired)
        {
            _inflight.Remove(request.Tag);
            if (request.Transmissions >= _options.MaxTransmissions)
            {
                request.Completion.TrySetException(new IOException(
                    $"no reply from {(_target.IsBroadcast ? "any target" : _target.ToString())} for e{Shelf}.{Slot} after {request.Transmissions} sends"));
                continue;
            }
            Interlocked.Increment(ref _retransmissions);
            Transmit(request, now);
        }
        Pump();
    }

    private void Break(Exception cause)
    {
        lock (_lock)
        {
            _broken = cause;
            var failure = new IOException($"AoE initiator for e{Shelf}.{Slot} stopped: {cause.Message}", cause);
            foreach (var request in _inflight.Values.Concat(_waiting))
                request.Completion.TrySetException(failure);
            _inflight.Clear();
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
