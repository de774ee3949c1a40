using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// The controller as the host reaches it: BAR0's registers (NVMe base spec 2.0
// §3.1.4) and doorbells, through the host's identity map. Register reads are
// volatile: the host polls them.
internal static unsafe class Controller
{
    public const uint Capabilities = 0x00, Configuration = 0x14, Status = 0x1C,
        AdminQueueAttributes = 0x24, AdminSubmissionQueueBase = 0x28, AdminCompletionQueueBase = 0x30;
    public const uint ConfigurationEnable = 1, StatusReady = 1, StatusFatal = 2;
    private const uint ShutdownNotification = 3u << 14, ShutdownStatus = 3u << 2;
    public const ulong DoorbellPage = 0x1000;

    // A wait for the controller to become ready counts polls of CSTS (an
    // MMIO read, about a microsecond under TCG, less on hardware): a few
    // seconds at most, then the waiter reports a timeout instead of hanging.
    public const ulong PollLimit = 4_000_000;
    // A wait for a completion is bounded in time (the TSC, calibrated before
    // the launch): it polls memory, and looks at CSTS only now and then.
    public const ulong CompletionWaitMs = 10_000;

    private struct Register
    {
        public volatile uint Value;
    }

    private static ulong s_bar0;
    private static int s_strideShift;   // doorbell stride = 4 << CAP.DSTRD
    private static uint s_maxQueueEntries;

    // Read before launch, on the firmware's identity map.
    public static void Attach(ulong bar0)
    {
        s_bar0 = bar0;
        ulong capabilities = Read64(Capabilities);
        s_strideShift = 2 + (int)((capabilities >> 32) & 0xF);
        s_maxQueueEntries = (uint)(capabilities & 0xFFFF) + 1;
    }

    public static ulong Bar0 => s_bar0;
    public static uint MaxQueueEntries => s_maxQueueEntries;

    public static uint Read32(uint offset) => ((Register*)(s_bar0 + offset))->Value;
    public static ulong Read64(uint offset) => Read32(offset) | (ulong)Read32(offset + 4) << 32;
    public static void Write32(uint offset, uint value) => ((Register*)(s_bar0 + offset))->Value = value;

    // A doorbell's index from its offset in the doorbell page: 2n is
    // submission queue n's tail, 2n + 1 completion queue n's head.
    public static uint DoorbellIndex(uint offsetInPage) => offsetInPage >> s_strideShift;

    public static void RingSubmission(ushort queue, uint tail) =>
        Write32((uint)DoorbellPage + ((2u * queue) << s_strideShift), tail);

    public static void RingCompletion(ushort queue, uint head) =>
        Write32((uint)DoorbellPage + ((2u * queue + 1) << s_strideShift), head);

    public static bool Failed => (Read32(Status) & StatusFatal) != 0;

    // Enabled, ready, not failed, no shutdown asked for or under way
    // (CC.SHN, CSTS.SHST): the host may use its queues between guest commands.
    public static bool Running =>
        (Read32(Configuration) & (ConfigurationEnable | ShutdownNotification)) == ConfigurationEnable
        && (Read32(Status) & (StatusReady | StatusFatal | ShutdownStatus)) == StatusReady;

    // After CC.EN = 1: ready (true), or fatal status or timeout (false).
    public static bool WaitReady()
    {
        for (ulong i = 0; i < PollLimit; i++)
        {
            uint status = Read32(Status);
            if ((status & StatusFatal) != 0)
                return false;
            if ((status & StatusReady) != 0)
                return true;
        }
        return false;
    }

    public static void ReportTimeout(string what)
    {
        Serial.Write("bmcast-vmm: nvme: FAILED: no completion for ");
        Serial.Write(what);
        if (Failed)
        {
            Serial.WriteLine(" (controller fatal status)");
            return;
        }
        Serial.Write(" within ");
        Serial.WriteDecimal(CompletionWaitMs);
        Serial.WriteLine(" ms");
    }
}
