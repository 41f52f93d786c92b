using System.Text.Json;
using MeaiMetadata.Tagging;

namespace MeaiMetadata.Tests.Tagging;

public class CallerMetadataTests
{
    [Fact]
    public void TryCopy_StringDictionary_CopiesPairs()
    {
        var target = new Dictionary<string, string>();

        Assert.True(CallerMetadata.TryCopy(new Dictionary<string, string> { ["a"] = "1" }, target));
        Assert.Equal("1", target["a"]);
    }

    [Fact]
    public void TryCopy_ObjectDictionary_StringifiesInvariant()
    {
        var target = new Dictionary<string, string>();
        var source = new Dictionary<string, object?> { ["n"] = 1.5, ["b"] = true, ["s"] = "x", ["null"] = null };

        Assert.True(CallerMetadata.TryCopy(source, target));
        Assert.Equal(new Dictionary<string, string> { ["n"] = "1.5", ["b"] = "true", ["s"] = "x" }, target);
    }

    [Fact]
    public void TryCopy_JsonObject_CopiesScalars()
    {
        var target = new Dictionary<string, string>();
        JsonElement json = JsonDocument.Parse("""{"a":"x","n":0,"f":false,"o":{}}""").RootElement;

        Assert.True(CallerMetadata.TryCopy(json, target));
        Assert.Equal(new Dictionary<string, string> { ["a"] = "x", ["n"] = "0", ["f"] = "false" }, target);
    }

    [Theory]
    [InlineData(42)]
    [InlineData("not a dictionary")]
    public void TryCopy_NotADictionary_ReturnsFalse(object value)
    {
        Assert.False(CallerMetadata.TryCopy(value, []));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData("True", true)]
    [InlineData("false", false)]
    [InlineData("maybe", null)]
    [InlineData(1, null)]
    public void ReadFlag_ReadsExplicitFlags(object value, bool? expected)
    {
        Assert.Equal(expected, CallerMetadata.ReadFlag(value));
    }

    [Fact]
    public void ReadFlag_JsonBooleans()
    {
        Assert.True(CallerMetadata.ReadFlag(JsonSerializer.SerializeToElement(true)));
        Assert.False(CallerMetadata.ReadFlag(JsonSerializer.SerializeToElement(false)));
    }
}
