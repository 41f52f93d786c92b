using Microsoft.AspNetCore.Mvc;

namespace MeaiMetadata.AspNetCore.Tests.TestDoubles;

/// <summary>An MVC controller that answers with the session its action runs in.</summary>
[ApiController]
[Route("mvc")]
public sealed class SessionController : ControllerBase
{
    [HttpGet]
    public string Get() => DifySession.Current is { } session ? session.AppId : "none";
}
