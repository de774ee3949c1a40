using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>Sends log lines to the running test's output, and keeps them and counts warnings so tests can assert on them.</summary>
internal sealed class TestLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<string> _lines = new();
    private int _warnings;

    public int Warnings => _warnings;

    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>Whether a line containing <paramref name="text"/> is logged within 5 s (for what the server logs after the client has gone).</summary>
    public async Task<bool> WaitForLineAsync(string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(20);
        }
        return true;
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel >= LogLevel.Warning)
            Interlocked.Increment(ref _warnings);
        string line = $"[{logLevel}] {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name)}";
        _lines.Enqueue(line);
        try
        {
            TestContext.Current.TestOutputHelper?.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // Logged after the test finished.
        }
    }
}
