namespace MeaiMetadata.Budgets.Tests.TestDoubles;

/// <summary>The in-memory store on <paramref name="time"/>, behind a switch that fails every operation.</summary>
internal sealed class OutageStore(TimeProvider time) : IDifyBudgetStore
{
    public InMemoryDifyBudgetStore Inner { get; } = new(time);

    public volatile bool Fail;

    public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken) =>
        Fail ? throw new TimeoutException("store down") : await Inner.ReserveAsync(key, amount, limit, cancellationToken);

    public async ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
        Fail ? throw new TimeoutException("store down") : await Inner.SettleAsync(key, delta, alertAt, cancellationToken);
}
