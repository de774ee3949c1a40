using System.Text;

namespace Bmcast.Chaos;

/// <summary>
/// The counters of a campaign, in the order they were first named. Loss counters (declared up front,
/// shown even when zero) fail the campaign when any is above zero; every loss keeps a one-line detail.
/// </summary>
public sealed class ChaosTally
{
    private readonly Lock _gate = new();
    private readonly List<string> _order = [];
    private readonly Dictionary<string, long> _values = [];
    private readonly HashSet<string> _lossCounters;
    private readonly List<string> _details = [];

    public ChaosTally(IEnumerable<string> lossCounters)
    {
        _lossCounters = [.. lossCounters];
        foreach (string counter in _lossCounters)
            Add(counter, 0);
    }

    /// <summary>True when <paramref name="counter"/> is one of this campaign's loss counters.</summary>
    public bool IsLossCounter(string counter) => _lossCounters.Contains(counter);

    /// <summary>True when any loss counter is above zero.</summary>
    public bool Lost
    {
        get
        {
            lock (_gate)
                return _lossCounters.Any(c => _values[c] > 0);
        }
    }

    /// <summary>One line per loss recorded, in order.</summary>
    public IReadOnlyList<string> Details
    {
        get
        {
            lock (_gate)
                return [.. _details];
        }
    }

    public void Add(string counter, long amount = 1)
    {
        lock (_gate)
        {
            if (_values.TryAdd(counter, amount))
                _order.Add(counter);
            else
                _values[counter] += amount;
        }
    }

    /// <summary>Count a loss on <paramref name="counter"/> (one of the loss counters) and keep why.</summary>
    public void Loss(string counter, string detail)
    {
        if (!IsLossCounter(counter))
            throw new ArgumentException($"{counter} is not a loss counter of this campaign");
        Add(counter);
        lock (_gate)
            _details.Add($"{counter}: {detail}");
    }

    public long this[string counter]
    {
        get
        {
            lock (_gate)
                return _values.GetValueOrDefault(counter);
        }
    }

    /// <summary>The counters in order, for JSON output.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Snapshot()
    {
        lock (_gate)
            return [.. _order.Select(c => new KeyValuePair<string, long>(c, _values[c]))];
    }

    /// <summary><c>power-cut: runs=10 lost_writes=0 corrupt_blocks=0 kills=23</c>: runs, then loss counters, then the rest.</summary>
    public string Summary(string campaign, int runs)
    {
        var line = new StringBuilder($"{campaign}: runs={runs}");
        var counters = Snapshot();
        foreach (var (name, value) in counters.Where(c => _lossCounters.Contains(c.Key)).Concat(counters.Where(c => !_lossCounters.Contains(c.Key))))
            line.Append($" {name}={value}");
        return line.ToString();
    }
}
