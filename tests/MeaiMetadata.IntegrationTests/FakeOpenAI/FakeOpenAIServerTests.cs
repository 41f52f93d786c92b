using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeaiMetadata.FakeOpenAI;

namespace MeaiMetadata.IntegrationTests.FakeOpenAI;

/// <summary>The fake's validation rules and answer shapes, driven with a raw <see cref="HttpClient"/>.</summary>
public sealed class FakeOpenAIServerTests : IClassFixture<FakeOpenAIServerFixture>, IDisposable
{
    private const string Chat = "chat/completions";
    private const string Responses = "responses";
    private const string MetadataWithoutStoreMessage = "The 'metadata' parameter is only allowed when 'store' is enabled.";

    private readonly FakeOpenAIServer _server;
    private readonly HttpClient _http;

    public FakeOpenAIServerTests(FakeOpenAIServerFixture fixture)
    {
        _server = fixture.Server;
        _server.Clear();
        _http = new HttpClient { BaseAddress = _server.BaseAddress };
    }

    public void Dispose() => _http.Dispose();

    // ---------------------------------------------------------------- body, model, messages, input

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_BodyIsNotJson_Returns400WithNullParam(string path)
    {
        RecordedRequest recorded = await AssertRejectedAsync(path, "{\"model\": ", expectedParam: null);

        Assert.Contains("could not parse the JSON body", recorded.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Chat, "[]")]
    [InlineData(Chat, "\"text\"")]
    [InlineData(Responses, "42")]
    [InlineData(Responses, "null")]
    public async Task Post_BodyIsNotAnObject_Returns400WithNullParam(string path, string body)
    {
        RecordedRequest recorded = await AssertRejectedAsync(path, body, expectedParam: null);

        Assert.Contains("expected an object", recorded.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_ModelMissing_Returns400WithParamModel(string path)
    {
        RecordedRequest recorded = await AssertRejectedAsync(path, Body(path, b => b.Remove("model")), "model");

        Assert.Null(recorded.Model);
    }

    [Theory]
    [InlineData(Chat, "42")]
    [InlineData(Responses, "null")]
    [InlineData(Responses, "[\"gpt-4o-mini\"]")]
    public async Task Post_ModelNotString_Returns400WithParamModel(string path, string model) =>
        await AssertRejectedAsync(path, Body(path, b => b["model"] = JsonNode.Parse(model)), "model");

    [Theory]
    [InlineData(null)]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("\"hi\"")]
    [InlineData("null")]
    public async Task ChatCompletions_MessagesMissingEmptyOrNotArray_Returns400WithParamMessages(string? messages) =>
        await AssertRejectedAsync(
            Chat,
            Body(Chat, b =>
            {
                b.Remove("messages");
                if (messages is not null)
                {
                    b["messages"] = JsonNode.Parse(messages);
                }
            }),
            "messages");

    [Theory]
    [InlineData(null)]
    [InlineData("null")]
    public async Task Responses_InputMissing_Returns400WithParamInput(string? input) =>
        await AssertRejectedAsync(
            Responses,
            Body(Responses, b =>
            {
                b.Remove("input");
                if (input is not null)
                {
                    b["input"] = JsonNode.Parse(input);
                }
            }),
            "input");

    // ---------------------------------------------------------------- metadata

    [Theory]
    [InlineData(Chat, "\"app=1\"")]
    [InlineData(Chat, "[\"a\",\"b\"]")]
    [InlineData(Responses, "42")]
    [InlineData(Responses, "true")]
    public async Task Post_MetadataNotAnObject_Returns400WithParamMetadata(string path, string metadata)
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            path, Body(path, b => { b["metadata"] = JsonNode.Parse(metadata); b["store"] = true; }), "metadata");

        Assert.Contains("expected an object", recorded.Error, StringComparison.Ordinal);
        Assert.Null(recorded.Metadata);
    }

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_Metadata17Pairs_Returns400WithParamMetadata(string path)
    {
        var metadata = Enumerable.Range(0, 17).ToDictionary(i => $"k{i}", i => $"v{i}");

        RecordedRequest recorded = await AssertRejectedAsync(path, Body(path, b => { b["metadata"] = Object(metadata); b["store"] = true; }), "metadata");

        Assert.Contains("at most 16", recorded.Error, StringComparison.Ordinal);
        Assert.Equal(metadata, recorded.Metadata);
    }

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_MetadataKeyEmpty_Returns400WithParamMetadata(string path)
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            path, Body(path, b => { b["metadata"] = Object(new() { ["ok"] = "1", [""] = "2" }); b["store"] = true; }), "metadata");

        Assert.Equal("2", recorded.Metadata![""]);
    }

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_MetadataKey65Chars_Returns400WithParamMetadata(string path)
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            path, Body(path, b => { b["metadata"] = Object(new() { [new string('k', 65)] = "v" }); b["store"] = true; }), "metadata");

        Assert.Contains("65", recorded.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Chat, "1")]
    [InlineData(Chat, "true")]
    [InlineData(Chat, "null")]
    [InlineData(Responses, "{}")]
    [InlineData(Responses, "[\"x\"]")]
    [InlineData(Responses, "1.5")]
    public async Task Post_MetadataValueNotString_Returns400WithParamMetadata(string path, string value)
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            path,
            Body(path, b => { b["metadata"] = new JsonObject { ["good"] = "g", ["bad"] = JsonNode.Parse(value) }; b["store"] = true; }),
            "metadata");

        Assert.Contains("'metadata.bad'", recorded.Error, StringComparison.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["good"] = "g" }, recorded.Metadata);
    }

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_MetadataValue513Chars_Returns400WithParamMetadata(string path)
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            path, Body(path, b => { b["metadata"] = Object(new() { ["k"] = new string('v', 513) }); b["store"] = true; }), "metadata");

        Assert.Contains("513", recorded.Error, StringComparison.Ordinal);
        Assert.Equal(513, recorded.Metadata!["k"].Length);
    }

    [Fact]
    public async Task Post_MetadataValue513Utf16CharsMostlySurrogatePairs_Returns400WithParamMetadata()
    {
        // 256 emoji are 256 code points but 512 UTF-16 chars; one more char makes 513.
        string value = string.Concat(Enumerable.Repeat("\U0001F600", 256)) + "a";

        await AssertRejectedAsync(Chat, Body(Chat, b => { b["metadata"] = Object(new() { ["k"] = value }); b["store"] = true; }), "metadata");
    }

    [Fact]
    public async Task Post_MetadataValue512Utf16CharsOfSurrogatePairs_Accepted()
    {
        string value = string.Concat(Enumerable.Repeat("\U0001F600", 256));

        RecordedRequest recorded = await AssertAcceptedAsync(Chat, Body(Chat, b => { b["metadata"] = Object(new() { ["k"] = value }); b["store"] = true; }));

        Assert.Equal(value, recorded.Metadata!["k"]);
    }

    // ---------------------------------------------------------------- store

    [Theory]
    [InlineData(Chat, "\"true\"")]
    [InlineData(Chat, "1")]
    [InlineData(Responses, "\"false\"")]
    [InlineData(Responses, "{}")]
    public async Task Post_StoreNotBoolean_Returns400WithParamStore(string path, string store)
    {
        RecordedRequest recorded = await AssertRejectedAsync(path, Body(path, b => b["store"] = JsonNode.Parse(store)), "store");

        Assert.Null(recorded.Store);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("false")]
    [InlineData("null")]
    public async Task ChatCompletions_MetadataWithoutStoreTrue_Returns400WithExactMessage(string? store)
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            Chat,
            Body(Chat, b =>
            {
                b["metadata"] = Object(new() { ["app"] = "a1" });
                if (store is not null)
                {
                    b["store"] = JsonNode.Parse(store);
                }
            }),
            "metadata",
            MetadataWithoutStoreMessage);

        Assert.Equal(new Dictionary<string, string> { ["app"] = "a1" }, recorded.Metadata);
        Assert.Equal(store == "false" ? false : (bool?)null, recorded.Store);
    }

    // ---------------------------------------------------------------- Unicode

    [Theory]
    [InlineData(Chat, """{"model":"m","store":true,"metadata":{"k":"a\ud800"},"messages":[{"role":"user","content":"hi"}]}""", "metadata.k")]
    [InlineData(Chat, """{"model":"m","store":true,"metadata":{"k":"\udc00b"},"messages":[{"role":"user","content":"hi"}]}""", "metadata.k")]
    [InlineData(Chat, """{"model":"m","store":true,"metadata":{"k":"\udc00\ud800"},"messages":[{"role":"user","content":"hi"}]}""", "metadata.k")]
    [InlineData(Chat, """{"model":"m","store":true,"metadata":{"k":"\ud800\u0041"},"messages":[{"role":"user","content":"hi"}]}""", "metadata.k")]
    [InlineData(Chat, """{"model":"m","store":true,"metadata":{"k\udbff":"v"},"messages":[{"role":"user","content":"hi"}]}""", "metadata.k\uFFFD")]
    [InlineData(Chat, """{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"\ud83d"}]}]}""", "messages[0].content[0].text")]
    [InlineData(Responses, """{"model":"m","input":"x\uDE00"}""", "input")]
    [InlineData(Responses, """{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":{"properties":{"\ud800":{}}}}]}""", "tools[0].parameters.properties.\uFFFD")]
    public async Task Post_LoneSurrogateEscape_Returns400AboutInvalidUnicode(string path, string body, string expectedParam)
    {
        RecordedRequest recorded = await AssertRejectedAsync(path, body, expectedParam);

        Assert.Contains("Invalid Unicode", recorded.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_LoneSurrogateInMetadataValue_RecordsTheLoneSurrogate()
    {
        RecordedRequest recorded = await AssertRejectedAsync(
            Responses, """{"model":"m","input":"hi","metadata":{"k":"a\ud800"}}""", "metadata.k");

        Assert.Equal("a\ud800", recorded.Metadata!["k"]);
    }

    [Fact]
    public async Task Post_LoneSurrogateSerializedBySystemTextJson_ArrivesAsReplacementCharacterAndIsAccepted()
    {
        // Utf8JsonWriter (used by JsonNode and by the OpenAI SDK) does not throw on a lone surrogate and does not
        // escape it as \ud83d: it writes U+FFFD. So a split surrogate pair from .NET code is silently corrupted, not rejected.
        string body = Body(Chat, b => { b["metadata"] = Object(new() { ["k"] = "ab\ud83d" }); b["store"] = true; });

        RecordedRequest recorded = await AssertAcceptedAsync(Chat, body);

        Assert.Contains("\\uFFFD", body, StringComparison.Ordinal);
        Assert.Equal("ab\uFFFD", recorded.Metadata!["k"]);
    }

    [Fact]
    public async Task Post_InvalidUtf8Bytes_Returns400AboutInvalidUnicode()
    {
        byte[] body = [.. Encoding.UTF8.GetBytes("""{"model":"m","input":"a"""), 0xED, 0xA0, 0x80, .. Encoding.UTF8.GetBytes("\"}")];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using HttpResponseMessage response = await _http.PostAsync(Responses, content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Contains("Invalid Unicode", recorded.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"m","store":true,"metadata":{"k":"\ud83d\ude00"},"messages":[{"role":"user","content":"hi"}]}""", "\U0001F600")]
    [InlineData("""{"model":"m","store":true,"metadata":{"k":"\\ud800"},"messages":[{"role":"user","content":"hi"}]}""", "\\ud800")]
    [InlineData("""{"model":"m","store":true,"metadata":{"k":"\\\ud83d\udE00\\"},"messages":[{"role":"user","content":"hi"}]}""", "\\\U0001F600\\")]
    public async Task Post_SurrogatePairOrEscapedBackslash_Accepted(string body, string expectedValue)
    {
        RecordedRequest recorded = await AssertAcceptedAsync(Chat, body);

        Assert.Equal(expectedValue, recorded.Metadata!["k"]);
    }

    // ---------------------------------------------------------------- accepted requests

    [Theory]
    [InlineData(Chat)]
    [InlineData(Responses)]
    public async Task Post_16PairsOfMaxLengthKeysAndValuesWithStoreTrue_Accepted(string path)
    {
        var metadata = Enumerable.Range(0, 16).ToDictionary(
            i => i.ToString("D2") + new string('k', 62),
            i => i.ToString("D2") + new string('v', 510));

        RecordedRequest recorded = await AssertAcceptedAsync(path, Body(path, b => { b["metadata"] = Object(metadata); b["store"] = true; }));

        Assert.Equal(metadata, recorded.Metadata);
        Assert.True(recorded.Store);
        Assert.All(recorded.Metadata!, pair => Assert.Equal((64, 512), (pair.Key.Length, pair.Value.Length)));
    }

    [Fact]
    public async Task ChatCompletions_WithoutMetadata_AnswersCompletionAndRecordsNulls()
    {
        string body = Body(Chat);

        RecordedRequest recorded = await AssertAcceptedAsync(Chat, body, root =>
        {
            Assert.Equal("chat.completion", root.GetProperty("object").GetString());
            JsonElement choice = Assert.Single(root.GetProperty("choices").EnumerateArray());
            Assert.Equal("ok", choice.GetProperty("message").GetProperty("content").GetString());
            Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
            Assert.Equal(8, root.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        });

        Assert.Equal(OpenAIApi.ChatCompletions, recorded.Api);
        Assert.Equal("/v1/chat/completions", recorded.Path);
        Assert.Equal("gpt-4o-mini", recorded.Model);
        Assert.Null(recorded.Metadata);
        Assert.Null(recorded.Store);
        Assert.False(recorded.Stream);
        Assert.Null(recorded.Error);
        Assert.Equal(body, recorded.Body);
    }

    [Theory]
    [InlineData("{}", 0)]
    [InlineData("null", null)]
    public async Task ChatCompletions_EmptyOrNullMetadataWithoutStore_Accepted(string metadata, int? expectedCount)
    {
        RecordedRequest recorded = await AssertAcceptedAsync(Chat, Body(Chat, b => b["metadata"] = JsonNode.Parse(metadata)));

        Assert.Equal(expectedCount, recorded.Metadata?.Count);
    }

    [Fact]
    public async Task Responses_MetadataWithoutStore_AcceptedAndEchoesStoreTrueAndMetadata()
    {
        RecordedRequest recorded = await AssertAcceptedAsync(
            Responses,
            Body(Responses, b => b["metadata"] = Object(new() { ["app"] = "a1" })),
            root =>
            {
                Assert.Equal("response", root.GetProperty("object").GetString());
                Assert.True(root.GetProperty("store").GetBoolean());
                Assert.Equal("a1", root.GetProperty("metadata").GetProperty("app").GetString());
                JsonElement item = Assert.Single(root.GetProperty("output").EnumerateArray());
                Assert.Equal("ok", item.GetProperty("content")[0].GetProperty("text").GetString());
                Assert.Equal(5, root.GetProperty("usage").GetProperty("input_tokens").GetInt32());
            });

        Assert.Equal(OpenAIApi.Responses, recorded.Api);
        Assert.Null(recorded.Store);
        Assert.Equal("a1", recorded.Metadata!["app"]);
    }

    [Fact]
    public async Task Responses_StoreFalseWithoutMetadata_EchoesStoreFalseAndEmptyMetadata()
    {
        RecordedRequest recorded = await AssertAcceptedAsync(
            Responses,
            Body(Responses, b => b["store"] = false),
            root =>
            {
                Assert.False(root.GetProperty("store").GetBoolean());
                Assert.Empty(root.GetProperty("metadata").EnumerateObject());
            });

        Assert.False(recorded.Store);
    }

    [Theory]
    [InlineData("""[{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":"second"}]""", "second")]
    [InlineData("""[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"b"}]},{"role":"assistant","content":"x"}]""", "ab")]
    [InlineData("""[{"role":"system","content":"sys"}]""", null)]
    public async Task ChatCompletions_Messages_RecordsLastUserText(string messages, string? expected)
    {
        RecordedRequest recorded = await AssertAcceptedAsync(Chat, Body(Chat, b => b["messages"] = JsonNode.Parse(messages)));

        Assert.Equal(expected, recorded.LastUserText);
    }

    [Theory]
    [InlineData("\"plain\"", "plain")]
    [InlineData("""[{"role":"user","content":"first"},{"type":"message","role":"user","content":[{"type":"input_text","text":"se"},{"type":"input_image","image_url":"u"},{"type":"input_text","text":"cond"}]},{"role":"assistant","content":"x"}]""", "second")]
    [InlineData("""[{"type":"function_call_output","call_id":"call_1","output":"sunny"}]""", null)]
    public async Task Responses_Input_RecordsLastUserText(string input, string? expected)
    {
        RecordedRequest recorded = await AssertAcceptedAsync(Responses, Body(Responses, b => b["input"] = JsonNode.Parse(input)));

        Assert.Equal(expected, recorded.LastUserText);
    }

    // ---------------------------------------------------------------- tool calls

    [Fact]
    public async Task ChatCompletions_ToolsWithoutToolResult_AnswersWithCallToFirstTool() =>
        await AssertAcceptedAsync(Chat, Body(Chat, b => b["tools"] = JsonNode.Parse(ChatTools)), root =>
        {
            JsonElement choice = root.GetProperty("choices")[0];
            Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
            JsonElement call = Assert.Single(choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray());
            Assert.Equal("call_1", call.GetProperty("id").GetString());
            Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
            Assert.Equal("{}", call.GetProperty("function").GetProperty("arguments").GetString());
        });

    [Fact]
    public async Task ChatCompletions_ToolResultPresent_AnswersWithText() =>
        await AssertAcceptedAsync(
            Chat,
            Body(Chat, b =>
            {
                b["tools"] = JsonNode.Parse(ChatTools);
                b["messages"] = JsonNode.Parse("""
                    [{"role":"user","content":"weather?"},
                     {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
                     {"role":"tool","tool_call_id":"call_1","content":"sunny"}]
                    """);
            }),
            root => Assert.Equal("ok", root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()));

    [Fact]
    public async Task Responses_ToolsWithoutToolResult_AnswersWithFunctionCallItem() =>
        await AssertAcceptedAsync(Responses, Body(Responses, b => b["tools"] = JsonNode.Parse(ResponsesTools)), root =>
        {
            JsonElement item = Assert.Single(root.GetProperty("output").EnumerateArray());
            Assert.Equal("function_call", item.GetProperty("type").GetString());
            Assert.Equal("call_1", item.GetProperty("call_id").GetString());
            Assert.Equal("get_weather", item.GetProperty("name").GetString());
            Assert.Equal("{}", item.GetProperty("arguments").GetString());
        });

    [Fact]
    public async Task Responses_FunctionCallOutputPresent_AnswersWithText() =>
        await AssertAcceptedAsync(
            Responses,
            Body(Responses, b =>
            {
                b["tools"] = JsonNode.Parse(ResponsesTools);
                b["previous_response_id"] = "resp_1";
                b["input"] = JsonNode.Parse("""[{"type":"function_call_output","call_id":"call_1","output":"sunny"}]""");
            }),
            root =>
            {
                Assert.Equal("resp_1", root.GetProperty("previous_response_id").GetString());
                Assert.Equal("message", root.GetProperty("output")[0].GetProperty("type").GetString());
            });

    // ---------------------------------------------------------------- streaming

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ChatCompletions_Stream_SendsContentChunkOptionalUsageChunkAndDone(bool includeUsage)
    {
        string body = Body(Chat, b =>
        {
            b["stream"] = true;
            b["stream_options"] = new JsonObject { ["include_usage"] = includeUsage };
        });

        (List<string> data, RecordedRequest recorded) = await PostStreamAsync(Chat, body);

        Assert.True(recorded.Stream);
        Assert.Equal("[DONE]", data[^1]);
        List<JsonElement> chunks = data.SkipLast(1).Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("ok", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString());
        Assert.Contains(chunks, c => c.GetProperty("choices").GetArrayLength() > 0 && c.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "stop");
        JsonElement[] usageChunks = chunks.Where(c => c.GetProperty("usage").ValueKind == JsonValueKind.Object).ToArray();
        if (includeUsage)
        {
            JsonElement usage = Assert.Single(usageChunks);
            Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
            Assert.Equal(3, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        }
        else
        {
            Assert.Empty(usageChunks);
        }
    }

    [Fact]
    public async Task ChatCompletions_StreamWithTools_SendsToolCallDelta()
    {
        string body = Body(Chat, b => { b["stream"] = true; b["tools"] = JsonNode.Parse(ChatTools); });

        (List<string> data, _) = await PostStreamAsync(Chat, body);

        JsonElement call = JsonDocument.Parse(data[0]).RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("tool_calls")[0];
        Assert.Equal(0, call.GetProperty("index").GetInt32());
        Assert.Equal("call_1", call.GetProperty("id").GetString());
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        Assert.Contains(data, d => d.Contains("\"finish_reason\":\"tool_calls\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Responses_Stream_SendsTextDeltaOrFunctionCallAndCompletedEvent(bool withTools)
    {
        string body = Body(Responses, b =>
        {
            b["stream"] = true;
            b["metadata"] = Object(new() { ["app"] = "a1" });
            if (withTools)
            {
                b["tools"] = JsonNode.Parse(ResponsesTools);
            }
        });

        (List<string> data, _) = await PostStreamAsync(Responses, body);

        List<JsonElement> events = data.Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.GetProperty("sequence_number").GetInt32()));
        Assert.Equal("response.created", events[0].GetProperty("type").GetString());
        JsonElement completed = events[^1];
        Assert.Equal("response.completed", completed.GetProperty("type").GetString());
        JsonElement response = completed.GetProperty("response");
        Assert.Equal("a1", response.GetProperty("metadata").GetProperty("app").GetString());
        Assert.Equal(8, response.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        if (withTools)
        {
            Assert.Equal("function_call", response.GetProperty("output")[0].GetProperty("type").GetString());
            Assert.DoesNotContain(events, e => e.GetProperty("type").GetString() == "response.output_text.delta");
        }
        else
        {
            JsonElement delta = Assert.Single(events, e => e.GetProperty("type").GetString() == "response.output_text.delta");
            Assert.Equal("ok", delta.GetProperty("delta").GetString());
            Assert.StartsWith("msg_", delta.GetProperty("item_id").GetString(), StringComparison.Ordinal);
        }
    }

    // ---------------------------------------------------------------- routing and server behaviour

    [Theory]
    [InlineData("POST", "models")]
    [InlineData("POST", "chat/completions/extra")]
    [InlineData("POST", "/chat/completions")]
    [InlineData("DELETE", "chat/completions")] // GET is the list of stored completions
    [InlineData("GET", "responses")]
    public async Task Server_UnknownPathOrMethod_Returns404WithErrorShapeAndRecords(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = new StringContent(Body(Chat), Encoding.UTF8, "application/json");
        }

        using HttpResponseMessage response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement error = json.RootElement.GetProperty("error");
        Assert.StartsWith("Invalid URL", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal((OpenAIApi.Unknown, 404, method), (recorded.Api, recorded.StatusCode, recorded.Method));
    }

    [Fact]
    public void Server_BaseAddress_IsLoopbackWithPathBaseAndTrailingSlash()
    {
        Uri address = _server.BaseAddress;

        Assert.Equal("http", address.Scheme);
        Assert.Equal("127.0.0.1", address.Host);
        Assert.NotEqual(0, address.Port);
        Assert.Equal("/v1/", address.AbsolutePath);
    }

    [Fact]
    public async Task Server_Clear_ForgetsRecordedRequests()
    {
        await AssertAcceptedAsync(Chat, Body(Chat));
        Assert.Single(_server.Requests);

        _server.Clear();

        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Server_RequestsSnapshot_IsNotChangedByLaterRequests()
    {
        await AssertAcceptedAsync(Chat, Body(Chat));
        IReadOnlyList<RecordedRequest> snapshot = _server.Requests;

        using HttpResponseMessage response = await _http.PostAsync(Responses, Json(Body(Responses)));

        Assert.Single(snapshot);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task Server_ConcurrentRequests_AllRecorded()
    {
        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            _http.PostAsync(i % 2 == 0 ? Chat : Responses, Json(Body(i % 2 == 0 ? Chat : Responses, b => b["model"] = $"m{i}")))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(
            Enumerable.Range(0, 20).Select(i => $"m{i}").Order(),
            _server.Requests.Select(r => r.Model!).Order());
        foreach (HttpResponseMessage response in responses)
        {
            response.Dispose();
        }
    }

    // ---------------------------------------------------------------- options (own servers)

    [Theory]
    [InlineData(null, null)]
    [InlineData("Bearer wrong", null)]
    [InlineData(null, "wrong")]
    [InlineData("secret", null)]
    public async Task Server_ApiKeyMissingOrWrong_Returns401(string? authorization, string? apiKey)
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ApiKey = "secret" });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using HttpRequestMessage request = AuthRequest(authorization, apiKey);

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_api_key", json.RootElement.GetProperty("error").GetProperty("code").GetString());
        RecordedRequest recorded = Assert.Single(server.Requests);
        Assert.Equal((401, authorization, apiKey), (recorded.StatusCode, recorded.AuthorizationHeader, recorded.ApiKeyHeader));
    }

    [Theory]
    [InlineData("Bearer secret", null)]
    [InlineData(null, "secret")]
    [InlineData("Bearer wrong", "secret")]
    public async Task Server_ApiKeyAsBearerOrApiKeyHeader_Accepted(string? authorization, string? apiKey)
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { ApiKey = "secret" });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using HttpRequestMessage request = AuthRequest(authorization, apiKey);

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        RecordedRequest recorded = Assert.Single(server.Requests);
        Assert.Equal((200, authorization, apiKey), (recorded.StatusCode, recorded.AuthorizationHeader, recorded.ApiKeyHeader));
    }

    [Fact]
    public async Task Server_AzurePathBase_ServesUnderOpenAIV1Only()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(new FakeOpenAIServerOptions { PathBase = "/openai/v1" });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        using HttpResponseMessage ok = await http.PostAsync("responses", Json(Body(Responses)));
        using HttpResponseMessage notFound = await http.PostAsync("/v1/responses", Json(Body(Responses)));

        Assert.Equal("/openai/v1/", server.BaseAddress.AbsolutePath);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal(new[] { "/openai/v1/responses", "/v1/responses" }, server.Requests.Select(r => r.Path));
    }

    [Fact]
    public async Task Server_ReplyTextTokensAndToolCallsOff_ShapeTheAnswer()
    {
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(
            new FakeOpenAIServerOptions { ReplyText = "hello there", ToolCalls = false, InputTokens = 11, OutputTokens = 7 });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        using HttpResponseMessage response = await http.PostAsync(Chat, Json(Body(Chat, b => b["tools"] = JsonNode.Parse(ChatTools))));

        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement root = json.RootElement;
        Assert.Equal("hello there", root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal((11, 7, 18), (
            root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            root.GetProperty("usage").GetProperty("completion_tokens").GetInt32(),
            root.GetProperty("usage").GetProperty("total_tokens").GetInt32()));
    }

    [Fact]
    public async Task Server_DisposeAsync_StopsListening()
    {
        FakeOpenAIServer server = await FakeOpenAIServer.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using (HttpResponseMessage before = await http.PostAsync(Chat, Json(Body(Chat))))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await server.DisposeAsync();

        using var fresh = new HttpClient { BaseAddress = server.BaseAddress };
        Exception? error = await Record.ExceptionAsync(() => fresh.PostAsync(Chat, Json(Body(Chat))));
        // Refused, or (rarely) answered by another test's server that was given the freed port: never by this one.
        Assert.True(error is HttpRequestException || error is null, $"unexpected {error}");
        Assert.Single(server.Requests);
    }

    // ---------------------------------------------------------------- helpers

    private const string ChatTools = """
        [{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}},
         {"type":"function","function":{"name":"other","parameters":{"type":"object","properties":{}}}}]
        """;

    private const string ResponsesTools = """
        [{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{}}},
         {"type":"function","name":"other","parameters":{"type":"object","properties":{}}}]
        """;

    /// <summary>A minimal valid body for the API at <paramref name="path"/>, then changed by <paramref name="change"/>.</summary>
    private static string Body(string path, Action<JsonObject>? change = null)
    {
        JsonObject body = path == Chat
            ? new JsonObject { ["model"] = "gpt-4o-mini", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }) }
            : new JsonObject { ["model"] = "gpt-4o-mini", ["input"] = "hi" };
        change?.Invoke(body);
        return body.ToJsonString();
    }

    private static JsonObject Object(Dictionary<string, string> pairs)
    {
        var result = new JsonObject();
        foreach (KeyValuePair<string, string> pair in pairs)
        {
            result[pair.Key] = pair.Value;
        }

        return result;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static HttpRequestMessage AuthRequest(string? authorization, string? apiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Chat) { Content = Json(Body(Chat)) };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        if (apiKey is not null)
        {
            request.Headers.TryAddWithoutValidation("api-key", apiKey);
        }

        return request;
    }

    private async Task<RecordedRequest> AssertRejectedAsync(string path, string body, string? expectedParam, string? expectedMessage = null)
    {
        using HttpResponseMessage response = await _http.PostAsync(path, Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement error = Assert.Single(json.RootElement.EnumerateObject(), p => p.Name == "error").Value;
        string? message = error.GetProperty("message").GetString();
        Assert.False(string.IsNullOrWhiteSpace(message));
        if (expectedMessage is not null)
        {
            Assert.Equal(expectedMessage, message);
        }

        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        JsonElement param = error.GetProperty("param");
        if (expectedParam is null)
        {
            Assert.Equal(JsonValueKind.Null, param.ValueKind);
        }
        else
        {
            Assert.Equal(expectedParam, param.GetString());
        }

        Assert.Equal(JsonValueKind.Null, error.GetProperty("code").ValueKind);

        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(400, recorded.StatusCode);
        Assert.Equal(message, recorded.Error);
        Assert.Equal(expectedParam, recorded.ErrorParam);
        Assert.Equal(body, recorded.Body);
        Assert.Equal(path == Chat ? OpenAIApi.ChatCompletions : OpenAIApi.Responses, recorded.Api);
        return recorded;
    }

    private async Task<RecordedRequest> AssertAcceptedAsync(string path, string body, Action<JsonElement>? assertAnswer = null)
    {
        using HttpResponseMessage response = await _http.PostAsync(path, Json(body));
        string text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        using JsonDocument json = JsonDocument.Parse(text);
        Assert.True(
            !json.RootElement.TryGetProperty("error", out JsonElement error) || error.ValueKind == JsonValueKind.Null,
            "The answer carries an error.");
        assertAnswer?.Invoke(json.RootElement);

        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(200, recorded.StatusCode);
        Assert.Null(recorded.Error);
        return recorded;
    }

    /// <summary>Posts a streaming request and returns the <c>data:</c> payloads; checks <c>event:</c> names match <c>type</c>.</summary>
    private async Task<(List<string> Data, RecordedRequest Recorded)> PostStreamAsync(string path, string body)
    {
        using HttpResponseMessage response = await _http.PostAsync(path, Json(body));
        string text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var data = new List<string>();
        foreach (string block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string[] lines = block.Split('\n');
            string payload = Assert.Single(lines, l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..];
            string? eventName = lines.FirstOrDefault(l => l.StartsWith("event: ", StringComparison.Ordinal))?["event: ".Length..];
            if (eventName is not null)
            {
                Assert.Equal(eventName, JsonDocument.Parse(payload).RootElement.GetProperty("type").GetString());
            }

            data.Add(payload);
        }

        RecordedRequest recorded = Assert.Single(_server.Requests);
        Assert.Equal(200, recorded.StatusCode);
        return (data, recorded);
    }
}
