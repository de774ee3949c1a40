namespace Bmcast.Tests.Engine;

/// <summary>
/// The reference the streaming engine is checked against: the image overlaid with the guest's
/// writes. Flushed writes are certain; after a power cut each byte touched by an unflushed write
/// may hold its last flushed value or any value written since, so the model keeps the set of
/// values each such byte may have until a read observes one (the value is then fixed for good).
/// </summary>
internal sealed class DiskModel
{
    private byte[] _current;
    private byte[] _durable;
    private Dictionary<int, HashSet<byte>> _currentUncertain = [];
    private Dictionary<int, HashSet<byte>> _durableUncertain = [];
    private readonly List<(int Offset, byte[] Data)> _unflushed = [];

    public DiskModel(byte[] image)
    {
        _current = (byte[])image.Clone();
        _durable = (byte[])image.Clone();
    }

    public void Write(int offset, byte[] data)
    {
        data.CopyTo(_current, offset);
        for (int i = 0; i < data.Length; i++)
            _currentUncertain.Remove(offset + i);
        _unflushed.Add((offset, data));
    }

    public void Flush()
    {
        _durable = (byte[])_current.Clone();
        _durableUncertain = _currentUncertain.ToDictionary(e => e.Key, e => new HashSet<byte>(e.Value));
        _unflushed.Clear();
    }

    public void Crash()
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
        _unflushed.Clear();
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
                // The value is fixed from now on; it is also what is durable unless written since.
                _current[at] = observed[i];
                _currentUncertain.Remove(at);
                if (_durableUncertain.Remove(at))
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
