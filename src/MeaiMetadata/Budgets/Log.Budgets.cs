using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>The budget messages of the layer's log (event ids 400 and up).</summary>
internal static partial class Log
{
    [LoggerMessage(400, LogLevel.Warning, "Budget refused a request of app '{AppId}': its maximum cost ({ReservedUsd}) does not fit what is left of {LimitUsd} USD (spent or reserved this period: {Spent}); it resets at {ResetsAt:O}. Nothing was sent.")]
    public static partial void BudgetExceeded(ILogger logger, string appId, string reservedUsd, decimal limitUsd, string spent, DateTimeOffset resetsAt);

    [LoggerMessage(401, LogLevel.Warning, "Budget refused a request of app '{AppId}': the model '{Model}' has no price, so its cost cannot be kept within a budget. Add it to DifyMetadata:Prices:{Model} (InputPerMillion, OutputPerMillion), or map the name to a priced model in DifyMetadata:ModelAliases:{Model}. Nothing was sent.")]
    public static partial void BudgetModelUnpriced(ILogger logger, string appId, string model);

    [LoggerMessage(402, LogLevel.Error, "The budget store could not be reached to reserve a request of app '{AppId}'; OnStoreFailure is {Policy}: {What}.")]
    public static partial void BudgetStoreFailed(ILogger logger, string appId, string policy, string what, Exception exception);

    [LoggerMessage(403, LogLevel.Error, "The budget store could not be reached to settle a request of app '{AppId}'; its reservation of {ReservedUsd} USD stays charged.")]
    public static partial void BudgetSettleFailed(ILogger logger, string appId, decimal reservedUsd, Exception exception);

    [LoggerMessage(404, LogLevel.Warning, "Budget alert: app '{AppId}' has spent {SpentUsd} USD, {Threshold:P0} or more of its {LimitUsd} USD limit for the period that resets at {ResetsAt:O}.")]
    public static partial void BudgetAlert(ILogger logger, string appId, decimal spentUsd, double threshold, decimal limitUsd, DateTimeOffset resetsAt);

    [LoggerMessage(405, LogLevel.Warning, "The budget alert callback threw; the request's result is unchanged.")]
    public static partial void BudgetAlertCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(406, LogLevel.Error, "The budget store could not be reached to settle a request of app '{AppId}'; {PendingUsd} USD it may not hold is kept pending in this process and added, to the period it was spent in, at the app's next reservation that reaches the store (lost if the process ends first).")]
    public static partial void BudgetSettlePending(ILogger logger, string appId, decimal pendingUsd, Exception exception);
}
