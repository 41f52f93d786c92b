using System.Diagnostics.Metrics;
using MeaiMetadata;
using MeaiMetadata.Budgets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.AI;

/// <summary>Provides extensions for adding a <see cref="DifyMetadataChatClient"/> to a chat client pipeline.</summary>
public static class DifyMetadataChatClientBuilderExtensions
{
    /// <summary>Adds a layer that tags every request with the calling app's id and records tokens and cost per app.</summary>
    /// <remarks>
    /// <para>When the pipeline's services hold options (<c>services.AddDifyMetadata(...)</c>, or any options registration),
    /// the layer follows them live and <paramref name="configure"/> applies on top of each value; otherwise the options are
    /// fixed when the pipeline is built, and a layer they switch off is not added at all. The logger and the meter come
    /// from the pipeline's services.</para>
    /// <para>Where it stands decides what one call covers: inside <c>UseFunctionInvocation()</c> (added after it) each
    /// model request is one call; outside it the whole tool loop is one.</para>
    /// </remarks>
#pragma warning disable RS0027 // The longer overloads take the options name or a two-parameter callback: no call can be ambiguous.
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, Action<DifyMetadataOptions>? configure = null) =>
        builder.UseDifyMetadata(Options.Options.DefaultName, configure);
#pragma warning restore RS0027

    /// <summary>Adds the layer; <paramref name="configureWithServices"/> can read the pipeline's services.</summary>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, Action<DifyMetadataOptions, IServiceProvider> configureWithServices) =>
        builder.UseDifyMetadata(Options.Options.DefaultName, configureWithServices);

    /// <summary>Adds the layer, following the named options in the pipeline's services.</summary>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, string optionsName) =>
        builder.UseDifyMetadata(optionsName, configure: null);

    /// <summary>Adds the layer, following the named options; <paramref name="configure"/> applies on top.</summary>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, string optionsName, Action<DifyMetadataOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(optionsName);
        return builder.Use((innerClient, services) => Create(innerClient, services, optionsName, configure));
    }

    /// <summary>Adds the layer, following the named options; <paramref name="configureWithServices"/> applies on top.</summary>
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
        if (services.GetService<IOptionsMonitor<DifyMetadataOptions>>() is { } monitor)
        {
            return new DifyMetadataChatClient(innerClient, monitor, optionsName, configure, logger, meterFactory) { Budgets = DifyBudgetEnforcer.From(services, meterFactory) };
        }

        var options = new DifyMetadataOptions();
        configure?.Invoke(options);
        return options.Enabled ? new DifyMetadataChatClient(innerClient, options, logger, meterFactory) { Budgets = DifyBudgetEnforcer.From(services, meterFactory) } : innerClient;
    }
}
