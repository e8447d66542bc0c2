// Which tasks this build knows, by name. The CLI uses it to validate `submit --task`, to pick a task's result table
// for `results`, and the worker to process `--tasks`. Model tasks (embed, score, caption) add one line to BuiltIn.
namespace BatchVlm.Worker.Tasks;

public sealed class TaskRegistry
{
    private readonly Dictionary<string, IShardTask> _tasks;

    public TaskRegistry(IEnumerable<IShardTask> tasks)
    {
        _tasks = new Dictionary<string, IShardTask>(StringComparer.OrdinalIgnoreCase);
        foreach (var task in tasks)
        {
            if (!_tasks.TryAdd(task.Name, task))
                throw new ArgumentException($"Two tasks are named '{task.Name}'");
        }
    }

    /// <summary>Every task compiled into this build.</summary>
    public static TaskRegistry BuiltIn() => new(
    [
        new InspectTask(),
        new EmbedTask(),
        new ScoreTask(),
        new CaptionTask(),
    ]);

    public IReadOnlyCollection<string> Names => _tasks.Keys;

    public IShardTask? Find(string name) => _tasks.GetValueOrDefault(name);

    public IShardTask Get(string name) => Find(name)
        ?? throw new ArgumentException($"Unknown task '{name}'. Known tasks: {string.Join(", ", _tasks.Keys.Order())}");
}
