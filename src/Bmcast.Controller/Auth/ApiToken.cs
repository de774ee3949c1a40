using System.Security.Cryptography;
using System.Text;

namespace Bmcast.Controller.Auth;

/// <summary>
/// The bearer token every <c>/api</c> request must carry: read from <c>--token-file</c>, or generated on first start
/// into <c>DATA/token</c> (mode 0600, readable by the operator alone) and kept for later starts.
/// </summary>
public sealed class ApiToken
{
    private readonly byte[] _token;

    private ApiToken(string token) => _token = Encoding.UTF8.GetBytes(token);

    /// <summary>The token just generated (to print once), or null when it already existed.</summary>
    public string? Generated { get; private init; }

    public static ApiToken Load(string? tokenFile, string dataDirectory)
    {
        if (tokenFile is not null)
            return new ApiToken(ReadToken(tokenFile));
        string path = Path.Combine(dataDirectory, "token");
        if (File.Exists(path))
            return new ApiToken(ReadToken(path));
        string token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(path, create))
            file.Write(Encoding.UTF8.GetBytes(token + "\n"));
        return new ApiToken(token) { Generated = token };
    }

    private static string ReadToken(string path)
    {
        string token = File.ReadAllText(path).Trim();
        return token.Length >= 16 && !token.Any(char.IsWhiteSpace)
            ? token
            : throw new InvalidDataException($"{path}: an API token must be one word of at least 16 characters");
    }

    /// <summary>Whether an <c>Authorization</c> header carries this token (compared in constant time).</summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim()), _token);
    }
}
