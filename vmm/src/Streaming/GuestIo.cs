using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// Guest I/O commands the controller holds: seen at a doorbell, their
// completion not yet consumed by the guest. While one is in flight a guest
// HLT waits for its interrupt, and a background slice at that HLT would
// delay the guest's I/O by a whole fetch (a few milliseconds under TCG,
// against the device's tenths): the background copy leaves such HLTs alone
// (moderation, DESIGN §4.8). Only a completion that is never consumed (a
// queue deleted under its commands) could leave the count too high, so it
// is believed for StaleMs after the guest's last I/O doorbell (counted
// from the end of its hold: a fetch inside the exit can take longer than
// StaleMs); a controller enable clears it.
internal static class GuestIo
{
    private const ulong StaleMs = 100;
    private static ulong s_inFlight, s_lastDoorbell;

    public static void Submitted()
    {
        s_inFlight++;
        s_lastDoorbell = Clock.Now;
    }

    public static void Completed()
    {
        if (s_inFlight > 0)
            s_inFlight--;   // a command refused before the policy saw it completes too
        s_lastDoorbell = Clock.Now;
    }

    public static void Reset() => s_inFlight = 0;

    public static bool InFlight => s_inFlight != 0 && Clock.MsSince(s_lastDoorbell) < StaleMs;
}
