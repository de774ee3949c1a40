using System.Security.Cryptography;
using System.Text;
using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine;

/// <summary>
/// One deployment of an image onto a target file: opens (or resumes) the target and its persisted
/// presence map, exposes the streaming disk, and drives it to completion: background copy under
/// moderation, a commit every <see cref="StreamingOptions.CommitInterval"/>, and a final commit
/// once every block is present (DESIGN §4 rule 7).
/// </summary>
public sealed class StreamingSession : IAsyncDisposable
{
    private readonly IBlockDevice _target;
    private readonly IBlockDevice _stateDevice;
    private readonly StreamingOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _copierLock = new();
    private readonly IDisposable _metrics;
    private IReadOnlyList<long> _preferredOrder = [];
    private BackgroundCopier? _copier;

    private StreamingSession(StreamingDisk disk, IBlockDevice target, IBlockDevice stateDevice, bool resumed,
        StreamingOptions options, ILogger logger)
    {
        Disk = disk;
        _target = target;
        _stateDevice = stateDevice;
        Resumed = resumed;
        _options = options;
        _logger = logger;
        _metrics = EngineMetrics.Track(disk);
    }

    public StreamingDisk Disk { get; }

    /// <summary>True when an existing state file was found and the deployment continues from it.</summary>
    public bool Resumed { get; }

    /// <summary>What resuming found damaged in the state file and re-verified; null when nothing was.</summary>
    public StateRepair? StateRepair { get; private init; }

    /// <summary>
    /// Chunk order for the background copier to take first (a boot profile); may be set while the copy runs, and the
    /// chunks still absent are then taken in that order.
    /// </summary>
    public IReadOnlyList<long> PreferredOrder
    {
        get
        {
            lock (_copierLock)
                return _copier?.PreferredOrder ?? _preferredOrder;
        }
        set
        {
            lock (_copierLock)
            {
                _preferredOrder = value;
                if (_copier is not null)
                    _copier.PreferredOrder = value;
            }
        }
    }

    public static async Task<StreamingSession> OpenAsync(IImageSource source, Manifest? manifest, string targetPath,
        string statePath, StreamingOptions options, ILogger logger, CancellationToken ct)
    {
        var geometry = new DiskGeometry(source.Size, DiskGeometry.DefaultBlockSize, manifest?.ChunkSize ?? DiskGeometry.DefaultChunkSize);
        byte[] identity = IdentityOf(geometry, manifest);
        bool resumed = File.Exists(statePath);
        if (!resumed && TargetContents.HoldsData(targetPath))
        {
            if (!options.OverwriteTarget)
                throw new IOException($"target {targetPath} holds data but has no state file {statePath}: streaming would overwrite all of it. " +
                    "Give --force to overwrite it, or --state with the state file of its deployment");
            logger.LogWarning("target {Target} holds data but has no state file {State}: overwriting it (--force)", targetPath, statePath);
        }

        var target = FileBlockDevice.OpenOrCreate(targetPath, geometry.Size);
        IBlockDevice? stateDevice = null;
        try
        {
            PresenceStateFile state;
            if (resumed)
            {
                stateDevice = FileBlockDevice.Open(statePath, writable: true);
                state = await PresenceStateFile.LoadAsync(stateDevice, geometry, identity, ct, HoldsImageData(target, geometry, manifest));
                if (state.Repair is { DamagedPages: > 0 } repair)
                    logger.LogWarning("state file {State}: {Pages} damaged page(s) (checksum mismatch); of the chunks they claimed, {Kept} hold the image's data " +
                        "(checked against the manifest) and are kept, {Cleared} are cleared and will be fetched again (any guest writes to them are lost)",
                        statePath, repair.DamagedPages, repair.ChunksKept, repair.ChunksCleared);
                if (state.Repair is { RolledBackPages: > 0 } rolledBack)
                    logger.LogWarning("state file {State}: the newest commit of {Pages} page(s) may be lost (a slot fails its checksum); resuming from the " +
                        "last commit that matches. After a commit cut short by a crash nothing acknowledged is lost; if the file was damaged instead, blocks " +
                        "written since that commit are fetched again and guest writes to them are lost", statePath, rolledBack.RolledBackPages);
            }
            else
            {
                (stateDevice, state) = await CreateStateAtomicallyAsync(statePath, geometry, identity, ct);
            }
            var disk = new StreamingDisk(geometry, source, manifest, target, state, options, logger);
            return new StreamingSession(disk, target, stateDevice, resumed, options, logger) { StateRepair = state.Repair };
        }
        catch
        {
            await target.DisposeAsync();
            if (stateDevice is not null)
                await stateDevice.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Copy in the background and commit periodically until every block is present, then commit a
    /// last time. Returns when the deployment is complete; the disk stays usable afterwards.
    /// </summary>
    public async Task RunToCompletionAsync(CancellationToken ct)
    {
        BackgroundCopier copier;
        lock (_copierLock)
            _copier = copier = new BackgroundCopier(Disk, new BackgroundModerator(Disk.Activity, _options), _options, _logger)
            {
                PreferredOrder = _preferredOrder,
            };
        using var stopCommitter = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var committer = CommitPeriodicallyAsync(stopCommitter.Token);
        var workers = LowPriorityScheduler.Shared;
        try
        {
            // A failed final commit may take blocks back (a failed flush of the target): copy them again.
            do
            {
                await workers.RunAsync(() => copier.RunAsync(ct), ct);
                if (workers.Problem is { } problem)
                    _logger.LogWarning("background copier: {Problem}", problem);
            }
            while (!await TryCommitAsync(ct) || !Disk.Presence.IsComplete);
        }
        finally
        {
            await stopCommitter.CancelAsync();
            await committer;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _metrics.Dispose();
        try
        {
            await Disk.CommitAsync(CancellationToken.None);
        }
        catch (IOException e)
        {
            _logger.LogError("final commit of the presence map failed: {Error}", e.Message);
        }
        await _target.DisposeAsync();
        await _stateDevice.DisposeAsync();
    }

    /// <summary>Whether the target holds a chunk's image data, hashed against the manifest; null (nothing can be shown) without one.</summary>
    private static Func<long, CancellationToken, ValueTask<bool>>? HoldsImageData(IBlockDevice target, DiskGeometry geometry, Manifest? manifest) =>
        manifest is null ? null : async (chunk, ct) =>
        {
            var data = new byte[geometry.ChunkLength(chunk)];
            await target.ReadAsync(geometry.ChunkStart(chunk), data, ct);
            return manifest.Matches(chunk, data);
        };

    /// <summary>What a state file is bound to: the manifest's root hash, or for an unverified source the geometry alone.</summary>
    public static byte[] IdentityOf(DiskGeometry geometry, Manifest? manifest) =>
        manifest?.RootHash ?? SHA256.HashData(Encoding.UTF8.GetBytes($"unverified source size={geometry.Size} chunk={geometry.ChunkSize}"));

    private async Task CommitPeriodicallyAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.CommitInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
                await TryCommitAsync(ct);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Commit; a failure is logged, and the next tick or guest flush retries (the dirty pages stay dirty).</summary>
    private async Task<bool> TryCommitAsync(CancellationToken ct)
    {
        try
        {
            await Disk.CommitAsync(ct);
            return true;
        }
        catch (IOException e)
        {
            _logger.LogError("commit failed: {Error}", e.Message);
            await Task.Delay(_options.MaxRetryDelay, ct);
            return false;
        }
    }

    /// <summary>A new state file appears complete or not at all: written beside, flushed, then renamed.</summary>
    private static async Task<(IBlockDevice, PresenceStateFile)> CreateStateAtomicallyAsync(string statePath,
        DiskGeometry geometry, byte[] identity, CancellationToken ct)
    {
        string temporary = statePath + ".new";
        File.Delete(temporary);
        var device = FileBlockDevice.OpenOrCreate(temporary, PresenceStateFile.SizeFor(geometry));
        try
        {
            var state = await PresenceStateFile.CreateAsync(device, geometry, identity, ct);
            File.Move(temporary, statePath);
            DirectorySync.Sync(Path.GetDirectoryName(Path.GetFullPath(statePath))!);
            return (device, state);
        }
        catch
        {
            await device.DisposeAsync();
            File.Delete(temporary);
            throw;
        }
    }
}
