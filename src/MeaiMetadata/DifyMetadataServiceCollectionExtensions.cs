using MeaiMetadata;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="DifyMetadataOptions"/> so that <c>UseDifyMetadata()</c> follows them live.</summary>
public static class DifyMetadataServiceCollectionExtensions
{
    /// <summary>Registers the default <see cref="DifyMetadataOptions"/>, bound from <paramref name="configuration"/> and validated at start-up.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration section, e.g. <c>configuration.GetSection("DifyMetadata")</c>.</param>
    /// <returns>The <paramref name="services"/>.</returns>
    /// <remarks>A change of the configuration (for example <c>Enabled</c>) takes effect on the next request, without a restart.</remarks>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, IConfiguration configuration) =>
        services.AddDifyMetadata(Options.Options.DefaultName, configuration);

    /// <summary>Registers named <see cref="DifyMetadataOptions"/>, bound from <paramref name="configuration"/> and validated at start-up.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The options name; pass the same name to <c>UseDifyMetadata(name)</c> (for example on a keyed client).</param>
    /// <param name="configuration">The configuration section.</param>
    /// <returns>The <paramref name="services"/>.</returns>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        // Bound by hand (not OptionsBuilder.Bind) so that a value the binder cannot convert (StorePolicy "Nope") is an
        // invalid option like any other: it stops the host at start-up, and a reload that brings it is refused and logged
        // instead of throwing to whoever reloaded.
        Register(services, name).Configure(options => Bind(configuration, options));
        services.AddSingleton<IOptionsChangeTokenSource<DifyMetadataOptions>>(new ConfigurationChangeTokenSource<DifyMetadataOptions>(name, configuration));
        return services;
    }

    /// <summary>Registers the default <see cref="DifyMetadataOptions"/>, set by <paramref name="configure"/> and validated at start-up.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The <paramref name="services"/>.</returns>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, Action<DifyMetadataOptions> configure) =>
        services.AddDifyMetadata(Options.Options.DefaultName, configure);

    /// <summary>Registers named <see cref="DifyMetadataOptions"/>, set by <paramref name="configure"/> and validated at start-up.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The options name; pass the same name to <c>UseDifyMetadata(name)</c>.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The <paramref name="services"/>.</returns>
    public static IServiceCollection AddDifyMetadata(this IServiceCollection services, string name, Action<DifyMetadataOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);

        Register(services, name).Configure(configure);
        return services;
    }

    private static OptionsBuilder<DifyMetadataOptions> Register(IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DifyMetadataOptions>, DifyMetadataOptionsValidator>());
        DifyMetadataRegistrations registrations = services
            .Where(d => d.ServiceType == typeof(DifyMetadataRegistrations) && d.ImplementationInstance is not null)
            .Select(d => (DifyMetadataRegistrations)d.ImplementationInstance!)
            .FirstOrDefault() ?? AddRegistrations(services);
        registrations.Names.Add(name);

        return services.AddOptions<DifyMetadataOptions>(name).ValidateOnStart();
    }

    private static void Bind(IConfiguration configuration, DifyMetadataOptions options)
    {
        try
        {
            configuration.Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            options.ConfigurationError = ex.Message;
        }
    }

    private static DifyMetadataRegistrations AddRegistrations(IServiceCollection services)
    {
        var registrations = new DifyMetadataRegistrations();
        services.AddSingleton(registrations);
        return registrations;
    }
}
