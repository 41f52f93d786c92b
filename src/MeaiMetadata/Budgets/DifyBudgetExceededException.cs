namespace MeaiMetadata;

/// <summary>Thrown by <c>UseDifyMetadata()</c> instead of sending a request whose maximum cost does not fit what is left of
/// its app's budget (or, under <c>OnStoreFailure: Refuse</c>, when the budget store cannot be reached). Nothing was sent.</summary>
public sealed class DifyBudgetExceededException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="DifyBudgetExceededException"/> class.</summary>
    public DifyBudgetExceededException()
        : this("A budget refused the request.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DifyBudgetExceededException"/> class with a message.</summary>
    public DifyBudgetExceededException(string message)
        : base(message)
    {
        AppId = string.Empty;
    }

    /// <summary>Initializes a new instance of the <see cref="DifyBudgetExceededException"/> class with a message and a cause.</summary>
    public DifyBudgetExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
        AppId = string.Empty;
    }

    /// <summary>Initializes a new instance of the <see cref="DifyBudgetExceededException"/> class for an app's budget.</summary>
    public DifyBudgetExceededException(string appId, decimal limitUsd, DateTimeOffset resetsAt, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        AppId = appId;
        LimitUsd = limitUsd;
        ResetsAt = resetsAt;
    }

    /// <summary>Gets the app whose budget refused the request.</summary>
    public string AppId { get; }

    /// <summary>Gets the app's limit in US dollars per period.</summary>
    public decimal LimitUsd { get; }

    /// <summary>Gets when the period ends and the budget resets (UTC).</summary>
    public DateTimeOffset ResetsAt { get; }
}
