namespace Bmcast.Cli.Commands;

/// <summary>The exit codes of bmcast, which its tools (bmcast-chaos) share.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failed = 1;
    /// <summary>Damage or loss found: <c>image verify</c> found a bad chunk, a <c>chaos</c> campaign lost data.</summary>
    public const int Corrupt = 2;
    public const int Interrupted = 130;
}
