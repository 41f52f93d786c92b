using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace MeaiMetadata.AspNetCore.Tests;

public sealed class BaggageMembersTests
{
    [Theory]
    [InlineData("a=1", "a=1")]
    [InlineData("dify.app_id=x", "")]
    [InlineData("a=1,dify.app_id=x", "a=1")]
    [InlineData("dify.app_id=x,a=1", "a=1")]
    [InlineData("a=1 , dify.app_id=x , b=2;p", "a=1 , b=2;p")]
    [InlineData("a=1,,dify.app_id=x", "a=1")]
    [InlineData("a=%20x,dify%2eapp_id=x", "a=%20x")]
    [InlineData("a=dify.app_id,b=2", "a=dify.app_id,b=2")]       // only keys count
    [InlineData("dify.app_id_other=1", "dify.app_id_other=1")]
    [InlineData("Dify.app_id=1", "Dify.app_id=1")]               // case-sensitive
    [InlineData("dify.app_id%3D=1", "dify.app_id%3D=1")]         // decodes to another key
    public void RemoveAppId_Value(string value, string expected)
    {
        Assert.Equal(expected, BaggageMembers.RemoveAppId(value));
    }

    [Fact]
    public void RemoveAppId_NothingToRemove_SameInstance()
    {
        string value = "a=1, b=%41";

        Assert.Same(value, BaggageMembers.RemoveAppId(value));
    }

    [Fact]
    public void RemoveAppId_Headers_NothingToRemove_HeaderUntouched()
    {
        var headers = new HeaderDictionary { ["baggage"] = new(["a=1", "b=2"]) };

        Assert.False(BaggageMembers.RemoveAppId(headers, "baggage"));
        Assert.Equal("a=1|b=2", string.Join("|", headers["baggage"].ToArray()));
    }

    [Fact]
    public void RemoveAppId_Headers_EmptiedValuesDropped()
    {
        var headers = new HeaderDictionary { ["baggage"] = new(["a=1", "dify.app_id=x", "dify.app_id=y,b=2"]) };

        Assert.True(BaggageMembers.RemoveAppId(headers, "baggage"));
        Assert.Equal("a=1|b=2", string.Join("|", headers["baggage"].ToArray()));
    }

    [Fact]
    public void RemoveAppId_Activity_OwnParentsAndDuplicates_OthersKept()
    {
        using Activity parent = new Activity("parent").AddBaggage("dify.app_id", "p").AddBaggage("keep", "1").Start();
        using Activity child = new Activity("child").AddBaggage("dify.app_id", "c1").AddBaggage("dify%2Eapp_id", "c2").AddBaggage("dify.app_id", "c3").Start();

        Assert.True(BaggageMembers.RemoveAppId(child));

        Assert.Null(child.GetBaggageItem("dify.app_id"));
        Assert.Null(child.GetBaggageItem("dify%2Eapp_id"));
        Assert.Null(parent.GetBaggageItem("dify.app_id"));
        Assert.Equal("1", child.GetBaggageItem("keep"));
        Assert.False(BaggageMembers.RemoveAppId(child));
    }
}

/// <summary>What the propagators that read an incoming <c>baggage</c> header make of the spellings of <c>dify.app_id</c>
/// that <see cref="BaggageMembers"/> matches: OpenTelemetry's and .NET's default (W3C) keep a key as it was sent, only
/// trimmed (values they decode); .NET's pre-W3C propagator percent-decodes keys too. The middleware therefore looks for
/// every spelling, decoded or not, in the header, in <c>Activity.Baggage</c> and in OpenTelemetry's <c>Baggage.Current</c>.</summary>
public sealed class BaggagePropagatorKeyTests
{
    public static TheoryData<string> Spellings => ["dify.app_id", " dify.app_id ", "dify%2Eapp_id", "dify%2eapp_id", "%64ify.app_id"];

    [Theory]
    [MemberData(nameof(Spellings))]
    public void OpenTelemetryBaggagePropagator_KeepsTheKeyAsSent_OnlyTrimmed(string key)
    {
        var carrier = new Dictionary<string, string> { ["baggage"] = key + "=vic%74im,other=1" };

        OpenTelemetry.Context.Propagation.PropagationContext context = new OpenTelemetry.Context.Propagation.BaggagePropagator()
            .Extract(default, carrier, (c, name) => c.TryGetValue(name, out string? v) ? [v] : null);

        Assert.Equal(Sorted($"[{key.Trim()}]=[victim]", "[other]=[1]"), Sorted([.. context.Baggage.GetBaggage().Select(b => $"[{b.Key}]=[{b.Value}]")]));
        Assert.True(BaggageMembers.IsAppIdKey(key.Trim()));
    }

    [Theory]
    [MemberData(nameof(Spellings))]
    public void DotNetDefaultPropagator_KeepsTheKeyAsSent_OnlyTrimmed(string key)
    {
        Assert.Equal(Sorted($"[{key.Trim()}]=[victim]", "[other]=[1]"), Extract(DistributedContextPropagator.CreateDefaultPropagator(), key));
        Assert.Equal(Sorted($"[{key.Trim()}]=[victim]", "[other]=[1]"), Extract(DistributedContextPropagator.CreateW3CPropagator(), key));
    }

    [Theory]
    [MemberData(nameof(Spellings))]
    public void DotNetPreW3CPropagator_DecodesTheKey(string key)
    {
        Assert.Equal(Sorted("[dify.app_id]=[victim]", "[other]=[1]"), Extract(DistributedContextPropagator.CreatePreW3CPropagator(), key));
    }

    private static string Extract(DistributedContextPropagator propagator, string key)
    {
        var carrier = new Dictionary<string, string> { ["baggage"] = key + "=vic%74im,other=1" };
        IEnumerable<KeyValuePair<string, string?>>? baggage = propagator.ExtractBaggage(carrier, (object? c, string name, out string? value, out IEnumerable<string>? values) =>
        {
            values = null;
            value = ((Dictionary<string, string>)c!).GetValueOrDefault(name);
        });
        return Sorted([.. baggage!.Select(b => $"[{b.Key}]=[{b.Value}]")]);
    }

    private static string Sorted(params string[] items) => string.Join("|", items.Order(StringComparer.Ordinal));
}
