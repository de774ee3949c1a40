namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Checks every request once, at the edge: command, flags, negotiated features and range. Past this point
/// the server and the device may assume the request is legal.
/// </summary>
internal static class NbdRequestValidator
{
    public static NbdError Validate(in NbdRequest request, NbdExportSession session)
    {
        // Whatever else is wrong with it, a write of any kind to a read-only export is refused as one.
        if (request.Command is NbdCommand.Write or NbdCommand.WriteZeroes or NbdCommand.Trim && session.Has(NbdTransmissionFlags.ReadOnly))
            return NbdError.Perm;
        var allowedFlags = AllowedFlags(request.Command, session);
        if ((request.Flags & ~allowedFlags) != 0)
            return NbdError.Inval;
        switch (request.Command)
        {
            case NbdCommand.Read:
                if (request.Length > NbdProtocol.MaxPayload)
                    return session.StructuredReplies ? NbdError.Overflow : NbdError.Inval;
                return InRange(request, session) ? NbdError.None : NbdError.Inval;
            case NbdCommand.Write:
            case NbdCommand.WriteZeroes:
                if (request.Command == NbdCommand.WriteZeroes && !session.Has(NbdTransmissionFlags.SendWriteZeroes))
                    return NbdError.Inval;
                return InRange(request, session) ? NbdError.None : NbdError.NoSpc;
            case NbdCommand.Flush:
                if (!session.Has(NbdTransmissionFlags.SendFlush) || request.Offset != 0 || request.Length != 0)
                    return NbdError.Inval;
                return NbdError.None;
            case NbdCommand.BlockStatus:
                if (session.BaseAllocationContextId == 0 || request.Length == 0)
                    return NbdError.Inval;
                return InRange(request, session) ? NbdError.None : NbdError.Inval;
            default:
                // TRIM, CACHE and anything newer are not advertised.
                return NbdError.Inval;
        }
    }

    private static NbdCommandFlags AllowedFlags(NbdCommand command, NbdExportSession session)
    {
        // FUA is valid on every command once advertised, even where it means nothing.
        var flags = session.Has(NbdTransmissionFlags.SendFua) ? NbdCommandFlags.Fua : NbdCommandFlags.None;
        return command switch
        {
            NbdCommand.Read when session.Has(NbdTransmissionFlags.SendDf) => flags | NbdCommandFlags.DontFragment,
            NbdCommand.WriteZeroes => flags | NbdCommandFlags.NoHole,
            NbdCommand.BlockStatus => flags | NbdCommandFlags.ReqOne,
            _ => flags,
        };
    }

    private static bool InRange(in NbdRequest request, NbdExportSession session) =>
        request.Offset <= (ulong)session.Size && request.Length <= (ulong)session.Size - request.Offset;
}
