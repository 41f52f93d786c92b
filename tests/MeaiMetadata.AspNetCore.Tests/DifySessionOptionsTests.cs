namespace MeaiMetadata.AspNetCore.Tests;

public sealed class DifySessionOptionsTests
{
    [Fact]
    public void Defaults_NoLookup_NoBaggage()
    {
        var options = new DifySessionOptions();

        Assert.Null(options.AppId);
        Assert.False(options.PropagateAsBaggage);
    }
}
