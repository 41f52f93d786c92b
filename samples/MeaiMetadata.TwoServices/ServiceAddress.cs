using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.TwoServices;

/// <summary>Where a started service listens.</summary>
public static class ServiceAddress
{
    /// <summary>The base address of <paramref name="app"/>, with a trailing slash (e.g. <c>http://127.0.0.1:40123/</c>).</summary>
    /// <param name="app">A started service.</param>
    /// <returns>Its address.</returns>
    public static Uri Of(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new Uri(address.TrimEnd('/') + "/");
    }
}
