namespace Bmcast.Vmm.Streaming;

// Why a chunk could not be made present; the command that needed it fails.
internal enum FetchFailure
{
    None,
    Aoe,          // the image server did not answer within the initiator's bound
    Verify,       // the bytes fetched do not match the manifest's hash: never written
    Write,        // the private queue pair could not write the chunk
    Disk,         // the chunk lies past the disk's visible end: the disk is too small
    Unsupported,  // a command the policy cannot mediate while streaming (Copy)
    Map,          // the presence map could not be stored (tail too small, or its write failed); chunk = the chunk count
}
