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

    public static void Install(delegate*<ushort, NvmeCommand*, Verdict> policy) => s_policy = policy;

    public static Verdict Submitted(ushort queue, NvmeCommand* command) =>
        s_policy == null ? Verdict.Forward : s_policy(queue, command);
}
