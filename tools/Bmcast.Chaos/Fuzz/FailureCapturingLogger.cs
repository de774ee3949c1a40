using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// A logger that keeps the first error a component logs. Servers catch every exception per connection
/// so that one client cannot take them down, and log the unexpected ones as errors: for the fuzzer such
/// an error is a crash that was caught, and <see cref="ThrowIfFailed"/> brings it back out.
/// </summary>
public sealed class FailureCapturingLogger<T> : ILogger<T>
{
    private Exception? _failure;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
            Interlocked.CompareExchange(ref _failure, exception ?? new InvalidOperationException(formatter(state, null)), null);
    }

    /// <summary>Rethrow (and forget) the first error logged since the last call.</summary>
    public void ThrowIfFailed()
    {
        if (Interlocked.Exchange(ref _failure, null) is { } failure)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }
}
