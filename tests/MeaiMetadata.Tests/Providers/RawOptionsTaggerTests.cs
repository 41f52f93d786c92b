using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using OpenAI.Chat;

namespace MeaiMetadata.Tests.Providers;

public class RawOptionsTaggerTests
{
    private static RawOptionsTagger Create(ILogger logger, Func<IChatClient, object?>? callerFactory = null) =>
        new(DifyMetadataSettings.Create(new DifyMetadataOptions(), logger), new DifyTagSet("app", "dify"), callerFactory, null, false);

    [Fact]
    public void IsTagging_RecognizesOnlyItsOwnFactory()
    {
        RawOptionsTagger tagger = Create(new FakeLogger());

        Assert.True(RawOptionsTagger.IsTagging(tagger.Factory));
        Assert.False(RawOptionsTagger.IsTagging(_ => null));
        Assert.False(RawOptionsTagger.IsTagging(null));
    }

    [Theory]
    [InlineData(StandInApi.ChatCompletions, typeof(ChatCompletionOptions))]
    [InlineData(StandInApi.Responses, typeof(OpenAI.Responses.CreateResponseOptions))]
    public void Factory_NoCallerFactory_CreatesTheTypeTheProviderNeeds(StandInApi api, Type expected)
    {
        RawOptionsTagger tagger = Create(new FakeLogger());

        object? raw = tagger.Factory(new OpenAIStandInClient(api));

        Assert.IsType(expected, raw);
        Assert.Equal("app", RawMetadata.Of(raw)["dify_app_id"]);
    }

    [Fact]
    public void Factory_UnknownProvider_ReturnsNullAndSaysSo()
    {
        var logger = new FakeLogger();
        RawOptionsTagger tagger = Create(logger);

        object? raw = tagger.Factory(new TestChatClient());

        Assert.Null(raw);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Message.Contains("No OpenAI mapping", StringComparison.Ordinal));
    }

    [Fact]
    public void Factory_ProviderLookupThrows_RequestGoesOnWithWarning()
    {
        var logger = new FakeLogger();
        RawOptionsTagger tagger = Create(logger);
        var broken = new TestChatClient { GetServiceCallback = (_, _) => throw new InvalidOperationException("broken provider") };

        object? raw = tagger.Factory(broken);

        Assert.Null(raw);
        FakeLogRecord warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.IsType<InvalidOperationException>(warning.Exception);
    }

    [Fact]
    public void Factory_CallerFactoryGetsTheProviderClient()
    {
        IChatClient? seen = null;
        RawOptionsTagger tagger = Create(new FakeLogger(), c => { seen = c; return null; });
        var provider = new OpenAIStandInClient(StandInApi.ChatCompletions);

        _ = tagger.Factory(provider);

        Assert.Same(provider, seen);
    }

    [Fact]
    public void Matches_ComparesSettingsFactoryStoreFlagAndStreaming()
    {
        DifyMetadataSettings settings = DifyMetadataSettings.Create(new DifyMetadataOptions(), new FakeLogger());
        Func<IChatClient, object?> callerFactory = _ => null;
        var tagger = new RawOptionsTagger(settings, new DifyTagSet("app", "dify"), callerFactory, null, false);

        Assert.True(tagger.Matches(settings, callerFactory, null, false));
        Assert.False(tagger.Matches(settings, null, null, false));
        Assert.False(tagger.Matches(settings, callerFactory, true, false));
        Assert.False(tagger.Matches(settings, callerFactory, false, false));
        Assert.False(tagger.Matches(settings, callerFactory, null, true));
        Assert.False(tagger.Matches(DifyMetadataSettings.Create(new DifyMetadataOptions(), new FakeLogger()), callerFactory, null, false));
    }
}
