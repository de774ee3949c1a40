using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;

namespace Bmcast.Vmm.Net;

// A freestanding AoE initiator on the hypervisor's own e1000, polled: finds a
// target by a Query Config broadcast (its MAC is the reply's source), asks
// its size with ATA IDENTIFY, and reads with ATA READ SECTORS EXT (LBA48),
// keeping a window of requests outstanding, each resent on timeout
// (RetransmitTimer: from the measured round trips) with the timeout doubled. AoE is unreliable by design: a read whose requests go
// unanswered MaxSends times fails (LastError says why), it never hangs.
// Replies are matched by tag (unique per request, kept across resends), so a
// late reply to a resent request is simply dropped.
internal static unsafe class AoeInitiator
{
    public const int Window = 16;
    private const int MaxSends = 8;
    private const ulong DiscoveryMs = 10_000, DiscoveryResendMs = 500;
    private const int OurMaxSectors = (E1000.MaxFrame - AoeFrame.AtaDataOffset) / AoeFrame.SectorSize;

    private struct Request
    {
        public ulong Lba;
        public uint Tag;
        public int Count;
        public int Sends;
        public ulong SentAt;
        public ulong TimeoutUs;
        public bool Busy;
    }

    private static Request* s_requests;   // Window entries
    private static uint s_nextTag;
    private static ulong s_dropEvery, s_received;
    private static RetransmitTimer s_timer;

    private static AoeFailure s_failure;

    public static ulong Resends { get; private set; }
    // Every ATA request frame sent (resends included) and every reply that completed a request.
    public static ulong FramesSent { get; private set; }
    public static ulong FramesReceived { get; private set; }
    // Replies for no outstanding request: late answers to a request already
    // answered after a resend (so that resend was early, not for a loss).
    public static ulong StaleReplies { get; private set; }
    public static ulong Dropped { get; private set; }

    // Fault injection for tests where the kernel offers no netem: every nth
    // reply a read receives is dropped as if the network had lost it.
    public static void DropEvery(ulong n) => s_dropEvery = n;

    // Why the last Discover or Read failed. (A code, not a string: a static
    // reference would need the runtime's GC statics.)
    public static string LastError => s_failure switch
    {
        AoeFailure.NoTransmit => "the NIC does not transmit",
        AoeFailure.NoTarget => "no AoE target answered the config query (10 s)",
        AoeFailure.PastEnd => "read past the end of the target",
        AoeFailure.Unanswered => "a request went unanswered after 8 sends",
        AoeFailure.TargetError => "the target answered with an error",
        _ => "no error",
    };

    // state: one page of reserved memory.
    public static void Init(byte* state)
    {
        s_requests = (Request*)state;
        s_nextTag = 1;
    }

    // Finds major.minor: its MAC from the first config reply, then its size.
    public static bool Discover(ushort major, byte minor, out AoeTarget target)
    {
        target = default;
        target.Major = major;
        target.Minor = minor;
        uint tag = s_nextTag++;
        ulong start = Clock.Now, sentAt = 0;
        bool sent = false;
        while (Clock.MsSince(start) < DiscoveryMs)
        {
            if (!sent || Clock.MsSince(sentAt) >= DiscoveryResendMs)
            {
                byte* frame = E1000.NextTxBuffer();
                if (frame == null)
                    return Fail(AoeFailure.NoTransmit);
                AoeFrame.WriteHeader(frame, AoeFrame.BroadcastMac, E1000.Mac, 0, 0, major, minor, AoeFrame.CommandQueryConfig, tag);
                AoeFrame.WriteConfigQuery(frame);
                E1000.Transmit(AoeFrame.MinimumFrameLength);
                sentAt = Clock.Now;
                sent = true;
            }
            byte* reply = E1000.Poll(out int length);
            if (reply == null)
                continue;
            byte perCommand = 0;
            bool ours = AoeFrame.TryReadHeader(reply, length, out AoeFrame.Header header) && header.IsResponse && !header.IsError
                && header.Command == AoeFrame.CommandQueryConfig && header.Tag == tag && header.Major == major && header.Minor == minor
                && AoeFrame.TryReadConfigSectors(reply, length, out perCommand);
            if (ours)
            {
                target.Mac = header.Source;
                target.SectorsPerFrame = perCommand == 0 || perCommand > OurMaxSectors ? OurMaxSectors : perCommand;
            }
            E1000.Release();
            if (ours)
                return Identify(ref target);
        }
        return Fail(AoeFailure.NoTarget);
    }

    // Reads count sectors from lba into destination (count * 512 bytes).
    // whileWaiting (may be null) is called whenever no reply is waiting, with
    // how many bytes from destination's start have arrived without a gap, so
    // the caller can work on them (hash) while the rest is on the wire; it
    // should return quickly (replies queue in the receive ring meanwhile),
    // and true if it did any work.
    public static bool Read(ref AoeTarget target, ulong lba, ulong count, byte* destination, delegate*<ulong, bool> whileWaiting)
    {
        if (lba + count > target.Sectors || lba + count < lba)
            return Fail(AoeFailure.PastEnd);
        return Run(ref target, AoeFrame.AtaReadExt, AoeFrame.AtaFlagExtended, lba, count, destination, whileWaiting);
    }

    private static bool Identify(ref AoeTarget target)
    {
        byte* identify = stackalloc byte[AoeFrame.SectorSize];
        if (!Run(ref target, AoeFrame.AtaIdentify, 0, 0, 1, identify, null))
            return false;
        target.Sectors = AoeFrame.IdentifySectors(identify);
        return true;
    }

    // The windowed request loop shared by IDENTIFY (one sector) and reads.
    private static bool Run(ref AoeTarget target, byte command, byte flags, ulong lba, ulong count, byte* destination,
        delegate*<ulong, bool> whileWaiting)
    {
        for (int i = 0; i < Window; i++)
            s_requests[i].Busy = false;
        ulong next = lba, end = lba + count, left = count;
        bool refill = true;
        while (left > 0)
        {
            for (int i = 0; refill && i < Window && next < end; i++)
            {
                if (s_requests[i].Busy)
                    continue;
                Request* r = s_requests + i;
                r->Lba = next;
                r->Count = end - next < (ulong)target.SectorsPerFrame ? (int)(end - next) : target.SectorsPerFrame;
                r->Tag = s_nextTag++;
                r->Sends = 0;
                r->TimeoutUs = s_timer.TimeoutUs;
                r->Busy = true;
                next += (ulong)r->Count;
                if (!Send(ref target, command, flags, r))
                    return false;
            }
            byte* reply = E1000.Poll(out int length);
            if (reply != null && s_dropEvery != 0 && ++s_received % s_dropEvery == 0)
            {
                E1000.Release();
                Dropped++;
                refill = false;
                continue;
            }
            if (reply != null)
            {
                int done = Complete(ref target, lba, destination, reply, length);
                E1000.Release();
                if (done < 0)
                    return false;
                left -= (ulong)done;
                // Drain the replies waiting before refilling the window, so
                // that its requests go out as one burst (one transmit tail
                // write), but never let it fall below half full.
                refill = FreeRequests() >= Window / 2;
                continue;
            }
            refill = true;
            // Work done meanwhile: poll again before judging timeouts, since
            // replies may have queued during it.
            if (whileWaiting != null && whileWaiting((Arrived(lba, next) - lba) * AoeFrame.SectorSize))
                continue;
            for (int i = 0; i < Window; i++)
            {
                Request* r = s_requests + i;
                if (!r->Busy || Clock.MicrosecondsSince(r->SentAt) < r->TimeoutUs)
                    continue;
                if (r->Sends >= MaxSends)
                    return Fail(AoeFailure.Unanswered);
                Resends++;
                r->TimeoutUs = RetransmitTimer.Backoff(r->TimeoutUs);
                if (!Send(ref target, command, flags, r))
                    return false;
            }
        }
        return true;
    }

    private static int FreeRequests()
    {
        int free = 0;
        for (int i = 0; i < Window; i++)
        {
            if (!s_requests[i].Busy)
                free++;
        }
        return free;
    }

    // The first sector not yet arrived: requests go out in LBA order, so
    // everything below the lowest outstanding one (or below next, when none
    // is) has arrived.
    private static ulong Arrived(ulong lba, ulong next)
    {
        ulong arrived = next;
        for (int i = 0; i < Window; i++)
        {
            if (s_requests[i].Busy && s_requests[i].Lba < arrived)
                arrived = s_requests[i].Lba;
        }
        return arrived;
    }

    private static bool Send(ref AoeTarget target, byte command, byte flags, Request* r)
    {
        byte* frame = E1000.NextTxBuffer();
        if (frame == null)
            return Fail(AoeFailure.NoTransmit);
        AoeFrame.WriteHeader(frame, target.Mac, E1000.Mac, 0, 0, target.Major, target.Minor, AoeFrame.CommandAta, r->Tag);
        AoeFrame.WriteAta(frame, flags, 0, (byte)r->Count, command, r->Lba);
        E1000.Transmit(AoeFrame.MinimumFrameLength);
        FramesSent++;
        r->Sends++;
        r->SentAt = Clock.Now;
        return true;
    }

    // Sectors a reply completed (0 if it is not for an outstanding request), or -1 if the target reported an error.
    private static int Complete(ref AoeTarget target, ulong lba, byte* destination, byte* reply, int length)
    {
        if (!AoeFrame.TryReadHeader(reply, length, out AoeFrame.Header header) || !header.IsResponse
            || header.Command != AoeFrame.CommandAta || header.Source != target.Mac || header.Major != target.Major || header.Minor != target.Minor)
            return 0;
        for (int i = 0; i < Window; i++)
        {
            Request* r = s_requests + i;
            if (!r->Busy || r->Tag != header.Tag)
                continue;
            if (header.IsError || !AoeFrame.TryReadAtaStatus(reply, length, out byte status)
                || (status & (AoeFrame.AtaStatusError | AoeFrame.AtaStatusDeviceFault)) != 0)
                {
                Fail(AoeFailure.TargetError);
                return -1;
            }
            ulong bytes = (ulong)r->Count * AoeFrame.SectorSize;
            if ((ulong)length < AoeFrame.AtaDataOffset + bytes)
                return 0;   // short: wait for a resend
            Memory.Copy(destination + (r->Lba - lba) * AoeFrame.SectorSize, reply + AoeFrame.AtaDataOffset, (nuint)bytes);
            if (r->Sends == 1)
                s_timer.Sample(Clock.MicrosecondsSince(r->SentAt));
            r->Busy = false;
            FramesReceived++;
            return r->Count;
        }
        StaleReplies++;
        return 0;
    }

    private static bool Fail(AoeFailure failure)
    {
        s_failure = failure;
        return false;
    }

    private enum AoeFailure
    {
        None,
        NoTransmit,
        NoTarget,
        PastEnd,
        Unanswered,
        TargetError,
    }
}
