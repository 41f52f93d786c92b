using CsCheck;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>CsCheck generators for app ids, caller metadata and option combinations.</summary>
internal static class Generators
{
    /// <summary>One UTF-16 code unit or supplementary code point: printable ASCII, control chars, BMP, supplementary
    /// (a well-formed pair), lone high or low surrogates. Two lone halves in a row may happen to form a pair.</summary>
    public static readonly Gen<int> CodePoint = Gen.Frequency(
        (10, Gen.Int[0x20, 0x7E]),
        (2, Gen.Int[0x00, 0x1F]),
        (1, Gen.OneOf(0x7F, 0x85, 0x2028, 0x200B, 0xFEFF, '"', '\\', 0xFFFD, 0xFFFF)),
        (4, Gen.Int[0xA0, 0xD7FF]),
        (1, Gen.Int[0xE000, 0xFFFF]),
        (3, Gen.Int[0x10000, 0x10FFFF]),
        (2, Gen.Int[0xD800, 0xDBFF]),
        (2, Gen.Int[0xDC00, 0xDFFF]));

    private static readonly Gen<int> Surrogateish = Gen.Frequency(
        (3, Gen.Int[0x10000, 0x10FFFF]),
        (1, Gen.Int[0xD800, 0xDBFF]),
        (1, Gen.Int[0xDC00, 0xDFFF]),
        (1, CodePoint));

    /// <summary>Text of <paramref name="min"/> to <paramref name="max"/> code points drawn with the weights of
    /// <see cref="CodePoint"/>. Built from a generated seed rather than one generator call per char: long texts are cheap,
    /// and CsCheck still reproduces and shrinks (the length) from its own seed.</summary>
    public static Gen<string> Units(int min, int max) =>
        Gen.Select(Gen.Int[min, max], Gen.Int, (count, seed) => ToText(RandomCodePoints(count, seed)));

    private static int[] RandomCodePoints(int count, int seed)
    {
        var random = new Random(seed);
        int[] special = [0x7F, 0x85, 0x2028, 0x200B, 0xFEFF, '"', '\\', 0xFFFD, 0xFFFF];
        int[] codePoints = new int[count];
        for (int i = 0; i < count; i++)
        {
            // Weights as in CodePoint: 10 ASCII, 2 control, 1 special, 4 BMP, 1 private/specials, 3 supplementary, 2 high, 2 low.
            int pick = random.Next(25);
            codePoints[i] = pick switch
            {
                < 10 => random.Next(0x20, 0x7F),
                < 12 => random.Next(0x00, 0x20),
                < 13 => special[random.Next(special.Length)],
                < 17 => random.Next(0xA0, 0xD800),
                < 18 => random.Next(0xE000, 0x10000),
                < 21 => random.Next(0x10000, 0x110000),
                < 23 => random.Next(0xD800, 0xDC00),
                _ => random.Next(0xDC00, 0xE000),
            };
        }

        return codePoints;
    }

    private static string ToText(int[] codePoints)
    {
        int length = 0;
        foreach (int cp in codePoints)
        {
            length += cp > 0xFFFF ? 2 : 1;
        }

        return string.Create(length, codePoints, static (span, cps) =>
        {
            int at = 0;
            foreach (int cp in cps)
            {
                if (cp > 0xFFFF)
                {
                    span[at++] = (char)(0xD800 + ((cp - 0x10000) >> 10));
                    span[at++] = (char)(0xDC00 + ((cp - 0x10000) & 0x3FF));
                }
                else
                {
                    span[at++] = (char)cp;
                }
            }
        });
    }

    /// <summary>Text near a length limit, with pairs and lone surrogates placed around the cut.</summary>
    public static Gen<string> NearLimit(int limit) =>
        Gen.Select(Gen.Int[Math.Max(0, limit - 6), limit + 2], Gen.Char['a', 'z'], Surrogateish.Array[0, 4].Select(ToText), Units(0, 4),
            (n, filler, around, tail) => new string(filler, n) + around + tail);

    /// <summary>64 KB to 1 MB of text: random pieces at the front (where the cut happens), then a random chunk repeated.</summary>
    public static readonly Gen<string> Big =
        Gen.Select(Gen.Int[64 * 1024, 1024 * 1024], Units(1, 600), Units(32, 256),
            (length, head, chunk) => string.Create(Math.Max(length, head.Length), (head, chunk), static (span, parts) =>
            {
                parts.head.AsSpan().CopyTo(span);
                for (int at = parts.head.Length; at < span.Length; at += parts.chunk.Length)
                {
                    ReadOnlySpan<char> piece = parts.chunk.AsSpan(0, Math.Min(parts.chunk.Length, span.Length - at));
                    piece.CopyTo(span[at..]);
                }
            }));

    /// <summary>Any text: mostly short, often near 512, sometimes long, rarely 64 KB–1 MB (0.5%).</summary>
    public static readonly Gen<string> AnyText = Gen.Frequency(
        (8, Gen.Const(string.Empty)),
        (120, Units(1, 16)),
        (40, Units(17, 300)),
        (32, NearLimit(512)),
        (12, Units(300, 1200)),
        (1, Big));

    /// <summary>Text with no big ones, for places that are multiplied (20 pairs per case).</summary>
    public static readonly Gen<string> SmallText = Gen.Frequency(
        (2, Gen.Const(string.Empty)),
        (30, Units(1, 16)),
        (6, Units(17, 300)),
        (6, NearLimit(512)),
        (2, Units(513, 1200)));

    /// <summary>Caller keys: valid, empty, 64±, lone surrogates, the reserved names and look-alikes.</summary>
    public static readonly Gen<string> Key = Gen.Frequency(
        (1, Gen.Const(string.Empty)),
        (3, Gen.OneOf(Oracle.AppIdKey, Oracle.SourceKey)),
        (1, Gen.OneOf("DIFY_APP_ID", "dify_app_id ", "Dify_Source", "dify_app_id\0")),
        (20, Units(1, 20)),
        (4, NearLimit(64)),
        (1, SmallText),
        (1, Gen.Frequency((200, Units(1, 4)), (1, Big))));

    /// <summary>Caller values: any length, including empty, 512±, over the limit, rarely (0.05%) 64 KB–1 MB.</summary>
    public static readonly Gen<string> Value = Gen.Frequency((2000, SmallText), (1, Big));

    /// <summary>0–20 caller pairs in insertion order, distinct keys (the first occurrence wins).</summary>
    public static readonly Gen<List<KeyValuePair<string, string>>> CallerPairs =
        Gen.Frequency(
            (1, Gen.Select(Key, Value).Array[0, 4]),
            (2, Gen.Select(Key, Value).Array[0, 20]),
            (1, Gen.Select(Key, Value).Array[14, 20]))
        .Select(pairs => Distinct(pairs));

    /// <summary>Like <see cref="CallerPairs"/> but every list tries to spoof the reserved keys.</summary>
    public static readonly Gen<List<KeyValuePair<string, string>>> SpoofingPairs =
        Gen.Select(CallerPairs, Value, Value, Gen.Int[0, 20], Gen.Int[0, 20], (pairs, fakeId, fakeSource, i, j) =>
        {
            var list = pairs.Where(p => !Oracle.IsReserved(p.Key)).ToList();
            list.Insert(Math.Min(i, list.Count), new(Oracle.AppIdKey, fakeId));
            list.Insert(Math.Min(j, list.Count), new(Oracle.SourceKey, fakeSource));
            return list;
        });

    /// <summary>The source marker: null, empty, the default, or any valid text of up to 512 chars.</summary>
    public static readonly Gen<string?> Source = Gen.Frequency(
        (1, Gen.Const<string?>(() => null)),
        (1, Gen.Const<string?>(string.Empty)),
        (4, Gen.Const<string?>("dify")),
        (3, SmallText.Select(s => (string?)Oracle.Normalize(s, Oracle.MaxValueLength))));

    public static readonly Gen<ApMetadata> ApMetadataGen =
        Gen.Select(Gen.Enum<ApMetadataKind>(), CallerPairs, (kind, pairs) => new ApMetadata(kind, kind == ApMetadataKind.Json ? JsonSafe(pairs) : pairs));

    public static readonly Gen<MiddlewareCase> MiddlewareCase =
        Gen.Select(
            Gen.Select(
                Gen.Frequency((9, Gen.Const(true)), (1, Gen.Const(false))),
                Source,
                Gen.Enum<DifyStorePolicy>(),
                Gen.Bool,
                Gen.Frequency(
                    (6, Gen.Const(IdChannel.Session)),
                    (3, Gen.Const(IdChannel.Resolver)),
                    (1, Gen.Const(IdChannel.ResolverReturnsNull)),
                    (1, Gen.Const(IdChannel.ResolverReturnsEmpty)),
                    (1, Gen.Const(IdChannel.ResolverThrows)),
                    (1, Gen.Const(IdChannel.NoSession))),
                AnyText,
                Gen.Bool),
            Gen.Select(
                Gen.Enum<Tests.TestDoubles.StandInApi>(),
                Gen.Bool,
                Gen.Frequency((1, Gen.Const(true)), (12, Gen.Const(false))),
                Gen.Frequency((1, Gen.Const(FactoryKind.None)), (5, Gen.Const(FactoryKind.ReturnsOptions)), (1, Gen.Const(FactoryKind.ReturnsNull))),
                Gen.OneOf(Gen.Const<bool?>(() => null), Gen.Const<bool?>(true), Gen.Const<bool?>(false)),
                CallerPairs,
                Gen.Enum<ApStoreKind>(),
                Gen.Bool),
            ApMetadataGen,
            (config, request, ap) => new MiddlewareCase(
                Enabled: config.Item1,
                Source: config.Item2,
                Policy: config.Item3,
                AdditionalPropertiesEnabled: config.Item4,
                Channel: config.Item5,
                AppId: config.Item6,
                DecoyOuterSession: config.Item7,
                Api: request.Item1,
                Streaming: request.Item2,
                OptionsNull: request.Item3,
                Factory: request.Item4,
                RawStore: request.Item5,
                RawPairs: request.Item6,
                ApStore: request.Item7,
                ApStoreKeyUpperCase: request.Item8,
                ApMetadata: ap));

    private static List<KeyValuePair<string, string>> Distinct((string Key, string Value)[] pairs) => Distinct((IEnumerable<(string, string)>)pairs);

    private static List<KeyValuePair<string, string>> Distinct(IEnumerable<(string Key, string Value)> pairs)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<KeyValuePair<string, string>>();
        foreach ((string key, string value) in pairs)
        {
            if (seen.Add(key))
            {
                list.Add(new(key, value));
            }
        }

        return list;
    }

    /// <summary>Pairs a JSON document can carry without lone-surrogate escapes (those are a separate, known-bug property).</summary>
    private static List<KeyValuePair<string, string>> JsonSafe(List<KeyValuePair<string, string>> pairs) =>
        Distinct(pairs.Select(p => (Oracle.ReplaceLoneSurrogates(p.Key), Oracle.ReplaceLoneSurrogates(p.Value))));
}

/// <summary>Where the app id of a request comes from.</summary>
internal enum IdChannel
{
    Session,
    Resolver,
    ResolverReturnsNull,
    ResolverReturnsEmpty,
    ResolverThrows,
    NoSession,
}

/// <summary>What the caller's <c>RawRepresentationFactory</c> does.</summary>
internal enum FactoryKind
{
    None,
    ReturnsOptions,
    ReturnsNull,
}

/// <summary>What the caller put in <c>AdditionalProperties["store"]</c>.</summary>
internal enum ApStoreKind
{
    Absent,
    True,
    False,
    TrueString,
    FalseString,
    JsonTrue,
    JsonFalse,
    NotAFlag,
}

/// <summary>What the caller put in <c>AdditionalProperties["metadata"]</c>.</summary>
internal enum ApMetadataKind
{
    Absent,
    Null,
    StringDictionary,
    ObjectDictionary,
    ReadOnlyDictionary,
    Json,
    NotADictionary,
}

internal sealed record ApMetadata(ApMetadataKind Kind, List<KeyValuePair<string, string>> Pairs);

/// <summary>One generated request through the whole middleware.</summary>
internal sealed record MiddlewareCase(
    bool Enabled,
    string? Source,
    DifyStorePolicy Policy,
    bool AdditionalPropertiesEnabled,
    IdChannel Channel,
    string AppId,
    bool DecoyOuterSession,
    Tests.TestDoubles.StandInApi Api,
    bool Streaming,
    bool OptionsNull,
    FactoryKind Factory,
    bool? RawStore,
    List<KeyValuePair<string, string>> RawPairs,
    ApStoreKind ApStore,
    bool ApStoreKeyUpperCase,
    ApMetadata ApMetadata)
{
    public override string ToString() =>
        $"Enabled={Enabled} Source={Oracle.Describe(Source)} Policy={Policy} AP={AdditionalPropertiesEnabled} Channel={Channel} " +
        $"AppId={Oracle.Describe(AppId)} Decoy={DecoyOuterSession} Api={Api} Streaming={Streaming} OptionsNull={OptionsNull} " +
        $"Factory={Factory} RawStore={RawStore?.ToString() ?? "null"} RawPairs=[{string.Join(", ", RawPairs.Select(p => Oracle.Describe(p.Key) + "=" + Oracle.Describe(p.Value)))}] " +
        $"ApStore={ApStore}{(ApStoreKeyUpperCase ? "(STORE)" : "")} ApMetadata={ApMetadata.Kind}[{string.Join(", ", ApMetadata.Pairs.Select(p => Oracle.Describe(p.Key) + "=" + Oracle.Describe(p.Value)))}]";
}
