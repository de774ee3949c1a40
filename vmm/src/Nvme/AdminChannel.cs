namespace Bmcast.Vmm.Nvme;

// The hypervisor's admin commands go through the guest's own admin queue,
// right after the guest enabled the controller (CC.EN = 1) and before it
// could submit anything: the controller has one admin queue, and it is the
// guest's. Afterwards the queue must look untouched: the submission tail
// back at 0, the completion head back at 0, and the phase tag new entries
// carry back at 1, which takes an even number of completion-queue wraps. So
// the channel pads with harmless commands (Get Features, Number of Queues)
// up to a multiple of lcm(SQ entries, 2 x CQ entries) commands: two full
// wraps when both queues have the same size (Linux: 32 and 32 -> 64).
internal static unsafe class AdminChannel
{
    private static uint s_issued, s_padding;
    private static bool s_broken;   // a command timed out: the queue is out of step

    public static uint Issued => s_issued;
    public static uint Padding => s_padding;
    public static bool Broken => s_broken;

    public static void Begin()
    {
        s_issued = 0;
        s_padding = 0;
        s_broken = false;
    }

    public static bool Execute(NvmeCommand* command, NvmeCompletion* completion, string what)
    {
        if (s_broken)
            return false;
        s_issued++;
        s_broken = !HostCommands.Execute(0, command, completion, what);
        return !s_broken;
    }

    public static void Finish()
    {
        ulong unit = LeastCommonMultiple(QueueTable.Submission(0)->Entries, 2ul * QueueTable.Completion(0)->Entries);
        ulong total = (s_issued + unit - 1) / unit * unit;
        NvmeCompletion done;
        while (s_issued < total && !s_broken)
        {
            NvmeCommand pad = default;
            pad.Opcode = NvmeCommand.AdminGetFeatures;
            pad.Cdw10 = NvmeCommand.FeatureNumberOfQueues;
            s_padding++;
            Execute(&pad, &done, "a padding admin command");
        }
    }

    public static bool LeftFresh()
    {
        CompletionQueue* cq = QueueTable.Completion(0);
        return !s_broken && QueueTable.Submission(0)->Tail == 0 && cq->Head == 0 && cq->Phase == 1;
    }

    private static ulong LeastCommonMultiple(ulong a, ulong b)
    {
        ulong x = a, y = b;
        while (y != 0)
        {
            ulong r = x % y;
            x = y;
            y = r;
        }
        return a / x * b;
    }
}
