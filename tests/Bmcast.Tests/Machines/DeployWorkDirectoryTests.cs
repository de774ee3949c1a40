using System.Diagnostics;
using Bmcast.Agent.Deploy;

namespace Bmcast.Tests.Machines;

public sealed class DeployWorkDirectoryTests
{
    [Fact]
    public async Task Only_the_directories_of_deploys_that_no_longer_run_are_removed()
    {
        using var parent = new Bmcast.Tests.Support.TempDirectory();
        using var finished = Process.Start("true")!;
        await finished.WaitForExitAsync(TestContext.Current.CancellationToken);
        string dead = Directory.CreateDirectory(parent.File($"bmcast-deploy-{finished.Id}-abc123")).FullName;
        string alive = Directory.CreateDirectory(parent.File($"bmcast-deploy-{Environment.ProcessId}-def456")).FullName;
        string unnamed = Directory.CreateDirectory(parent.File("bmcast-deploy-Xy12Ab")).FullName; // no PID: not ours to judge
        File.WriteAllText(Path.Combine(dead, "agent.sock"), "");

        DeployWorkDirectory.RemoveAbandoned(parent.Path);

        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(alive));
        Assert.True(Directory.Exists(unnamed));
    }
}
