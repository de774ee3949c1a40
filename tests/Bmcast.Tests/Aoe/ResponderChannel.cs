using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// A link whose far end is a real <see cref="AoeTargetHandler"/> run in place: every frame sent is answered at once and
/// its replies queue for <see cref="Receive(FrameBatch)"/>. Replies live in a fixed ring of buffers, so the link itself
/// allocates nothing per frame, and it counts what the receiving thread allocates between two receives (the
/// initiator's work on a batch of replies), less what the target handler allocated on that thread meanwhile. It can
/// also pause the receiving thread now and then, as a loaded machine deschedules it: replies wait, none is lost.
/// </summary>
internal sealed class ResponderChannel : IFrameChannel, IReplySink
{
    private const int RingSize = 1024;
    private readonly object _lock = new();
    private readonly AoeTargetHandler _handler;
    private readonly byte[][] _ring;
    private readonly int[] _lengths = new int[RingSize];
    private readonly byte[] _request = new byte[AoeProtocol.MinimumFrameLength * 4];
    private int _head;
    private int _count;
    private bool _disposed;
    private int _receiver = -1;
    private long _receiverIdleMark;
    private long _handlerBytesOnReceiver;
    private int _handedOut;
    private int _receives;
    private int _sentBatches;
    private int _holds;

    public static readonly MacAddress InitiatorAddress = new(0x02_00_00_00_00_01);
    public static readonly MacAddress TargetAddress = new(0x02_00_00_00_00_02);

    /// <summary>The initiator's end of a link to a target serving <paramref name="image"/> as e1.0.</summary>
    public static ResponderChannel Serving(byte[] image, int mtu, int pauseEvery = 0, int pauseMilliseconds = 0, int holdEvery = 0, int holdMilliseconds = 0) =>
        new(new AoeTargetHandler(TargetAddress, mtu, new AoeSlotTable([new AoeSlot(0, "disk", new ReadOnlyTestDevice(image))]),
                new AoeTargetOptions { Shelf = 1 }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance), InitiatorAddress, mtu)
            { PauseEvery = pauseEvery, PauseMilliseconds = pauseMilliseconds, HoldEvery = holdEvery, HoldMilliseconds = holdMilliseconds };

    public ResponderChannel(AoeTargetHandler handler, MacAddress address, int mtu)
    {
        _handler = handler;
        Address = address;
        Mtu = mtu;
        _ring = new byte[RingSize][];
        for (int i = 0; i < RingSize; i++)
            _ring[i] = new byte[handler.MaxReplyLength];
    }

    public MacAddress Address { get; }

    public int Mtu { get; }

    /// <summary>While set, the receiving thread's allocations are added up in <see cref="ReceiverBytes"/>.</summary>
    public bool Measuring { get; set; }

    public long ReceiverBytes { get; private set; }

    /// <summary>Replies whose handling <see cref="ReceiverBytes"/> covers.</summary>
    public long RepliesMeasured { get; private set; }

    /// <summary>Every this many batched receives, the receiving thread sleeps <see cref="PauseMilliseconds"/> first; 0: never.</summary>
    public int PauseEvery { get; init; }

    public int PauseMilliseconds { get; init; }

    /// <summary>
    /// Every this many batches of requests sent, that batch is answered only <see cref="HoldMilliseconds"/> later, while the
    /// batches after it are answered at once: the replies come out of order, as from a target whose thread is descheduled
    /// holding a batch while another thread answers; 0: never.
    /// </summary>
    public int HoldEvery { get; init; }

    public int HoldMilliseconds { get; init; }

    /// <summary>Batches held so far.</summary>
    public int Holds => Volatile.Read(ref _holds);

    /// <summary>Pauses made so far.</summary>
    public int Pauses { get; private set; }

    /// <summary>The longest pause, as slept: a loaded machine stretches them.</summary>
    public TimeSpan LongestPause { get; private set; }

    public void Send(ReadOnlySpan<byte> frame)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        lock (_lock)
        {
            int length = Math.Min(frame.Length, _request.Length);
            frame[..length].CopyTo(_request);
            // Reads complete synchronously on this device, so the handler never leaves this thread.
            var handled = _handler.HandleAsync(_request.AsMemory(0, length), this, CancellationToken.None);
            if (!handled.IsCompletedSuccessfully)
                throw new InvalidOperationException("the responder's handler went asynchronous");
            if (Environment.CurrentManagedThreadId == _receiver)
                _handlerBytesOnReceiver += GC.GetAllocatedBytesForCurrentThread() - before;
            Monitor.PulseAll(_lock);
        }
    }

    public void Send(FrameBatch batch)
    {
        if (HoldEvery > 0 && Interlocked.Increment(ref _sentBatches) % HoldEvery == 0)
        {
            // A target thread descheduled with this batch in hand: the requests are answered late, later ones at once.
            var held = Enumerable.Range(0, batch.Count).Select(i => batch.Frame(i).ToArray()).ToArray();
            Interlocked.Increment(ref _holds);
            _ = Task.Delay(HoldMilliseconds).ContinueWith(_ =>
            {
                foreach (var frame in held)
                    Send(frame);
            }, TaskScheduler.Default);
            return;
        }
        for (int i = 0; i < batch.Count; i++)
            Send(batch.Frame(i).Span);
    }

    /// <summary>Room for a reply; when the ring is full the slot past the end is reused, i.e. the reply is lost.</summary>
    public Memory<byte> Reserve() => _ring[(_head + Math.Min(_count, RingSize - 1)) % RingSize];

    public void Commit(int length)
    {
        if (_count == RingSize - 1)
            return;
        _lengths[(_head + _count) % RingSize] = length;
        _count++;
    }

    public int Receive(Span<byte> buffer)
    {
        lock (_lock)
        {
            WaitForReplies();
            int length = Math.Min(_lengths[_head], buffer.Length);
            _ring[_head].AsSpan(0, length).CopyTo(buffer);
            Take();
            return length;
        }
    }

    public void Receive(FrameBatch batch)
    {
        if (PauseEvery > 0 && ++_receives % PauseEvery == 0)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            Thread.Sleep(PauseMilliseconds);
            LongestPause = TimeSpan.FromTicks(Math.Max(LongestPause.Ticks, System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks));
            Pauses++;
        }
        long now = GC.GetAllocatedBytesForCurrentThread();
        lock (_lock)
        {
            if (_receiver == Environment.CurrentManagedThreadId && Measuring)
            {
                ReceiverBytes += now - _receiverIdleMark - _handlerBytesOnReceiver;
                RepliesMeasured += _handedOut;
            }
            _receiver = Environment.CurrentManagedThreadId;
            _handlerBytesOnReceiver = 0;
            WaitForReplies();
            batch.Clear();
            while (_count > 0 && !batch.IsFull)
            {
                batch.Add(_ring[_head].AsSpan(0, _lengths[_head]));
                Take();
            }
            _handedOut = batch.Count;
        }
        _receiverIdleMark = GC.GetAllocatedBytesForCurrentThread();
    }

    private void WaitForReplies()
    {
        while (_count == 0)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Monitor.Wait(_lock, 100);
        }
    }

    private void Take()
    {
        _head = (_head + 1) % RingSize;
        _count--;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
    }
}
