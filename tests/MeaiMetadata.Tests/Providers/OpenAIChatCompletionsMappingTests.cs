using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;
using OpenAI.Chat;

namespace MeaiMetadata.Tests.Providers;

public class OpenAIChatCompletionsMappingTests
{
    private static readonly DifyProviderMapping s_mapping = DifyProviderMapping.OpenAIChatCompletions;

    private static DifyRequestDecision Request(DifyStorePolicy policy = DifyStorePolicy.EnableWhenUnset, bool callerRequestedStore = false) =>
        Decisions.Of(store: Decisions.StoreFor(policy, callerRequestedStore ? true : null));

    [Fact]
    public void HandlesAndServes_OnlyChatCompletions()
    {
        Assert.True(s_mapping.CanApply(new ChatCompletionOptions()));
        Assert.False(s_mapping.CanApply(new OpenAI.Responses.CreateResponseOptions()));
        Assert.True(s_mapping.CanCreateFor(new OpenAIStandInClient(StandInApi.ChatCompletions), streaming: false));
        Assert.False(s_mapping.CanCreateFor(new OpenAIStandInClient(StandInApi.Responses), streaming: false));
        Assert.IsType<ChatCompletionOptions>(s_mapping.CreateRawOptions(new OpenAIStandInClient(StandInApi.ChatCompletions), streaming: false));
    }

    [Theory]
    [InlineData(null, DifyStorePolicy.EnableWhenUnset, false, true, true)]
    [InlineData(true, DifyStorePolicy.EnableWhenUnset, false, true, true)]
    [InlineData(false, DifyStorePolicy.EnableWhenUnset, false, false, false)]
    [InlineData(null, DifyStorePolicy.LeaveUnset, false, null, false)]
    [InlineData(true, DifyStorePolicy.LeaveUnset, false, true, true)]
    [InlineData(null, DifyStorePolicy.LeaveUnset, true, true, true)]
    [InlineData(false, DifyStorePolicy.LeaveUnset, true, false, false)]
    public void Apply_StoreDecidesWhetherMetadataGoes(bool? store, DifyStorePolicy policy, bool callerRequestedStore, bool? expectedStore, bool tagged)
    {
        var raw = new ChatCompletionOptions { StoredOutputEnabled = store };

        bool attached = s_mapping.Apply(raw, Request(policy, callerRequestedStore));

        Assert.Equal(expectedStore, raw.StoredOutputEnabled);
        Assert.Equal(tagged, attached);
        Assert.Equal(tagged, raw.Metadata.ContainsKey("dify_app_id"));
        if (!tagged)
        {
            Assert.Empty(raw.Metadata);
        }
    }
}
