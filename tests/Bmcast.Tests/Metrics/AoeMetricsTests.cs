using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Bmcast.Core.Aoe;
using Bmcast.Protocols;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;
using Bmcast.Tests.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Metrics;

/// <summary>Runs alone: the AoE instruments are process-wide, so other AoE tests would move them meanwhile.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class AoeMetricsCollection;

/// <summary>
/// The AoE target's instruments, heard by a listener as an exporter would: requests by command, errors by kind, dropped
/// frames and bytes read move by exactly what frames sent to a real <see cref="AoeTargetHandler"/> caused.
/// </summary>
[Collection(nameof(AoeMetricsCollection))]
public sealed class AoeMetricsTests
{
    private const ushort Shelf = 4;
    private static readonly MacAddress Target = new(0x02_00_00_00_00_01);

    [Fact]
    public async Task Aoe_requests_errors_drops_and_bytes_are_counted_by_kind()
    {
        var ct = TestContext.Current.CancellationToken;
        var handler = new AoeTargetHandler(Target, 9000, new AoeSlotTable([new AoeSlot(0, "alpha", new ReadOnlyTestDevice(new byte[64 << 10]))]),
            new AoeTargetOptions { Shelf = Shelf, BufferCount = 32 }, NullLogger.Instance);
        var heard = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == ServerMetrics.MeterName && instrument.Name.StartsWith("bmcast_aoe_", StringComparison.Ordinal))
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name + string.Concat(tags.ToArray().Select(t => $" {t.Key}={t.Value}"));
            heard.AddOrUpdate(key, value, (_, sum) => sum + value);
        });
        listener.Start();

        async Task SendAsync(byte[] frame) => await handler.HandleAsync(frame, new ReplyRecorder(handler.MaxReplyLength), ct);
        await SendAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.ReadSectorsExt, 0, 17, AtaFlags.Extended));
        await SendAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.ReadSectorsExt, 17, 17, AtaFlags.Extended));
        await SendAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None));
        await SendAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.WriteSectorsExt, 0, 1, AtaFlags.Extended | AtaFlags.Write, dataLength: 512));
        await SendAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.ReadSectorsExt, 1000, 1, AtaFlags.Extended));
        await SendAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Read));
        await SendAsync(new byte[20]);

        Assert.Equal(3, heard.GetValueOrDefault("bmcast_aoe_requests command=ata_read"));
        Assert.Equal(1, heard.GetValueOrDefault("bmcast_aoe_requests command=ata_identify"));
        Assert.Equal(1, heard.GetValueOrDefault("bmcast_aoe_requests command=ata_write"));
        Assert.Equal(1, heard.GetValueOrDefault("bmcast_aoe_requests command=config"));
        Assert.Equal(1, heard.GetValueOrDefault("bmcast_aoe_errors kind=read_only"));
        Assert.Equal(1, heard.GetValueOrDefault("bmcast_aoe_errors kind=out_of_range"));
        Assert.Equal(2, heard.Where(h => h.Key.StartsWith("bmcast_aoe_errors", StringComparison.Ordinal)).Sum(h => h.Value));
        Assert.Equal(1, heard.GetValueOrDefault("bmcast_aoe_dropped_frames"));
        Assert.Equal(2 * 17 * 512, heard.GetValueOrDefault("bmcast_aoe_read_bytes"));
    }
}
