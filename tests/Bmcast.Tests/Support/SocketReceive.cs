using System.Net.Sockets;

namespace Bmcast.Tests.Support;

internal static class SocketReceive
{
    /// <summary>Receive until <paramref name="enough"/> bytes came or the peer closed; returns how many came.</summary>
    public static async Task<int> UntilClosedOrAsync(Socket socket, int enough, CancellationToken ct)
    {
        var buffer = new byte[4096];
        int total = 0;
        while (total < enough)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct);
            if (n == 0)
                break;
            total += n;
        }
        return total;
    }
}
