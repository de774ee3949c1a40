using System.Text;

namespace Bmcast.Protocols.Nbd;

/// <summary>NBD strings: UTF-8, no NUL, at most <see cref="NbdProtocol.MaxStringLength"/> bytes.</summary>
public static class NbdStrings
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static int ByteCount(string value) => StrictUtf8.GetByteCount(value);

    /// <summary>Decode a string from the wire; false when it is too long, not UTF-8 or contains NUL.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, out string value)
    {
        value = "";
        if (bytes.Length > NbdProtocol.MaxStringLength || bytes.Contains((byte)0))
            return false;
        try
        {
            value = StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>Encode for the wire, throwing when the string could not be sent legally.</summary>
    public static int Encode(string value, Span<byte> destination)
    {
        int n = StrictUtf8.GetBytes(value, destination);
        if (n > NbdProtocol.MaxStringLength || destination[..n].Contains((byte)0))
            throw new ArgumentException($"not a valid NBD string ({n} bytes)", nameof(value));
        return n;
    }

    /// <summary>Cut a human-readable message to a legal length (on a UTF-8 boundary).</summary>
    public static string Truncate(string message)
    {
        if (StrictUtf8.GetByteCount(message) <= NbdProtocol.MaxStringLength)
            return message;
        int length = Math.Min(message.Length, NbdProtocol.MaxStringLength / 4);
        if (length > 0 && char.IsHighSurrogate(message[length - 1]))
            length--;
        return message[..length];
    }
}
