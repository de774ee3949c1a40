namespace Bmcast.Vmm.Nvme;

internal enum Verdict
{
    Forward,
    Hold,
}

// The seam between the doorbell mechanism and an I/O policy (BitVisor's
// nvme_io_interceptor, drivers/nvme/nvme_io.h, in miniature). The policy is
// called with each new command of an I/O submission queue, in queue order,
// before the controller may fetch it; Hold stops the doorbell at that
// command: the commands before it are forwarded, and it is offered again,
// with those after it, at the queue's next doorbell write. Stage b's
// streaming policy holds reads of absent blocks and releases them by
// forwarding the tail itself once the blocks are written through the
// private queue pair. Today's policy, IoCounter, counts and forwards.
internal static unsafe class IoInterceptor
{
    private static delegate*<ushort, NvmeCommand*, Verdict> s_policy;
    private static delegate*<void> s_enabled;
    private static delegate*<NvmeCompletion*, void> s_completed;

    public static void Install(delegate*<ushort, NvmeCommand*, Verdict> policy) => s_policy = policy;

    // Also told at each controller enable, once the private queue pair exists
    // and before the guest can submit anything (streaming loads its map), and
    // of each I/O completion the guest consumes (streaming learns which
    // writes are done).
    public static void Install(delegate*<ushort, NvmeCommand*, Verdict> policy, delegate*<void> enabled, delegate*<NvmeCompletion*, void> completed)
    {
        s_policy = policy;
        s_enabled = enabled;
        s_completed = completed;
    }

    public static void Completed(NvmeCompletion* completion)
    {
        if (s_completed != null)
            s_completed(completion);
    }

    // False if the policy does not want to know (then the enable's own check runs).
    public static bool ControllerEnabled()
    {
        if (s_enabled == null)
            return false;
        s_enabled();
        return true;
    }

    public static Verdict Submitted(ushort queue, NvmeCommand* command) =>
        s_policy == null ? Verdict.Forward : s_policy(queue, command);
}
