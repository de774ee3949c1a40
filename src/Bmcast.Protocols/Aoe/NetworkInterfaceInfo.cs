using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>What the packet socket needs to know about an interface, read from <c>/sys/class/net</c>.</summary>
public sealed record NetworkInterfaceInfo(string Name, int Index, int Mtu, MacAddress Address)
{
    public static NetworkInterfaceInfo Read(string name)
    {
        if (name.Length == 0 || name.Contains('/') || name is "." or "..")
            throw new ArgumentException($"'{name}' is not an interface name");
        string dir = Path.Combine("/sys/class/net", name);
        if (!Directory.Exists(dir))
            throw new IOException($"no network interface '{name}'");
        string address = File.ReadAllText(Path.Combine(dir, "address")).Trim();
        if (!MacAddress.TryParse(address, out var mac))
            throw new IOException($"interface '{name}' has no Ethernet address ('{address}')");
        return new NetworkInterfaceInfo(
            name,
            int.Parse(File.ReadAllText(Path.Combine(dir, "ifindex")).Trim(), System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(File.ReadAllText(Path.Combine(dir, "mtu")).Trim(), System.Globalization.CultureInfo.InvariantCulture),
            mac);
    }
}
