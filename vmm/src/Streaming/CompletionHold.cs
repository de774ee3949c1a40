using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// "bmcast.vmm.hold-at-complete": for a host that checks the disk against the
// image at completion (`bmcast demo --bare-metal`). Once event=complete and
// the maps (event=presence) are printed, the guest is held inside that same
// exit (event=held) until the host sends a byte on the serial port, or
// LimitMs of the guest's time pass (event=released reason=host|timeout).
// Held, the guest submits nothing, so the written map just printed is
// exact: a guest write is marked in it at its doorbell, before the device
// can run it, and every chunk the map does not list holds the image's
// bytes, final, while the host reads the disk. Without the hold a write
// between the map's line and the host's look would show as a difference.
internal static class CompletionHold
{
    // A host that never answers (gone, or not listening): the disk is
    // complete anyway, so the guest goes on. Guest time: a host that pauses
    // the machine while it compares (QMP stop) stops this clock too.
    private const ulong LimitMs = 10 * 60 * 1000;

    public static bool Enabled;

    public static void Wait()
    {
        if (!Enabled)
            return;
        while (Serial.TryTakeByte())
        {
            // sent before the host could have seen event=held: not its answer
        }
        StreamEvents.Held();
        ulong started = Clock.Now;
        bool answered;
        while (!(answered = Serial.TryTakeByte()) && Clock.MsSince(started) < LimitMs)
        {
        }
        StreamEvents.Released(answered, Clock.MsSince(started));
    }
}
