using System.Globalization;

namespace MeaiMetadata;

/// <summary>The ambient app session whose id is put on every chat request made inside it.</summary>
/// <remarks>
/// <para>
/// A session is started with <see cref="Begin(string)"/> and ends when the returned scope is disposed. It flows with the
/// <see cref="ExecutionContext"/>: across <see langword="await"/>, <see cref="Task.Run(Action)"/> and anything else that
/// captures the context, and never into work queued without it (for example <see cref="ThreadPool.UnsafeQueueUserWorkItem(WaitCallback, object?)"/>).
/// Concurrent flows never see each other's session.
/// </para>
/// <para>
/// Scopes nest. Disposing a scope ends its session in every flow that sees it, including tasks that captured it and run
/// later: an ended session tags nothing. The current session is always the innermost session that has not ended:
/// disposing an outer scope before an inner one ends only the outer session, the inner one stays current until it is
/// disposed, and then the nearest session that is still open (if any) becomes current again. Disposing a scope twice does
/// nothing.
/// </para>
/// <para>A session never starts, changes or ends an <see cref="System.Diagnostics.Activity"/>: the application's spans are
/// created, sampled and parented exactly as without it.</para>
/// <para>Only trusted code should start a session: the app id is what usage is attributed to. Never take it from an
/// unauthenticated request header.</para>
/// <para>This type is thread-safe.</para>
/// </remarks>
public sealed class DifySession
{
    private static readonly AsyncLocal<Scope?> s_current = new();

    private DifySession(string appId, bool propagatesAsBaggage)
    {
        AppId = appId;
        PropagatesAsBaggage = propagatesAsBaggage;
    }

    /// <summary>Gets the app id of this session, exactly as it was given to <see cref="Begin(string)"/>.</summary>
    public string AppId { get; }

    /// <summary>Gets a value indicating whether outgoing HTTP calls made inside this session carry its app id as the W3C
    /// Baggage item <c>dify.app_id</c> (through <see cref="Http.DifyBaggageHandler"/>).</summary>
    public bool PropagatesAsBaggage { get; }

    /// <summary>Gets a value indicating whether the session's scope was disposed: an ended session tags nothing.</summary>
    internal bool IsEnded { get; private set; }

    /// <summary>Gets the innermost session that is open in the current async flow, or <see langword="null"/> if none is.</summary>
    /// <remarks>This value flows across async calls.</remarks>
    public static DifySession? Current
    {
        get
        {
            Scope? scope = s_current.Value;
            while (scope is { IsDisposed: true })
            {
                scope = scope.Parent;
            }

            return scope?.Session;
        }
    }

    /// <summary>Starts a session for <paramref name="appId"/> in the current async flow.</summary>
    /// <param name="appId">The app id to attribute requests to. It is sent as it is (truncated to 512 characters if longer);
    /// an empty id starts a session whose requests go out untagged.</param>
    /// <returns>A scope that ends the session when disposed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="appId"/> is <see langword="null"/>.</exception>
    public static IDisposable Begin(string appId) => Begin(appId, propagateAsBaggage: false);

    /// <summary>Starts a session for <paramref name="appId"/>, optionally carrying the id to other services as W3C Baggage.</summary>
    /// <param name="appId">The app id to attribute requests to.</param>
    /// <param name="propagateAsBaggage">
    /// <see langword="true"/> to also send the app id as the W3C Baggage item <c>dify.app_id</c> on outgoing HTTP calls made
    /// inside the session by an <see cref="HttpClient"/> whose pipeline has a <see cref="Http.DifyBaggageHandler"/>
    /// (<c>AddDifyBaggage()</c> on an <c>IHttpClientBuilder</c>, or the handler itself); downstream,
    /// <see cref="DifyMetadataOptions.AppIdFromBaggage"/> reads it. No <see cref="System.Diagnostics.Activity"/> is started.
    /// </param>
    /// <returns>A scope that ends the session when disposed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="appId"/> is <see langword="null"/>.</exception>
    public static IDisposable Begin(string appId, bool propagateAsBaggage)
    {
        ArgumentNullException.ThrowIfNull(appId);

        var scope = new Scope(new DifySession(appId, propagateAsBaggage), s_current.Value);
        s_current.Value = scope;
        return scope;
    }

    /// <summary>Starts a session for a numeric app id, formatted with the invariant culture.</summary>
    /// <param name="appId">The app id.</param>
    /// <returns>A scope that ends the session when disposed.</returns>
    public static IDisposable Begin(long appId) => Begin(appId.ToString(CultureInfo.InvariantCulture));

    /// <summary>Starts a session for an app id that is a <see cref="Guid"/>, formatted as <c>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</c>.</summary>
    /// <param name="appId">The app id.</param>
    /// <returns>A scope that ends the session when disposed.</returns>
    public static IDisposable Begin(Guid appId) => Begin(appId.ToString("D", CultureInfo.InvariantCulture));

    private sealed class Scope(DifySession session, Scope? parent) : IDisposable
    {
        private volatile bool _disposed;

        public DifySession Session { get; } = session;

        public Scope? Parent { get; } = parent;

        public bool IsDisposed => _disposed;

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Session.IsEnded = true;

            // Only the flow in which this scope is the innermost one changes its current value; every other flow
            // skips the ended session when it reads Current.
            if (ReferenceEquals(s_current.Value, this))
            {
                Scope? open = Parent;
                while (open is { IsDisposed: true })
                {
                    open = open.Parent;
                }

                s_current.Value = open;
            }
        }
    }
}
