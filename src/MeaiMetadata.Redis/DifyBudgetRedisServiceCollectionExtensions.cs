using MeaiMetadata.Budgets;
using MeaiMetadata.Redis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the shared budget store of <c>UseDifyMetadata()</c> on Redis, Valkey or Garnet.</summary>
public static class DifyBudgetRedisServiceCollectionExtensions
{
    /// <summary>Keeps the budgets of <c>DifyMetadata:Budgets</c> on the RESP server(s) of <paramref name="configuration"/>
    /// (StackExchange.Redis syntax, e.g. <c>"localhost:6379"</c>), shared by every instance that uses the same server.</summary>
    /// <returns>The <paramref name="services"/>.</returns>
    public static IServiceCollection AddDifyBudgetRedisStore(this IServiceCollection services, string configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        services.RemoveAll<IDifyBudgetStore>();
        services.AddSingleton<IDifyBudgetStore>(sp => new RedisDifyBudgetStore(configuration, sp.GetService<TimeProvider>()));
        return services;
    }

    /// <summary>Keeps the budgets on the server(s) of <paramref name="connection"/>, which the caller owns.</summary>
    /// <returns>The <paramref name="services"/>.</returns>
    public static IServiceCollection AddDifyBudgetRedisStore(this IServiceCollection services, IConnectionMultiplexer connection)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(connection);
        services.RemoveAll<IDifyBudgetStore>();
        services.AddSingleton<IDifyBudgetStore>(sp => new RedisDifyBudgetStore(connection, sp.GetService<TimeProvider>()));
        return services;
    }
}
