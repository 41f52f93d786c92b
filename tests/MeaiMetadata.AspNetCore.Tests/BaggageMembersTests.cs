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
