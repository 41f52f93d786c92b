using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>Marks the benchmark method that is the hand-written recipe of its class: the reference of the
/// <c>Time vs Recipe</c> and <c>Alloc vs Recipe</c> columns.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RecipeAttribute : Attribute;

/// <summary>Adds the two "vs Recipe" columns to a benchmark class (the BenchmarkDotNet Ratio columns stay against the Baseline).</summary>
public sealed class RecipeComparisonConfig : ManualConfig
{
    public RecipeComparisonConfig()
    {
        AddColumn(new RecipeRatioColumn(RecipeRatioKind.Time), new RecipeRatioColumn(RecipeRatioKind.Allocated));
    }
}

public enum RecipeRatioKind
{
    Time,
    Allocated,
}

/// <summary>
/// Mean time or allocated bytes per operation of a row divided by those of the <see cref="RecipeAttribute"/> row of the same
/// class, parameters and job. Empty when the class has no recipe row.
/// </summary>
public sealed class RecipeRatioColumn(RecipeRatioKind kind) : IColumn
{
    public string Id => $"{nameof(RecipeRatioColumn)}.{kind}";

    public string ColumnName => kind == RecipeRatioKind.Time ? "Time vs Recipe" : "Alloc vs Recipe";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => (int)kind;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => kind == RecipeRatioKind.Time
        ? "Mean time of the row / mean time of the hand-written recipe row (same parameters)"
        : "Allocated bytes per op of the row / those of the hand-written recipe row (same parameters)";

    public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(IsRecipe);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        BenchmarkCase? recipe = summary.BenchmarksCases.FirstOrDefault(c =>
            IsRecipe(c) &&
            c.Descriptor.Type == benchmarkCase.Descriptor.Type &&
            c.Parameters.DisplayInfo == benchmarkCase.Parameters.DisplayInfo &&
            c.Job.DisplayInfo == benchmarkCase.Job.DisplayInfo);
        if (recipe is null || summary[benchmarkCase] is not { } row || summary[recipe] is not { } reference)
        {
            return "?";
        }

        double? ratio = kind switch
        {
            RecipeRatioKind.Time when row.ResultStatistics is { } mine && reference.ResultStatistics is { Mean: > 0 } theirs =>
                mine.Mean / theirs.Mean,
            RecipeRatioKind.Allocated when row.GcStats.GetBytesAllocatedPerOperation(benchmarkCase) is { } mine &&
                                           reference.GcStats.GetBytesAllocatedPerOperation(recipe) is { } theirs =>
                theirs == 0 ? (mine == 0 ? 1.0 : double.PositiveInfinity) : (double)mine / theirs,
            _ => null,
        };

        return ratio switch
        {
            null => "?",
            double.PositiveInfinity => "∞",
            { } value => value.ToString("F2", CultureInfo.InvariantCulture),
        };
    }

    public override string ToString() => ColumnName;

    private static bool IsRecipe(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Descriptor.WorkloadMethod.IsDefined(typeof(RecipeAttribute), inherit: false);
}
