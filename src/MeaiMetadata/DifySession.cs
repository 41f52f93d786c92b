using System.Globalization;
using MeaiMetadata.Tagging;

namespace MeaiMetadata;

/// <summary>The ambient app session whose id is put on every chat request made inside it.</summary>
/// <remarks>The session flows with the <see cref="ExecutionContext"/>; concurrent flows never see each other's. Scopes nest:
/// <see cref="Current"/> is the innermost one not yet ended; an ended session tags nothing, also in work it started that runs
/// later. An empty or white-space app id means no app. Only trusted code should start a session. This type is thread-safe.</remarks>
public sealed class DifySession
{
    private static readonly AsyncLocal<Scope?> s_current = new();

    private DifySession(string appId, bool propagatesAsBaggage)
    {
        AppId = appId;
        SentAppId = WireMetadata.Normalize(appId, WireMetadata.MaxValueLength); // the same instance for most ids: no allocation
        PropagatesAsBaggage = propagatesAsBaggage;
    }

    /// <summary>Gets the app id of this session, exactly as it was given to <see cref="Begin(string)"/>.</summary>
    public string AppId { get; }

    /// <summary>Gets a value indicating whether HTTP calls made inside this session carry its app id as W3C baggage.</summary>
    public bool PropagatesAsBaggage { get; }

    /// <summary>Gets the innermost session that is open in the current async flow, or <see langword="null"/> if none is.</summary>
    /// <remarks>This value flows across async calls.</remarks>
    public static DifySession? Current
    {
        get => Open(s_current.Value)?.Session;
    }

    /// <summary>Gets the app id as OpenAI receives it (lone surrogates replaced, at most 512 characters): one instance, so a
    /// call's decision can keep the session it came from.</summary>
    internal string SentAppId { get; }

    /// <summary>Gets a value indicating whether the session's scope was disposed.</summary>
    internal bool IsEnded { get; private set; }

    /// <summary>Gets a value indicating whether the app id is empty or white space, also once cut to 512 characters: no app.</summary>
    internal bool IsBlank => string.IsNullOrWhiteSpace(SentAppId);

    /// <summary>Starts a session for <paramref name="appId"/> in the current async flow.</summary>
    public static IDisposable Begin(string appId) => Begin(appId, propagateAsBaggage: false);

    /// <summary>Starts a session for <paramref name="appId"/>, optionally carrying the id to other services as W3C Baggage.</summary>
    public static IDisposable Begin(string appId, bool propagateAsBaggage)
    {
        ArgumentNullException.ThrowIfNull(appId);
        var scope = new Scope(new DifySession(appId, propagateAsBaggage), s_current.Value);
        s_current.Value = scope;
        return scope;
    }

    /// <summary>Starts a session for a numeric app id, formatted with the invariant culture.</summary>
    public static IDisposable Begin(long appId) => Begin(appId.ToString(CultureInfo.InvariantCulture));

    /// <summary>Starts a session for an app id that is a <see cref="Guid"/>, formatted as <c>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</c>.</summary>
    public static IDisposable Begin(Guid appId) => Begin(appId.ToString("D", CultureInfo.InvariantCulture));

    private sealed class Scope(DifySession session, Scope? parent) : IDisposable
    {
        public DifySession Session { get; } = session;

        public Scope? Parent { get; } = parent;

        public void Dispose()
        {
            if (Session.IsEnded)
            {
                return;
            }

            Session.IsEnded = true;

            // Only the flow where this scope is innermost moves on; other flows skip the ended session when they read Current.
            if (ReferenceEquals(s_current.Value, this))
            {
                s_current.Value = Open(Parent);
            }
        }
    }

    /// <summary>Returns the innermost scope from <paramref name="scope"/> out whose session has not ended.</summary>
    private static Scope? Open(Scope? scope)
    {
        while (scope is { Session.IsEnded: true })
        {
            scope = scope.Parent;
        }

        return scope;
    }
}
