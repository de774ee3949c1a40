namespace Bmcast.Agent.Deploy;

/// <summary>
/// The deploy's scratch directory (the agent's and QEMU's sockets): <c>/tmp/bmcast-deploy-PID-XXXXXX</c>, short
/// because unix socket paths are limited to 107 bytes. A deploy removes its own when it ends; one killed with
/// SIGKILL cannot, so each deploy first removes those whose process is gone (a live PID's are left alone, whoever
/// it now belongs to).
/// </summary>
public static class DeployWorkDirectory
{
    private const string Prefix = "bmcast-deploy-";

    public static string Create()
    {
        RemoveAbandoned(Path.GetTempPath());
        return Directory.CreateTempSubdirectory($"{Prefix}{Environment.ProcessId}-").FullName;
    }

    /// <summary>Delete <c>bmcast-deploy-PID-*</c> directories under <paramref name="parent"/> whose PID no longer runs.</summary>
    public static void RemoveAbandoned(string parent)
    {
        foreach (string directory in Directory.EnumerateDirectories(parent, Prefix + "*"))
        {
            string[] parts = Path.GetFileName(directory)[Prefix.Length..].Split('-', 2);
            if (parts.Length != 2 || !int.TryParse(parts[0], out int pid) || Directory.Exists($"/proc/{pid}"))
                continue;
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another deploy cleaning up at the same moment, or not ours to delete: leave it.
            }
        }
    }
}
