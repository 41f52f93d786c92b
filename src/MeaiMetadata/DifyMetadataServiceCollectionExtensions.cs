using MeaiMetadata;
using MeaiMetadata.Budgets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="DifyMetadataOptions"/> so that <c>UseDifyMetadata()</c> follows them live.</summary>
public static class DifyMetadataServiceCollectionExtensions
{
    /// <summary>Registers the default options, bound from <paramref name="configuration"/> (e.g. the section
    /// <c>DifyMetadata</c>) and validated at start-up; a change takes effect on the next request.</summary>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, IConfiguration configuration) =>
        services.AddDifyMetadata(Options.Options.DefaultName, configuration);

    /// <summary>Registers named options, bound from <paramref name="configuration"/> and validated at start-up.</summary>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        _ = Register(services, name).Bind(configuration);
        return services;
    }

    /// <summary>Registers the default options, set by <paramref name="configure"/> and validated at start-up.</summary>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, Action<DifyMetadataOptions> configure) =>
        services.AddDifyMetadata(Options.Options.DefaultName, configure);

    /// <summary>Registers named options, set by <paramref name="configure"/> and validated at start-up.</summary>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, string name, Action<DifyMetadataOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _ = Register(services, name).Configure(configure);
        return services;
    }

    private static OptionsBuilder<DifyMetadataOptions> Register(IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        services.TryAddSingleton<IOptionsMonitorCache<DifyMetadataOptions>, DifyMetadataOptionsCache>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DifyMetadataOptions>, DifyMetadataOptionsValidator>());
        services.TryAddSingleton<IDifyBudgetStore>(sp => new InMemoryDifyBudgetStore(sp.GetService<TimeProvider>())); // budgets: one store per provider
        return services.AddOptions<DifyMetadataOptions>(name).ValidateOnStart();
    }
}
