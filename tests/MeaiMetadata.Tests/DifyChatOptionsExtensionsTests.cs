using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests;

public sealed class DifyChatOptionsExtensionsTests
{
    [Fact]
    public void WithDifyAppId_WritesTheKey_KeepsOtherProperties_ReturnsTheSameOptions()
    {
        var options = new ChatOptions { AdditionalProperties = new() { ["other"] = 1 } };

        ChatOptions returned = options.WithDifyAppId("app-1");

        Assert.Same(options, returned);
        Assert.Equal("app-1", options.AdditionalProperties[DifyMetadataKeys.AppIdProperty]);
        Assert.Equal(1, options.AdditionalProperties["other"]);
        Assert.Equal("dify.app_id", DifyMetadataKeys.AppIdProperty);
    }

    [Fact]
    public void WithDifyAppId_CreatesTheDictionary_LastCallWins()
    {
        var options = new ChatOptions();

        options.WithDifyAppId("first").WithDifyAppId("second");

        Assert.Equal("second", Assert.Single(options.AdditionalProperties!).Value);
    }

    [Fact]
    public void WithDifyAppId_NumberAndGuid_FormattedLikeASessionsId()
    {
        var guid = new Guid("0f8fad5b-d9cb-469f-a165-70867728950e");

        Assert.Equal("-12", new ChatOptions().WithDifyAppId(-12L).AdditionalProperties![DifyMetadataKeys.AppIdProperty]);
        Assert.Equal("0f8fad5b-d9cb-469f-a165-70867728950e", new ChatOptions().WithDifyAppId(guid).AdditionalProperties![DifyMetadataKeys.AppIdProperty]);
    }

    [Fact]
    public void WithDifyAppId_Null_Throws()
    {
        Assert.Throws<ArgumentNullException>("appId", () => new ChatOptions().WithDifyAppId(null!));
        Assert.Throws<ArgumentNullException>("options", () => DifyChatOptionsExtensions.WithDifyAppId(null!, "app"));
    }
}
