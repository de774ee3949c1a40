using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Bmcast.Images;

/// <summary>The <c>qemu-img</c> operations an import needs: identify a format, check a file, convert to raw.</summary>
public static class QemuImg
{
    public const string Executable = "qemu-img";

    public static async Task<DiskImageFormat> DetectAsync(string path, CancellationToken cancellationToken)
    {
        var (exitCode, json, error) = await RunProcessAsync(["info", "--output=json", Path.GetFullPath(path)], cancellationToken);
        if (exitCode != 0)
            throw new ImageStoreException($"{path} is a damaged or unreadable image (qemu-img info: {FirstLine(error, json)}): refusing to import it");
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

    /// <summary>
    /// What <c>qemu-img check</c> finds wrong with the file, or null when nothing (or the format cannot be checked).
    /// Leaked clusters (exit 3) waste space but lose no data: not a problem.
    /// </summary>
    public static async Task<string?> CheckAsync(string path, DiskImageFormat format, CancellationToken cancellationToken)
    {
        var (exitCode, output, error) = await RunProcessAsync(["check", "-f", Name(format), Path.GetFullPath(path)], cancellationToken);
        return exitCode switch
        {
            0 or 3 or 63 => null, // 63: the format has no check
            2 => $"qemu-img check found corruption: {FirstLine(output, error)}",
            _ => $"qemu-img check could not complete: {FirstLine(error, output)}",
        };
    }

    /// <summary>The end of the furthest extent stored in the file (from <c>qemu-img map</c>), or null when it stores none.</summary>
    public static async Task<long?> LastDataByteAsync(string path, DiskImageFormat format, CancellationToken cancellationToken)
    {
        string json = await RunAsync(["map", "--output=json", "-f", Name(format), Path.GetFullPath(path)], cancellationToken);
        long? end = null;
        try
        {
            using var document = JsonDocument.Parse(json);
            foreach (var extent in document.RootElement.EnumerateArray())
            {
                // Compressed clusters are shorter in the file than in the image: their end says nothing.
                bool compressed = extent.TryGetProperty("compressed", out var c) && c.GetBoolean();
                if (!compressed && extent.TryGetProperty("offset", out var offset) && extent.GetProperty("data").GetBoolean())
                    end = Math.Max(end ?? 0, offset.GetInt64() + extent.GetProperty("length").GetInt64());
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ImageStoreException($"could not understand qemu-img map's answer for {path}", e);
        }
        return end;
    }

    /// <summary>Write <paramref name="source"/> as a sparse raw file at <paramref name="destination"/>.</summary>
    public static Task ConvertToRawAsync(string source, DiskImageFormat format, string destination, CancellationToken cancellationToken) =>
        RunAsync(["convert", "-q", "-f", Name(format), "-O", "raw",
            Path.GetFullPath(source), Path.GetFullPath(destination)], cancellationToken);

    private static async Task<string> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var (exitCode, output, errorText) = await RunProcessAsync(arguments, cancellationToken);
        if (exitCode == 0)
            return output;
        if (errorText.Contains("No space left on device", StringComparison.Ordinal))
            throw new IOException(errorText, LibC.ENOSPC); // reported like our own writes running out
        throw new ImageStoreException($"{Executable} {arguments[0]} failed: {errorText}");
    }

    private static string Name(DiskImageFormat format) => format.ToString().ToLowerInvariant();

    private static string FirstLine(string text, string otherwise)
    {
        string chosen = string.IsNullOrWhiteSpace(text) ? otherwise : text;
        return chosen.Trim().Split('\n')[0];
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunProcessAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
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
            return (process.ExitCode, await output, (await error).Trim());
        }
    }
}
