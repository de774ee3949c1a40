using System.Buffers;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// One request's answer, queued for the connection's <see cref="NbdReplyWriter"/>: every request gets exactly one,
/// and the writer gives back what it holds (its <see cref="Cost"/> in the reply budget, its in-flight slot, its
/// buffers) once it is on the socket.
/// </summary>
internal readonly struct NbdReply
{
    private NbdReply(NbdReplyKind kind, in NbdRequest request, long cost)
    {
        Kind = kind;
        Request = request;
        Cost = cost;
    }

    public NbdReplyKind Kind { get; }

    public NbdRequest Request { get; }

    /// <summary>Bytes the request holds in the connection's <see cref="ReplyBudget"/>.</summary>
    public long Cost { get; }

    public NbdError Error { get; private init; }

    public string? Message { get; private init; }

    /// <summary>A read's data, already read (<see cref="NbdReplyKind.Data"/>).</summary>
    public RequestBuffer Data { get; private init; }

    /// <summary>Pooled extents of a BLOCK_STATUS reply, returned once written.</summary>
    public AllocationExtent[]? Extents { get; private init; }

    public int ExtentCount { get; private init; }

    public uint ContextId { get; private init; }

    public static NbdReply Done(in NbdRequest request, long cost) => new(NbdReplyKind.Done, request, cost);

    /// <summary>The connection is closing: nothing to send, only what the request holds to give back.</summary>
    public static NbdReply Nothing(in NbdRequest request, long cost) => new(NbdReplyKind.Nothing, request, cost);

    public static NbdReply Failed(in NbdRequest request, long cost, NbdError error, string message) =>
        new(NbdReplyKind.Error, request, cost) { Error = error, Message = message };

    /// <summary>A read the writer does itself, straight into its output buffer (<see cref="IBlockDevice.TryRead"/>).</summary>
    public static NbdReply ReadAtOnce(in NbdRequest request, long cost) => new(NbdReplyKind.ReadAtOnce, request, cost);

    public static NbdReply ReadData(in NbdRequest request, long cost, RequestBuffer data) =>
        new(NbdReplyKind.Data, request, cost) { Data = data };

    public static NbdReply BlockStatus(in NbdRequest request, uint contextId, AllocationExtent[] extents, int count) =>
        new(NbdReplyKind.BlockStatus, request, 0) { ContextId = contextId, Extents = extents, ExtentCount = count };

    /// <summary>Give back the buffers this reply owns (after it was written, or when it never will be).</summary>
    public void ReturnBuffers()
    {
        if (Kind == NbdReplyKind.Data)
            Data.Dispose();
        else if (Extents is not null)
            ArrayPool<AllocationExtent>.Shared.Return(Extents);
    }
}

internal enum NbdReplyKind
{
    Nothing,
    Done,
    Error,
    ReadAtOnce,
    Data,
    BlockStatus,
}
