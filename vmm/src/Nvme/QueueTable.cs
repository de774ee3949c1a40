using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// Every queue the hypervisor knows, by queue id (0 = admin), in reserved
// pages. A controller reset (CC.EN 1 -> 0) deletes every queue, and so
// forgets them here.
internal static unsafe class QueueTable
{
    public const int MaxQueues = 256;
    public const ulong Pages = (MaxQueues * 16 + MaxQueues * 16) / 4096;

    private static SubmissionQueue* s_submission;
    private static CompletionQueue* s_completion;

    public static void Place(byte* pages)
    {
        s_submission = (SubmissionQueue*)pages;
        s_completion = (CompletionQueue*)(pages + MaxQueues * sizeof(SubmissionQueue));
    }

    public static SubmissionQueue* Submission(uint id) => id < MaxQueues ? &s_submission[id] : null;
    public static CompletionQueue* Completion(uint id) => id < MaxQueues ? &s_completion[id] : null;

    public static void ForgetAll() =>
        Memory.Zero((byte*)s_submission, (nuint)(MaxQueues * (sizeof(SubmissionQueue) + sizeof(CompletionQueue))));
}
