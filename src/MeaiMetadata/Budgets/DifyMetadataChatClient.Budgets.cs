using MeaiMetadata.Budgets;

namespace MeaiMetadata;

/// <summary>The budgets of one layer.</summary>
public sealed partial class DifyMetadataChatClient
{
    /// <summary>Gets the budget store, clock and instruments of this layer (from the pipeline's services).</summary>
    internal DifyBudgetEnforcer Budgets { get; init; } = DifyBudgetEnforcer.Default;

    /// <summary>Gets the budgets this layer keeps for a call an outer layer covers: none when another layer is inside it (the
    /// innermost layer keeps the budget of each request, and the outer call releases its reservation of the same key).</summary>
    private DifyBudgetEnforcer? CoveredBudgets => _layerBelow ? null : Budgets;
}
