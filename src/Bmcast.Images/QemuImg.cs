using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Bmcast.Images;

/// <summary>The two <c>qemu-img</c> operations an import needs: identify a format, convert to raw.</summary>
public static class QemuImg
{
    public const string Executable = "qemu-img";

    public static async Task<DiskImageFormat> DetectAsync(string path, CancellationToken cancellationToken)
    {
        string json = await RunAsync(["info", "--output=json", Path.GetFullPath(path)], cancellationToken);
        string? name;
        try
        {
            using var document = JsonDocument.Parse(json);
            name = document.RootElement.GetProperty("format").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ImageStoreException($"could not understand qemu-img info's answer for {path}", e);
        }
        if (name is null || !Enum.TryParse(name, ignoreCase: true, out DiskImageFormat format) || format == DiskImageFormat.Auto)
            throw new ImageStoreException($"{path} is in format '{name}', which is not supported (raw, qcow2, vmdk, vhdx, vdi)");
        return format;
    }

    /// <summary>Write <paramref name="source"/> as a sparse raw file at <paramref name="destination"/>.</summary>
    public static Task ConvertToRawAsync(string source, DiskImageFormat format, string destination, CancellationToken cancellationToken) =>
        RunAsync(["convert", "-q", "-f", format.ToString().ToLowerInvariant(), "-O", "raw",
            Path.GetFullPath(source), Path.GetFullPath(destination)], cancellationToken);

    private static async Task<string> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception e)
        {
            throw new ImageStoreException(
                $"{Executable} is needed to read non-raw images but could not be started ({e.Message}): install qemu-utils, or pass --format raw", e);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            string errorText = (await error).Trim();
            if (process.ExitCode == 0)
                return await output;
            if (errorText.Contains("No space left on device", StringComparison.Ordinal))
                throw new IOException(errorText, LibC.ENOSPC); // reported like our own writes running out
            throw new ImageStoreException($"{Executable} {arguments[0]} failed: {errorText}");
        }
    }
}
