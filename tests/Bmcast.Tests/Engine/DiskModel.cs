namespace Bmcast.Tests.Engine;

/// <summary>
/// The reference the streaming engine is checked against: the image overlaid with the guest's
/// writes. Flushed writes are certain; after a power cut each byte touched by an unflushed write
/// may hold its last flushed value or any value written since, so the model keeps the set of
/// values each such byte may have until a read observes one (the value is then fixed for good).
///
/// Disk faults: a failed write leaves each byte it covers old or new. A failed flush of the target
/// may have dropped every unflushed write (Linux forgets pages it could not write back, and may
/// evict them later), so each byte written since the last flush may read as old or new, from one
/// read to the next and after later flushes and crashes ("haunted"), until the guest writes it again.
/// </summary>
internal sealed class DiskModel
{
    private byte[] _current;
    private byte[] _durable;
    private Dictionary<int, HashSet<byte>> _currentUncertain = [];
    private Dictionary<int, HashSet<byte>> _durableUncertain = [];
    private readonly List<(int Offset, byte[] Data)> _unflushed = [];
    private readonly Dictionary<int, HashSet<byte>> _haunted = [];
    // Bytes a failed write touched since the last flush: what a read sees there is not what is durable.
    private readonly HashSet<int> _failedSinceFlush = [];

    public DiskModel(byte[] image)
    {
        _current = (byte[])image.Clone();
        _durable = (byte[])image.Clone();
    }

    public void Write(int offset, byte[] data)
    {
        data.CopyTo(_current, offset);
        for (int i = 0; i < data.Length; i++)
        {
            _currentUncertain.Remove(offset + i);
            _haunted.Remove(offset + i);
        }
        _unflushed.Add((offset, data));
    }

    /// <summary>A write failed: each byte it covers may hold its old value or the new one, now and after a crash.</summary>
    public void WriteFailed(int offset, byte[] data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            Widen(_currentUncertain, _current, offset + i, [data[i]]);
            _failedSinceFlush.Add(offset + i);
        }
        _unflushed.Add((offset, data));
    }

    /// <summary>A flush of the target failed: every unflushed write may be lost, now or at any later crash.</summary>
    public void FlushFailed()
    {
        var possible = PossibleAfterLoss();
        _unflushed.Clear();
        foreach (var (at, set) in possible)
        {
            _haunted[at] = set;
            Widen(_currentUncertain, _current, at, set);
            Widen(_durableUncertain, _durable, at, set);
        }
    }

    public void Flush()
    {
        _durable = (byte[])_current.Clone();
        _durableUncertain = _currentUncertain.ToDictionary(e => e.Key, e => new HashSet<byte>(e.Value));
        foreach (var (at, set) in _haunted)
            Widen(_durableUncertain, _durable, at, set);
        _unflushed.Clear();
        _failedSinceFlush.Clear();
    }

    public void Crash()
    {
        var possible = PossibleAfterLoss();
        _unflushed.Clear();
        // What is on the disk now is what was durable: reads of it are stable again.
        _haunted.Clear();
        _current = (byte[])_durable.Clone();
        _currentUncertain = _durableUncertain.ToDictionary(e => e.Key, e => new HashSet<byte>(e.Value));
        foreach (var (at, set) in possible)
        {
            if (set.Count == 1)
            {
                _current[at] = set.First();
                _currentUncertain.Remove(at);
            }
            else
            {
                _currentUncertain[at] = set;
            }
        }
        Flush();
    }

    /// <summary>Each byte touched by an unflushed write: its durable value(s) and every value written since.</summary>
    private Dictionary<int, HashSet<byte>> PossibleAfterLoss()
    {
        var possible = new Dictionary<int, HashSet<byte>>();
        foreach (var (offset, data) in _unflushed)
        {
            for (int i = 0; i < data.Length; i++)
            {
                int at = offset + i;
                if (!possible.TryGetValue(at, out var set))
                    possible[at] = set = _durableUncertain.TryGetValue(at, out var old) ? [.. old] : [_durable[at]];
                set.Add(data[i]);
            }
        }
        return possible;
    }

    /// <summary>Let byte <paramref name="at"/> also hold any of <paramref name="values"/>.</summary>
    private static void Widen(Dictionary<int, HashSet<byte>> uncertain, byte[] known, int at, IEnumerable<byte> values)
    {
        if (!uncertain.TryGetValue(at, out var set))
            uncertain[at] = set = [known[at]];
        set.UnionWith(values);
        if (set.Count == 1)
            uncertain.Remove(at);
    }

    /// <summary>Check bytes a read returned; returns a description of the first mismatch, or null.</summary>
    public string? Observe(int offset, ReadOnlySpan<byte> observed)
    {
        for (int i = 0; i < observed.Length; i++)
        {
            int at = offset + i;
            if (_currentUncertain.TryGetValue(at, out var allowed))
            {
                if (!allowed.Contains(observed[i]))
                    return $"byte {at}: read 0x{observed[i]:x2}, allowed {{{string.Join(",", allowed.Select(b => $"0x{b:x2}"))}}}";
                // A haunted byte's page may still be evicted and read back old: it stays unknown.
                if (_haunted.ContainsKey(at))
                    continue;
                // The value is fixed from now on; it is also what is durable unless written since.
                _current[at] = observed[i];
                _currentUncertain.Remove(at);
                if (!_failedSinceFlush.Contains(at) && _durableUncertain.Remove(at))
                    _durable[at] = observed[i];
            }
            else if (_current[at] != observed[i])
            {
                return $"byte {at}: read 0x{observed[i]:x2}, expected 0x{_current[at]:x2}";
            }
        }
        return null;
    }
}
