using Bmcast.Protocols.Nbd;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// What a hostile NBD client sends a server: pure noise; a valid handshake followed by noise; option haggling
/// with damaged options; or a whole session of valid-looking requests, some with hostile lengths and offsets,
/// then damaged. The exports it names are those of <see cref="NbdServerFuzzTarget"/>: "ro" and "rw"; haggling also
/// names missing ones, some as long as the protocol's string limit allows (issue 15, defect 5: the refusal quoting a
/// 4096-byte name did not fit the limit, and the server dropped the connection with a stack trace), and meta-context
/// queries as long.
/// </summary>
public static class NbdServerInputs
{
    private const int NoiseLength = 600;
    private static readonly string[] Exports =
    [
        "ro", "rw", "missing", "",
        new('x', NbdProtocol.MaxStringLength), new('x', NbdProtocol.MaxStringLength - 20), new('\u00e9', NbdProtocol.MaxStringLength / 2),
    ];
    private static readonly NbdOption[] Options =
    [
        NbdOption.ExportName, NbdOption.Abort, NbdOption.List, NbdOption.Info, NbdOption.Go, NbdOption.StructuredReply,
        NbdOption.ListMetaContext, NbdOption.SetMetaContext, (NbdOption)5, (NbdOption)0xDEAD,
    ];

    public static byte[] Generate(Random random)
    {
        switch (random.Next(5))
        {
            case 0:
                return Mutations.Noise(random, NoiseLength);
            case 1:
                return [.. Handshake(random), .. Mutations.Noise(random, NoiseLength)];
            case 2:
                return Haggling(random);
            default:
                var session = new List<byte>(Handshake(random));
                for (int i = random.Next(1, 20); i > 0; i--)
                    session.AddRange(Request(random));
                return random.Next(3) == 0 ? [.. session] : Mutations.Mutate(session.ToArray(), random, session.Count + NoiseLength);
        }
    }

    /// <summary>Client flags, maybe structured replies and base:allocation, then OPT_GO for an export.</summary>
    public static byte[] Handshake(Random random)
    {
        var bytes = new List<byte>(ClientFlags(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes));
        string export = random.Next(2) == 0 ? "ro" : "rw";
        if (random.Next(2) == 0)
        {
            bytes.AddRange(Option(NbdOption.StructuredReply, []));
            if (random.Next(2) == 0)
                bytes.AddRange(Option(NbdOption.SetMetaContext, MetaContextRequest(export, ["base:allocation"])));
        }
        bytes.AddRange(Option(NbdOption.Go, ExportRequest(export, random.Next(3))));
        return [.. bytes];
    }

    /// <summary>A handful of options, each well-formed or damaged, without necessarily choosing an export.</summary>
    private static byte[] Haggling(Random random)
    {
        var bytes = new List<byte>(ClientFlags((NbdClientFlags)random.Next(4)));
        for (int i = random.Next(1, 8); i > 0; i--)
        {
            var option = Options[random.Next(Options.Length)];
            string export = Exports[random.Next(Exports.Length)];
            byte[] payload = option switch
            {
                NbdOption.ExportName => NbdStringBytes(export),
                NbdOption.Info or NbdOption.Go => ExportRequest(export, random.Next(4)),
                NbdOption.ListMetaContext or NbdOption.SetMetaContext =>
                    MetaContextRequest(export, [.. Enumerable.Repeat("base:allocation", random.Next(3)), "base:", "qemu:dirty-bitmap:x", .. LongQueries(random)]),
                _ => [],
            };
            byte[] whole = Option(option, payload);
            // Damage the option header (magic, option number, length) or anywhere in it.
            bytes.AddRange(random.Next(3) == 0 ? Mutations.Mutate(whole, random, whole.Length + 64, random.Next(2) == 0 ? ..NbdHandshakeCodec.OptionHeaderSize : null) : whole);
        }
        return [.. bytes];
    }

    /// <summary>A request of any command, mostly in range of a 1 MiB export, sometimes with hostile lengths and offsets.</summary>
    private static byte[] Request(Random random)
    {
        var command = (NbdCommand)random.Next(9);
        bool hostile = random.Next(8) == 0;
        // Mostly small: big payloads only slow the campaign down without reaching new code.
        uint length = hostile ? (uint)random.NextInt64(uint.MaxValue + 1L) : (uint)random.Next(random.Next(8) == 0 ? 1 << 16 : 4096);
        ulong offset = hostile ? (ulong)random.NextInt64() << 1 : (ulong)random.Next(1 << 20);
        // Mostly none: a stray flag makes the request invalid before it reaches the device.
        var flags = random.Next(4) == 0 ? (NbdCommandFlags)random.Next(32) : NbdCommandFlags.None;
        // A hostile write announces its length but carries at most a little of it.
        int payloadLength = command != NbdCommand.Write ? 0 : hostile ? random.Next(256) : (int)length;
        var bytes = new byte[NbdTransmissionCodec.RequestSize + payloadLength];
        NbdTransmissionCodec.WriteRequest(bytes, new NbdRequest(flags, command, (ulong)random.NextInt64(), offset, length));
        random.NextBytes(bytes.AsSpan(NbdTransmissionCodec.RequestSize));
        return bytes;
    }

    /// <summary>Sometimes a query as long as the string limit allows: a server that quoted one in a reply would overflow it.</summary>
    private static string[] LongQueries(Random random) => random.Next(4) == 0
        ? [random.Next(2) == 0 ? "base:" + new string('q', NbdProtocol.MaxStringLength - 5) : new string('\u00e9', NbdProtocol.MaxStringLength / 2)]
        : [];

    private static byte[] ClientFlags(NbdClientFlags flags)
    {
        var bytes = new byte[NbdHandshakeCodec.ClientFlagsSize];
        NbdHandshakeCodec.WriteClientFlags(bytes, flags);
        return bytes;
    }

    private static byte[] Option(NbdOption option, byte[] payload)
    {
        var bytes = new byte[NbdHandshakeCodec.OptionHeaderSize + payload.Length];
        NbdHandshakeCodec.WriteOptionHeader(bytes, option, payload.Length);
        payload.CopyTo(bytes, NbdHandshakeCodec.OptionHeaderSize);
        return bytes;
    }

    private static byte[] ExportRequest(string export, int infoCount)
    {
        NbdInfo[] infos = [.. Enumerable.Range(0, infoCount).Select(i => (NbdInfo)i)];
        var bytes = new byte[NbdHandshakeCodec.ExportRequestLength(export, infos.Length)];
        NbdHandshakeCodec.WriteExportRequest(bytes, export, infos);
        return bytes;
    }

    private static byte[] MetaContextRequest(string export, string[] queries)
    {
        var bytes = new byte[NbdHandshakeCodec.MetaContextRequestLength(export, queries)];
        NbdHandshakeCodec.WriteMetaContextRequest(bytes, export, queries);
        return bytes;
    }

    private static byte[] NbdStringBytes(string value) => System.Text.Encoding.UTF8.GetBytes(value);
}
