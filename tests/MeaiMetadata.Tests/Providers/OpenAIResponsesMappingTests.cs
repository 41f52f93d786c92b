using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;
using OpenAI.Responses;

namespace MeaiMetadata.Tests.Providers;

public class OpenAIResponsesMappingTests
{
    private static readonly DifyProviderMapping s_mapping = DifyProviderMapping.OpenAIResponses;

    private static DifyRequestDecision Request(DifyStorePolicy policy = DifyStorePolicy.EnableWhenUnset) =>
        Decisions.Of(store: Decisions.StoreFor(policy));

    [Fact]
    public void HandlesAndServes_OnlyResponses()
    {
        Assert.True(s_mapping.CanApply(new CreateResponseOptions()));
        Assert.False(s_mapping.CanApply(new OpenAI.Chat.ChatCompletionOptions()));
        Assert.True(s_mapping.CanCreateFor(new OpenAIStandInClient(StandInApi.Responses), streaming: false));
        Assert.False(s_mapping.CanCreateFor(new OpenAIStandInClient(StandInApi.ChatCompletions), streaming: false));
        Assert.IsType<CreateResponseOptions>(s_mapping.CreateRawOptions(new OpenAIStandInClient(StandInApi.Responses), streaming: false));
    }

    [Theory]
    [InlineData(null, DifyStorePolicy.EnableWhenUnset, true, true)]
    [InlineData(true, DifyStorePolicy.EnableWhenUnset, true, true)]
    [InlineData(false, DifyStorePolicy.EnableWhenUnset, false, false)]
    [InlineData(null, DifyStorePolicy.LeaveUnset, null, true)] // the Responses API stores by default
    [InlineData(false, DifyStorePolicy.LeaveUnset, false, false)]
    public void Apply_StoreDecidesWhetherMetadataGoes(bool? store, DifyStorePolicy policy, bool? expectedStore, bool tagged)
    {
        var raw = new CreateResponseOptions { StoredOutputEnabled = store };

        bool attached = s_mapping.Apply(raw, Request(policy));

        Assert.Equal(expectedStore, raw.StoredOutputEnabled);
        Assert.Equal(tagged, attached);
        Assert.Equal(tagged, raw.Metadata.ContainsKey("dify_app_id"));
    }

    [Fact]
    public void Apply_KeepsCallerMetadata()
    {
        var raw = new CreateResponseOptions();
        raw.Metadata["team"] = "search";

        s_mapping.Apply(raw, Request());

        Assert.Equal("search", raw.Metadata["team"]);
        Assert.Equal(3, raw.Metadata.Count);
    }
}
