using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using MeaiMetadata.Benchmarks.Infrastructure;

namespace MeaiMetadata.Benchmarks;

public static class Program
{
    /// <summary>Runs the benchmarks chosen on the command line (BenchmarkDotNet's switcher: <c>--filter '*'</c>, <c>--job</c>, ...),
    /// or, with the single argument <c>--interleaved</c>, the interleaved timing of <see cref="InterleavedTiming"/> (<c>--interleaved budgets</c>:
    /// its budget rows only).</summary>
    /// <returns>1 when any benchmark failed to build, run, or pass its own checks (so CI fails), else 0.</returns>
    public static int Main(string[] args)
    {
        if (args is ["--interleaved", "budgets"])
        {
            InterleavedTiming.RunBudgets(); // the budget rows only (issue 21)
            return 0;
        }

        if (args is ["--interleaved"])
        {
            // Not BenchmarkDotNet: a back-to-back A/B timing of the middleware and end-to-end rows (see README).
            InterleavedTiming.Run();
            return 0;
        }

        Summary[] summaries = [.. BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args)];
        bool failed = summaries.Any(s =>
            s.HasCriticalValidationErrors ||
            s.Reports.Length != s.BenchmarksCases.Length ||
            s.Reports.Any(r => !r.Success || r.ResultStatistics is null));

        // With --inProcess a failed check in a global cleanup is only logged by BenchmarkDotNet: count it here.
        foreach (string failure in Check.Failures)
        {
            Console.Error.WriteLine($"Benchmark check failed: {failure}");
            failed = true;
        }

        return failed ? 1 : 0;
    }
}
