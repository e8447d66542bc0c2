// How a task's result rows reach PostgreSQL. A task declares its table once (name, extra key columns, typed columns)
// and the fleet store writes any batch of its rows with binary COPY into a staging table, then one
// INSERT ... ON CONFLICT DO UPDATE into the real table, so a redelivered shard rewrites rows instead of adding them.
// Table convention (see Migrations/0002_inspect_results.sql): (job_id, item_key, shard_index, attempt,
// <columns in declaration order>, created_at), primary key (job_id, item_key, <extra keys>).
// Column names are snake_case and equal the row type's property names in snake_case, so the JSON Lines output of
// `batchvlm run` (serialised rows) and of `batchvlm results` (read back from the table) have the same fields.
using Npgsql;
using NpgsqlTypes;

namespace BatchVlm.Storage.Postgres;

/// <summary>One result row of a task. Several rows may share an item (e.g. one per text for `score`).</summary>
public interface IResultRow
{
    string ItemKey { get; }
}

/// <summary>A column of a result table: its name, its PostgreSQL type, and how to write it from a row.</summary>
public sealed class ResultColumn<TRow>
{
    public string Name { get; }
    public NpgsqlDbType Type { get; }
    internal Action<NpgsqlBinaryImporter, TRow> Write { get; }

    private ResultColumn(string name, NpgsqlDbType type, Action<NpgsqlBinaryImporter, TRow> write)
    {
        Name = name;
        Type = type;
        Write = write;
    }

    /// <summary>A column whose value is <paramref name="get"/>(row); null values are written as SQL NULL.</summary>
    public static ResultColumn<TRow> Of<TValue>(string name, NpgsqlDbType type, Func<TRow, TValue> get) =>
        new(name, type, (importer, row) =>
        {
            var value = get(row);
            if (value is null)
                importer.WriteNull();
            else
                importer.Write(value, type);
        });
}

/// <summary>A task's result table, independent of the row type (what the fleet store works with).</summary>
public abstract class ResultTable
{
    protected ResultTable(string name, IReadOnlyList<string> extraKeyColumns, IReadOnlyList<string> columnNames)
    {
        if (!IsIdentifier(name) || extraKeyColumns.Concat(columnNames).Any(c => !IsIdentifier(c)))
            throw new ArgumentException($"Result table '{name}': table and column names must be lower-case snake_case identifiers");
        Name = name;
        ExtraKeyColumns = extraKeyColumns;
        ColumnNames = columnNames;
    }

    /// <summary>Table name, e.g. inspect_results.</summary>
    public string Name { get; }

    /// <summary>Key columns besides (job_id, item_key), e.g. text_index for score_results.</summary>
    public IReadOnlyList<string> ExtraKeyColumns { get; }

    /// <summary>Task columns in table order (after job_id, item_key, shard_index, attempt).</summary>
    public IReadOnlyList<string> ColumnNames { get; }

    /// <summary>The row type this table stores.</summary>
    public abstract Type RowType { get; }

    /// <summary>Every column written by COPY, in order.</summary>
    public IEnumerable<string> CopyColumns => new[] { "job_id", "item_key", "shard_index", "attempt" }.Concat(ColumnNames);

    internal abstract void WriteRow(NpgsqlBinaryImporter importer, IResultRow row);

    private static bool IsIdentifier(string s) =>
        s.Length is > 0 and < 64 && char.IsAsciiLetterLower(s[0]) && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');
}

/// <summary>A result table storing rows of type <typeparamref name="TRow"/>.</summary>
public sealed class ResultTable<TRow> : ResultTable where TRow : IResultRow
{
    private readonly IReadOnlyList<ResultColumn<TRow>> _columns;

    public ResultTable(string name, IReadOnlyList<string> extraKeyColumns, params ResultColumn<TRow>[] columns)
        : base(name, extraKeyColumns, columns.Select(c => c.Name).ToArray())
    {
        _columns = columns;
    }

    public override Type RowType => typeof(TRow);

    internal override void WriteRow(NpgsqlBinaryImporter importer, IResultRow row)
    {
        var typed = (TRow)row;
        foreach (var column in _columns)
            column.Write(importer, typed);
    }
}
