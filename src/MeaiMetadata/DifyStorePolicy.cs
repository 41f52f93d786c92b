namespace MeaiMetadata;

/// <summary>What the middleware does with OpenAI's <c>store</c> flag when the caller has not set it.</summary>
/// <remarks>
/// OpenAI Chat Completions accepts <c>metadata</c> only together with <c>store: true</c>, and <c>store: true</c> keeps the
/// request and its output in the OpenAI account (Stored Completions). Choosing a policy is a privacy decision.
/// An explicit <c>store: false</c> from the caller is always respected, whatever the policy.
/// </remarks>
public enum DifyStorePolicy
{
    /// <summary>Set <c>store: true</c> when the caller left it unset, so that the metadata is accepted everywhere (the reference behaviour).</summary>
    EnableWhenUnset = 0,

    /// <summary>
    /// Never set <c>store</c>. Metadata then goes only where the request stores output anyway: Chat Completions requests
    /// whose caller set <c>store: true</c>, and Responses requests that do not set <c>store: false</c> (the Responses API
    /// stores by default). Use this on Zero Data Retention accounts or wherever outputs must not be kept.
    /// </summary>
    LeaveUnset = 1,
}
