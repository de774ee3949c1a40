using Bmcast.Agent.Events;
using Bmcast.Agent.Streaming;
using Bmcast.Engine;
using Bmcast.Protocols.Nbd;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Agent;

/// <summary>
/// The agent library used as a program embedding it would (a controller): its own event sink, its own cancellation,
/// no console. The agent reports typed events in order and stops cleanly, with the target complete.
/// </summary>
public sealed class StreamAgentEventsTests
{
    [Fact(Timeout = 120_000)]
    public async Task A_deployment_reports_started_progress_complete_and_stopped_to_its_sink_and_stops_when_cancelled()
    {
        using var dir = new TempDirectory();
        var image = new byte[4 << 20];
        new Random(5).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, TestContext.Current.CancellationToken);
        var request = new StreamRequest(["file://" + dir.File("image.raw")], dir.File("target.raw"), dir.File("target.raw.bmcast-state"),
            NbdEndpoint.Unix(dir.File("agent.sock")), null, null, dir.File("known_keys"), new StreamingOptions());
        var sink = new RecordingSink();
        var agent = new StreamAgent(request, sink, NullLoggerFactory.Instance);

        using var stop = new CancellationTokenSource();
        var run = agent.RunAsync(stop.Token);
        await agent.Complete.WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        var events = sink.Events;
        var started = Assert.IsType<StreamStarted>(events[0]);
        Assert.Equal((request.Sources[0], request.TargetPath, request.Export.ToString(), false, false),
            (Assert.Single(started.Sources), started.Target, started.Export, started.Resumed, started.Verified));
        Assert.All(events[1..^2], e => Assert.IsType<StreamProgressed>(e));
        var complete = Assert.IsType<StreamCompleted>(events[^2]);
        Assert.Equal(image.Length, complete.Progress.PresentBytes);
        Assert.IsType<StreamStopped>(events[^1]);
        Assert.True(events.Zip(events.Skip(1)).All(pair => pair.First.Time <= pair.Second.Time), "event times go backwards");
        Assert.Equal(image, await File.ReadAllBytesAsync(dir.File("target.raw"), TestContext.Current.CancellationToken));
    }

    private sealed class RecordingSink : IDeploymentEventSink
    {
        private readonly List<DeploymentEvent> _events = [];

        public List<DeploymentEvent> Events
        {
            get
            {
                lock (_events)
                    return [.. _events];
            }
        }

        public void Publish(DeploymentEvent deploymentEvent)
        {
            lock (_events)
                _events.Add(deploymentEvent);
        }
    }
}
