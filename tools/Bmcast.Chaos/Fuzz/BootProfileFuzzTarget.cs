using System.Text;
using Bmcast.Engine;

namespace Bmcast.Chaos.Fuzz;

/// <summary><see cref="BootProfile.Parse"/> on damaged profiles: a valid one cut, flipped, or given hostile lines.</summary>
public sealed class BootProfileFuzzTarget(string directory, Random random) : IFuzzTarget
{
    private const long ChunkCount = 1000;
    private static readonly string[] HostileLines =
        ["-1", "1000", "99999999999999999999", "1e3", "0x10", " 7 ", "+5", "٣", "\r", "\0", new string('9', 5000), "# bmcast boot profile v1"];

    private readonly byte[] _valid = Valid(directory, random);

    public string Name => "boot_profile";

    public byte[] Generate(Random random)
    {
        if (random.Next(3) > 0)
            return Mutations.Mutate(_valid, random, _valid.Length + 256);
        var text = new StringBuilder(Encoding.UTF8.GetString(_valid));
        for (int i = random.Next(1, 4); i > 0; i--)
            text.Append(HostileLines[random.Next(HostileLines.Length)]).Append(random.Next(2) == 0 ? "\n" : "\r\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public Task FeedAsync(byte[] input, CancellationToken ct)
    {
        foreach (long chunk in BootProfile.Parse(Encoding.UTF8.GetString(input), ChunkCount))
            if (chunk is < 0 or >= ChunkCount)
                throw new FuzzViolationException($"the profile gave chunk {chunk}, outside 0..{ChunkCount - 1}");
        return Task.CompletedTask;
    }

    public bool IsDocumented(Exception error) => error is InvalidDataException;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A profile as bmcast writes it (through <see cref="BootProfile.Write"/>, so the seed follows the format).</summary>
    private static byte[] Valid(string directory, Random random)
    {
        string path = Path.Combine(directory, "boot-profile");
        BootProfile.Write(path, [.. Enumerable.Range(0, 40).Select(_ => random.NextInt64(ChunkCount))]);
        return File.ReadAllBytes(path);
    }
}
