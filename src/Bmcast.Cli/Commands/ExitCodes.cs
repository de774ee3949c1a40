namespace Bmcast.Cli.Commands;

internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failed = 1;
    /// <summary><c>image verify</c> found damage.</summary>
    public const int Corrupt = 2;
    public const int Interrupted = 130;
}
