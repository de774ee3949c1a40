using System.Security.Cryptography;
using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Engine;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Random interleavings of guest reads, writes, zeroing, flushes, background copying, fetch
/// failures, corrupt fetched data, a full or failing target (writes and flushes failing with ENOSPC
/// or EIO) and power cuts, checked against <see cref="DiskModel"/>
/// (DESIGN §4 rules 1-7). CsCheck prints the seed of a failing case; rerun it with
/// <c>CsCheck_Seed=SEED dotnet test --filter StreamingDiskModelTests</c>.
/// </summary>
public sealed class StreamingDiskModelTests
{
    private const int BlockSize = 4096;
    private const int ChunkSize = 16384;

    public enum Kind { Read, Write, WriteFua, WriteZeroes, Flush, Background, Commit, WriteRacingFill, ReadRacingFill, Crash, CrashDuring, Faults }

    public sealed record Op(Kind Kind, int A, int B, int C);

    public sealed record Scenario(int Chunks, int ShortBy, bool Verified, int Seed, Op[] Ops);

    private static readonly Gen<Op> GenOp = Gen.Frequency(
        (8, OpOf(Kind.Read)), (6, OpOf(Kind.Write)), (2, OpOf(Kind.WriteFua)), (2, OpOf(Kind.WriteZeroes)),
        (3, OpOf(Kind.Flush)), (4, OpOf(Kind.Background)), (2, OpOf(Kind.Commit)),
        (3, OpOf(Kind.WriteRacingFill)), (2, OpOf(Kind.ReadRacingFill)), (2, OpOf(Kind.Crash)), (3, OpOf(Kind.CrashDuring)), (2, OpOf(Kind.Faults)));

    private static readonly Gen<Scenario> GenScenario = Gen.Select(
        Gen.Int[1, 10], Gen.Int[0, ChunkSize - 1], Gen.Bool, Gen.Int, GenOp.Array[5, 60],
        (chunks, shortBy, verified, seed, ops) => new Scenario(chunks, shortBy, verified, seed, ops));

    private static Gen<Op> OpOf(Kind kind) =>
        Gen.Select(Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], (a, b, c) => new Op(kind, a, b, c));

    [Fact]
    public Task Engine_matches_reference_model_under_random_interleavings_and_power_cuts() =>
        GenScenario.SampleAsync(RunAsync, iter: 400, threads: 2);

    private static async Task RunAsync(Scenario scenario)
    {
        var run = await Harness.StartAsync(scenario);
        foreach (var op in scenario.Ops)
            await run.ApplyAsync(op);
        await run.FinishAndCheckCompletionAsync();
    }

    private sealed class Harness
    {
        private readonly Scenario _scenario;
        private readonly DiskGeometry _geometry;
        private readonly Manifest? _manifest;
        private readonly FaultyMemorySource _source;
        private readonly CrashableDevice _target;
        private readonly CrashableDevice _stateDevice;
        private readonly PowerRail _power = new();
        private readonly DiskModel _model;
        private readonly Random _random;
        private readonly byte[] _identity = new byte[PresenceStateFile.IdentitySize];
        private readonly StreamingOptions _options = new()
        {
            FetchAttempts = 3,
            FirstRetryDelay = TimeSpan.Zero,
            MaxRetryDelay = TimeSpan.Zero,
        };
        private StreamingDisk _disk = null!;

        private Harness(Scenario scenario)
        {
            _scenario = scenario;
            _random = new Random(scenario.Seed);
            long size = (long)scenario.Chunks * ChunkSize - scenario.ShortBy;
            _geometry = new DiskGeometry(size, BlockSize, ChunkSize);
            byte[] image = MakeImage(size);
            _manifest = scenario.Verified ? BuildManifest(image) : null;
            _source = new FaultyMemorySource(image, scenario.Seed);
            _target = new CrashableDevice(size, _power, scenario.Seed);
            _stateDevice = new CrashableDevice(PresenceStateFile.SizeFor(_geometry), _power, scenario.Seed + 1);
            _model = new DiskModel(image);
        }

        public static async Task<Harness> StartAsync(Scenario scenario)
        {
            var harness = new Harness(scenario);
            var state = await PresenceStateFile.CreateAsync(harness._stateDevice, harness._geometry, harness._identity, default);
            harness.Open(state);
            return harness;
        }

        public async Task ApplyAsync(Op op)
        {
            switch (op.Kind)
            {
                case Kind.Read:
                    await ReadAndCheckAsync(op);
                    break;
                case Kind.Write:
                case Kind.WriteFua:
                    await WriteAsync(RangeOf(op), Pattern(op), op.Kind == Kind.WriteFua);
                    break;
                case Kind.WriteZeroes:
                    await WriteZeroesAsync(RangeOf(op));
                    break;
                case Kind.Flush:
                    if (await CommitAsync(() => _disk.FlushAsync(default).AsTask()))
                        _model.Flush();
                    break;
                case Kind.Background:
                    await TryAsync(BackgroundRun(op.A % _geometry.ChunkCount, op));
                    break;
                case Kind.Commit:
                    // The periodic commit: persists presence without being a guest flush.
                    await CommitAsync(() => _disk.CommitAsync(default));
                    break;
                case Kind.WriteRacingFill:
                {
                    var (offset, length) = RangeInChunk(op);
                    var fill = TryAsync(BackgroundRun(_geometry.ChunkOf(offset), op));
                    await WriteAsync((offset, length), Pattern(op), fua: false);
                    await fill;
                    break;
                }
                case Kind.ReadRacingFill:
                {
                    var fill = TryAsync(BackgroundRun(_geometry.ChunkOf(RangeInChunk(op).Offset), op));
                    await ReadAndCheckAsync(op);
                    await fill;
                    break;
                }
                case Kind.Crash:
                    await CrashAndRestartAsync();
                    break;
                case Kind.CrashDuring:
                    await CrashDuringAsync(op);
                    break;
                case Kind.Faults:
                    _source.FailureRate = op.A % 3 * 0.2;
                    _source.CorruptionRate = _manifest is null ? 0 : op.B % 3 * 0.25;
                    _target.FaultRate = op.C % 3 * 0.1;
                    _stateDevice.FaultRate = op.C / 3 % 3 * 0.1;
                    break;
            }
        }

        /// <summary>Rule 7: with a healthy source every block becomes present, and a flushed, restarted disk equals the model.</summary>
        public async Task FinishAndCheckCompletionAsync()
        {
            _source.FailureRate = 0;
            _source.CorruptionRate = 0;
            _target.FaultRate = 0;
            _stateDevice.FaultRate = 0;
            var copier = new BackgroundCopier(_disk, new BackgroundModerator(new GuestActivity(), _options), _options with { IdleGap = TimeSpan.Zero }, NullLogger.Instance);
            await copier.RunAsync(default).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(_disk.AllPresent.IsCompleted, Describe("all blocks present but AllPresent not signalled"));
            await _disk.CommitAsync(default);
            _model.Flush();
            await CrashAndRestartAsync();
            Assert.True(_disk.Presence.IsComplete, Describe("after completion and a power cut the persisted map is not complete"));
            int readsBefore = _source.ReadCount;
            var everything = new byte[_geometry.Size];
            await _disk.ReadAsync(0, everything, default);
            Assert.Equal(readsBefore, _source.ReadCount);
            Assert.Null(Check(_model.Observe(0, everything)));
            Assert.Empty(_source.Violations);
        }

        private async Task ReadAndCheckAsync(Op op)
        {
            var (offset, length) = RangeOf(op);
            var buffer = new byte[length];
            try
            {
                await _disk.ReadAsync(offset, buffer, default);
            }
            catch (IOException)
            {
                Assert.True(_source.FailureRate > 0 || _source.CorruptionRate > 0 || DeviceFaults, Describe("read failed with a healthy source and disk"));
                return;
            }
            Assert.Null(Check(_model.Observe((int)offset, buffer)));
        }

        private async Task WriteAsync((long Offset, int Length) range, byte fill, bool fua)
        {
            var data = PatternData(range.Length, fill);
            if (await GuestWriteAsync(range.Offset, data, () => _disk.WriteAsync(range.Offset, data, fua, default).AsTask()) && fua)
                _model.Flush();
        }

        private Task WriteZeroesAsync((long Offset, int Length) range) =>
            GuestWriteAsync(range.Offset, new byte[range.Length], () => _disk.WriteZeroesAsync(range.Offset, range.Length, false, default).AsTask());

        /// <summary>The disk is failing, or a failed flush of the target is still to be reported to the guest's next flush.</summary>
        private bool DeviceFaults => _target.FaultRate > 0 || _stateDevice.FaultRate > 0 || _target.FailedFlushes > 0;

        /// <summary>A guest write of <paramref name="data"/>; returns whether it was acknowledged.</summary>
        private async Task<bool> GuestWriteAsync(long offset, byte[] data, Func<Task> write)
        {
            int failedFlushes = _target.FailedFlushes;
            try
            {
                await write();
            }
            catch (IOException) when (!DeviceFaults)
            {
                // With a healthy disk only a failed fetch of a partly written absent block fails a write: nothing was written.
                return false;
            }
            catch (IOException)
            {
                // Not acknowledged: old or new. A FUA whose flush of the target failed may also have lost every unflushed write.
                _model.WriteFailed((int)offset, data);
                if (_target.FailedFlushes != failedFlushes)
                    _model.FlushFailed();
                return false;
            }
            _model.Write((int)offset, data);
            return true;
        }

        /// <summary>A commit (guest flush or periodic); returns whether it succeeded. Only a faulty disk may fail it.</summary>
        private async Task<bool> CommitAsync(Func<Task> commit)
        {
            int failedFlushes = _target.FailedFlushes;
            try
            {
                await commit();
                return true;
            }
            catch (IOException) when (DeviceFaults)
            {
                if (_target.FailedFlushes != failedFlushes)
                    _model.FlushFailed();
                return false;
            }
        }

        /// <summary>
        /// Cut the power a few device I/Os into an operation. The operation's effect is then unknown:
        /// the model treats its write as unflushed, and a flush in flight as not done.
        /// </summary>
        private async Task CrashDuringAsync(Op op)
        {
            var inner = (op.B % 5) switch
            {
                0 => op with { Kind = Kind.WriteFua },
                1 => op with { Kind = Kind.Flush },
                2 => op with { Kind = Kind.Commit },
                3 => op with { Kind = Kind.WriteRacingFill },
                _ => op with { Kind = Kind.Background },
            };
            _power.CutAfter(op.C % 12);
            var (offset, length) = inner.Kind == Kind.WriteRacingFill ? RangeInChunk(inner) : RangeOf(inner);
            var data = PatternData(length, Pattern(inner));
            // Everything the old machine started must be over before power returns: a fill still
            // running after the restart would be a ghost writing into the new machine's disk.
            var fill = Task.CompletedTask;
            try
            {
                switch (inner.Kind)
                {
                    case Kind.WriteFua:
                    case Kind.WriteRacingFill:
                        fill = TryAsync(BackgroundRun(_geometry.ChunkOf(offset), inner));
                        await _disk.WriteAsync(offset, data, inner.Kind == Kind.WriteFua, default);
                        break;
                    case Kind.Flush:
                        await _disk.FlushAsync(default);
                        break;
                    case Kind.Commit:
                        await _disk.CommitAsync(default);
                        break;
                    default:
                        await BackgroundRun(inner.A % _geometry.ChunkCount, inner);
                        break;
                }
                if (!_power.IsCut)
                {
                    // The cut came too late to interrupt it: the operation completed normally.
                    if (inner.Kind is Kind.WriteFua or Kind.WriteRacingFill)
                        _model.Write((int)offset, data);
                    if (inner.Kind is Kind.WriteFua or Kind.Flush)
                        _model.Flush();
                }
                else if (inner.Kind is Kind.WriteFua or Kind.WriteRacingFill)
                {
                    _model.Write((int)offset, data);
                }
            }
            catch (IOException)
            {
                if (inner.Kind is Kind.WriteFua or Kind.WriteRacingFill)
                    _model.Write((int)offset, data);
            }
            await fill;
            _power.Restore();
            await CrashAndRestartAsync();
        }

        private async Task CrashAndRestartAsync()
        {
            _target.Crash(_random);
            _stateDevice.Crash(_random);
            _model.Crash();
            var state = await PresenceStateFile.LoadAsync(_stateDevice, _geometry, _identity, default);
            Open(state);
            // Rule 6: a chunk the persisted map holds complete is never fetched again.
            for (long chunk = 0; chunk < _geometry.ChunkCount; chunk++)
                if (_disk.IsChunkPresent(chunk))
                    _source.Forbidden.Add(_geometry.ChunkStart(chunk));
        }

        private void Open(PresenceStateFile state) =>
            _disk = new StreamingDisk(_geometry, _source, _manifest, _target, state, _options, NullLogger.Instance);

        private (long Offset, int Length) RangeOf(Op op)
        {
            long offset = op.A % _geometry.Size;
            // Mostly small, sometimes spanning several chunks; aligned about a third of the time.
            int length = (int)Math.Min(_geometry.Size - offset, 1 + op.B % (op.C % 4 == 0 ? 3 * ChunkSize : 6000));
            if (op.C % 3 == 0)
            {
                offset = offset / BlockSize * BlockSize;
                length = (int)Math.Min(_geometry.Size - offset, Math.Max(BlockSize, length / BlockSize * BlockSize));
            }
            return (offset, length);
        }

        /// <summary>
        /// A background fill as the copier starts one: a run of up to 4 chunks from up to 2 chunks before
        /// <paramref name="chunk"/> (so a racing guest request meets it at the run's start, middle or end), or that
        /// chunk alone.
        /// </summary>
        private Task BackgroundRun(long chunk, Op op)
        {
            long first = Math.Max(0, chunk - (op.A / 7) % 3);
            return _disk.EnsureRunAsync(first, 1 + (op.A / 29) % 4, out _, default);
        }

        private (long Offset, int Length) RangeInChunk(Op op)
        {
            long chunk = op.A % _geometry.ChunkCount;
            int chunkLength = _geometry.ChunkLength(chunk);
            int start = op.B % chunkLength;
            return (_geometry.ChunkStart(chunk) + start, 1 + op.C % (chunkLength - start));
        }

        private static byte Pattern(Op op) => (byte)(op.C | 1);

        private static byte[] PatternData(int length, byte fill)
        {
            var data = new byte[length];
            for (int i = 0; i < data.Length; i++)
                data[i] = (byte)(fill + i * 7);
            return data;
        }

        private static async Task TryAsync(Task task)
        {
            try
            {
                await task;
            }
            catch (IOException)
            {
            }
        }

        private string? Check(string? mismatch) => mismatch is null ? null : Describe(mismatch);

        private string Describe(string problem) =>
            $"{problem} (chunks={_scenario.Chunks} shortBy={_scenario.ShortBy} verified={_scenario.Verified} ops={_scenario.Ops.Length})";

        private byte[] MakeImage(long size)
        {
            var image = new byte[size];
            _random.NextBytes(image);
            // Zero chunks and zero blocks inside data chunks, as real images have.
            for (long chunk = 0; chunk < _geometry.ChunkCount; chunk++)
                if (_random.Next(4) == 0)
                    image.AsSpan((int)_geometry.ChunkStart(chunk), _geometry.ChunkLength(chunk)).Clear();
            for (long block = 0; block < _geometry.BlockCount; block++)
                if (_random.Next(6) == 0)
                    image.AsSpan((int)(block * BlockSize), (int)(_geometry.BlockEnd(block) - block * BlockSize)).Clear();
            return image;
        }

        private Manifest BuildManifest(byte[] image)
        {
            long count = _geometry.ChunkCount;
            var zero = new bool[count];
            var hashes = new byte[count * Manifest.HashSize];
            for (long chunk = 0; chunk < count; chunk++)
            {
                var data = image.AsSpan((int)_geometry.ChunkStart(chunk), _geometry.ChunkLength(chunk));
                zero[chunk] = !data.ContainsAnyExcept((byte)0);
                SHA256.HashData(data, hashes.AsSpan((int)chunk * Manifest.HashSize));
            }
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            return Manifest.Create(_geometry.Size, ChunkSize, zero, hashes, key);
        }
    }
}
