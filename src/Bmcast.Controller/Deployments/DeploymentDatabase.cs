using Microsoft.Data.Sqlite;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// Every deployment the controller ever accepted, in SQLite (<c>DATA/controller.db</c>): written when accepted and
/// whenever its state or figures change, read back at start so a restarted controller shows them all.
/// </summary>
public sealed class DeploymentDatabase
{
    private const string Columns = "id, image, target, guest_mode, memory, disk, created, state, pid, stop_requested, " +
        "time_to_ready, total_bytes, present_bytes, on_demand_bytes, background_bytes, copy_completed, machine_exited, error";
    private readonly string _connectionString;

    public DeploymentDatabase(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString();
        using var connection = Open();
        using var create = connection.CreateCommand();
        create.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS deployments (
              id TEXT PRIMARY KEY, image TEXT NOT NULL, target TEXT NOT NULL, guest_mode TEXT, memory TEXT NOT NULL,
              disk TEXT NOT NULL, created TEXT NOT NULL, state TEXT NOT NULL, pid INTEGER, stop_requested INTEGER NOT NULL,
              time_to_ready REAL, total_bytes INTEGER NOT NULL, present_bytes INTEGER NOT NULL, on_demand_bytes INTEGER NOT NULL,
              background_bytes INTEGER NOT NULL, copy_completed INTEGER NOT NULL, machine_exited INTEGER NOT NULL, error TEXT);
            """;
        create.ExecuteNonQuery();
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    public void Save(Deployment d)
    {
        using var connection = Open();
        using var save = connection.CreateCommand();
        save.CommandText = $"INSERT OR REPLACE INTO deployments ({Columns}) VALUES " +
            "($id, $image, $target, $guest_mode, $memory, $disk, $created, $state, $pid, $stop_requested, " +
            "$time_to_ready, $total_bytes, $present_bytes, $on_demand_bytes, $background_bytes, $copy_completed, $machine_exited, $error)";
        object?[] values =
        [
            d.Id, d.Image, d.Target, d.GuestMode, d.Memory, d.Disk, d.Created.ToString("O"), d.State.ToString(), d.Pid, d.StopRequested,
            d.TimeToReadySeconds, d.TotalBytes, d.PresentBytes, d.OnDemandBytes, d.BackgroundBytes, d.CopyCompleted, d.MachineExited, d.Error,
        ];
        string[] names = Columns.Split(", ");
        for (int i = 0; i < names.Length; i++)
            save.Parameters.AddWithValue("$" + names[i], values[i] ?? DBNull.Value);
        save.ExecuteNonQuery();
    }

    public List<Deployment> LoadAll()
    {
        using var connection = Open();
        using var query = connection.CreateCommand();
        query.CommandText = $"SELECT {Columns} FROM deployments ORDER BY created";
        using var row = query.ExecuteReader();
        var all = new List<Deployment>();
        while (row.Read())
        {
            all.Add(new Deployment
            {
                Id = row.GetString(0),
                Image = row.GetString(1),
                Target = row.GetString(2),
                GuestMode = row.IsDBNull(3) ? null : row.GetString(3),
                Memory = row.GetString(4),
                Disk = row.GetString(5),
                Created = DateTimeOffset.Parse(row.GetString(6), System.Globalization.CultureInfo.InvariantCulture),
                State = Enum.Parse<DeploymentState>(row.GetString(7)),
                Pid = row.IsDBNull(8) ? null : row.GetInt32(8),
                StopRequested = row.GetBoolean(9),
                TimeToReadySeconds = row.IsDBNull(10) ? null : row.GetDouble(10),
                TotalBytes = row.GetInt64(11),
                PresentBytes = row.GetInt64(12),
                OnDemandBytes = row.GetInt64(13),
                BackgroundBytes = row.GetInt64(14),
                CopyCompleted = row.GetBoolean(15),
                MachineExited = row.GetBoolean(16),
                Error = row.IsDBNull(17) ? null : row.GetString(17),
            });
        }
        return all;
    }
}
