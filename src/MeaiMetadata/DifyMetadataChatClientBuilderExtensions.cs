using System.Diagnostics.Metrics;
using MeaiMetadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.AI;

/// <summary>Provides extensions for adding a <see cref="DifyMetadataChatClient"/> to a chat client pipeline.</summary>
public static class DifyMetadataChatClientBuilderExtensions
{
    /// <summary>Adds a layer that tags every request with the calling app's id as OpenAI request metadata.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="configure">An optional callback that configures the <see cref="DifyMetadataOptions"/>.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <remarks>
    /// <para>
    /// When the pipeline's services configure <see cref="DifyMetadataOptions"/> (with <c>services.AddDifyMetadata(...)</c>,
    /// <c>services.Configure&lt;DifyMetadataOptions&gt;(...)</c> or <c>services.AddOptions&lt;DifyMetadataOptions&gt;()</c>
    /// with <c>Bind</c>, <c>Configure</c>, <c>PostConfigure</c> or <c>Validate</c>), the layer follows them live through
    /// <see cref="IOptionsMonitor{TOptions}"/>, and <paramref name="configure"/> is applied on top of each value. Otherwise
    /// the options are fixed when the pipeline is built, and when they say <see cref="DifyMetadataOptions.Enabled"/> is
    /// <see langword="false"/>, no layer is added at all.
    /// </para>
    /// <para>
    /// The logger and the meter come from the <see cref="ILoggerFactory"/> and <see cref="IMeterFactory"/> in the pipeline's
    /// services, when there are any.
    /// </para>
    /// <para>
    /// Order: place it after <c>UseFunctionInvocation()</c> (each request of a tool loop is tagged once either way). The tag
    /// <c>dify.app_id</c> lands on the span of <c>UseOpenTelemetry()</c> wherever that layer sits: set by this layer when
    /// the OpenTelemetry layer is outside it, set while the request is built when it is inside.
    /// </para>
    /// </remarks>
#pragma warning disable RS0027 // The longer overloads take the options name or a two-parameter callback: no call can be ambiguous.
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, Action<DifyMetadataOptions>? configure = null) =>
        builder.UseDifyMetadata(Options.Options.DefaultName, configure);
#pragma warning restore RS0027

    /// <summary>Adds a layer that tags every request; <paramref name="configureWithServices"/> can read the pipeline's services.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="configureWithServices">
    /// Configures the <see cref="DifyMetadataOptions"/>, with the pipeline's <see cref="IServiceProvider"/> (for example to
    /// take an <c>IHttpContextAccessor</c> for <see cref="DifyMetadataOptions.AppIdResolver"/>).
    /// </param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configureWithServices"/> is <see langword="null"/>.</exception>
    /// <remarks>The options are found as <see cref="UseDifyMetadata(ChatClientBuilder, Action{DifyMetadataOptions}?)"/> describes.</remarks>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, Action<DifyMetadataOptions, IServiceProvider> configureWithServices) =>
        builder.UseDifyMetadata(Options.Options.DefaultName, configureWithServices);

    /// <summary>Adds a layer that tags every request, following the named <see cref="DifyMetadataOptions"/> in the pipeline's services.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="optionsName">The options name (for example one per keyed client).</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="optionsName"/> is <see langword="null"/>.</exception>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, string optionsName) =>
        builder.UseDifyMetadata(optionsName, configure: null);

    /// <summary>Adds a layer that tags every request, following the named <see cref="DifyMetadataOptions"/> in the pipeline's services.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="optionsName">The options name (for example one per keyed client).</param>
    /// <param name="configure">An optional callback applied on top of the named options.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="optionsName"/> is <see langword="null"/>.</exception>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, string optionsName, Action<DifyMetadataOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(optionsName);

        return builder.Use((innerClient, services) => Create(innerClient, services, optionsName, configure));
    }

    /// <summary>Adds a layer that tags every request, following the named options; <paramref name="configureWithServices"/> can read the pipeline's services.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="optionsName">The options name (for example one per keyed client).</param>
    /// <param name="configureWithServices">Applied on top of the named options, with the pipeline's <see cref="IServiceProvider"/>.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/>, <paramref name="optionsName"/> or <paramref name="configureWithServices"/> is <see langword="null"/>.</exception>
    public static ChatClientBuilder UseDifyMetadata(
        this ChatClientBuilder builder, string optionsName, Action<DifyMetadataOptions, IServiceProvider> configureWithServices)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(optionsName);
        ArgumentNullException.ThrowIfNull(configureWithServices);

        return builder.Use((innerClient, services) => Create(innerClient, services, optionsName, o => configureWithServices(o, services)));
    }

    private static IChatClient Create(IChatClient innerClient, IServiceProvider services, string optionsName, Action<DifyMetadataOptions>? configure)
    {
        ILogger? logger = services.GetService<ILoggerFactory>()?.CreateLogger<DifyMetadataChatClient>();
        IMeterFactory? meterFactory = services.GetService<IMeterFactory>();
        CompatibilityCheck.WarnOnce(logger);

        if (IsConfiguredInServices(services, optionsName) && services.GetService<IOptionsMonitor<DifyMetadataOptions>>() is { } monitor)
        {
            return new DifyMetadataChatClient(innerClient, monitor, optionsName, configure, logger, meterFactory);
        }

        var options = new DifyMetadataOptions();
        configure?.Invoke(options);
        if (!options.Enabled)
        {
            return innerClient;
        }

        return new DifyMetadataChatClient(innerClient, options, logger, meterFactory);
    }

    /// <summary>
    /// Whether the services configure the options of <paramref name="name"/>: registered with <c>AddDifyMetadata</c>, or any
    /// configure, post-configure or validate step of the options pattern that applies to that name (one whose name cannot
    /// be told, such as a custom <see cref="IConfigureNamedOptions{TOptions}"/>, counts as applying).
    /// </summary>
    private static bool IsConfiguredInServices(IServiceProvider services, string name)
    {
        if (services.GetService<DifyMetadataRegistrations>()?.Names.Contains(name) == true)
        {
            return true;
        }

        bool isDefault = name == Options.Options.DefaultName;
        bool Applies(string? stepName) => stepName is null || stepName == name;

        foreach (IConfigureOptions<DifyMetadataOptions> step in services.GetService<IEnumerable<IConfigureOptions<DifyMetadataOptions>>>() ?? [])
        {
            bool applies = step switch
            {
                ConfigureNamedOptions<DifyMetadataOptions> named => Applies(named.Name),
                IConfigureNamedOptions<DifyMetadataOptions> => true,
                _ => isDefault, // a plain IConfigureOptions applies to the default name only
            };
            if (applies)
            {
                return true;
            }
        }

        foreach (IPostConfigureOptions<DifyMetadataOptions> step in services.GetService<IEnumerable<IPostConfigureOptions<DifyMetadataOptions>>>() ?? [])
        {
            if (step is not PostConfigureOptions<DifyMetadataOptions> named || Applies(named.Name))
            {
                return true;
            }
        }

        foreach (IValidateOptions<DifyMetadataOptions> step in services.GetService<IEnumerable<IValidateOptions<DifyMetadataOptions>>>() ?? [])
        {
            bool applies = step switch
            {
                DifyMetadataOptionsValidator => false, // registered by AddDifyMetadata for every name; the names are above
                ValidateOptions<DifyMetadataOptions> named => Applies(named.Name),
                _ => true,
            };
            if (applies)
            {
                return true;
            }
        }

        return false;
    }
}
