using System.Text;
using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using MeaiMetadata.Budgets;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// Budgets (issue 21): what estimating a request's input costs before it is sent, for a prompt of <see cref="PromptKB"/> KB
/// of English-like ASCII text in one user message. <see cref="ByteBound"/> is the library's default (the UTF-8 byte count:
/// every OpenAI token covers at least one byte); <see cref="O200kTokenizer"/> sets <c>Budgets.CountTokens</c> to
/// Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> for gpt-4o-mini (o200k_base, created once and cached, as the
/// docs advise). The setup checks that the byte bound is at least the tokenizer's count and prints both.
/// </summary>
[MemoryDiagnoser]
public class TokenEstimateBenchmark
{
    private const string Model = "gpt-4o-mini";
    private static readonly Lazy<TiktokenTokenizer> s_tokenizer = new(() => TiktokenTokenizer.CreateForModel(Model));
    private readonly Func<string, string, int?> _countTokens = static (_, text) => s_tokenizer.Value.CountTokens(text);
    private ChatMessage[] _messages = null!;

    [Params(1, 100)]
    public int PromptKB { get; set; }

    /// <summary>A deterministic English-like prompt of exactly <paramref name="bytes"/> ASCII bytes (words drawn from a
    /// fixed list with a fixed seed, so the tokenizer's per-word cache does not see one word over and over).</summary>
    public static string Prompt(int bytes)
    {
        string[] words =
        [
            "the", "budget", "of", "each", "app", "is", "kept", "per", "day", "request", "tokens", "model", "cost", "reserve",
            "settle", "before", "after", "store", "limit", "spend", "customer", "invoice", "order", "shipping", "address",
            "please", "summarize", "following", "document", "quarterly", "revenue", "increased", "percent", "compared",
            "previous", "year", "while", "operating", "expenses", "remained", "stable", "2026", "42", "Dify", "OpenAI",
        ];
        var random = new Random(21);
        var text = new StringBuilder(bytes + 16);
        while (text.Length < bytes)
        {
            _ = text.Append(words[random.Next(words.Length)]).Append(random.Next(12) == 0 ? ". " : " ");
        }

        return text.ToString(0, bytes);
    }

    [GlobalSetup]
    public void Setup()
    {
        _messages = [new(ChatRole.User, Prompt(PromptKB * 1024))];
        long bound = ByteBound();
        long counted = O200kTokenizer();
        Console.WriteLine($"// {PromptKB} KB prompt: byte bound {bound:N0} tokens, o200k_base {counted:N0} tokens (+ per-message overhead in both)");
        if (counted > bound || counted <= DifyBudgetEstimate.PerRequest + DifyBudgetEstimate.PerMessage)
        {
            throw Check.Fail($"{nameof(TokenEstimateBenchmark)}({PromptKB} KB): the tokenizer counted {counted} tokens, the byte bound {bound}.");
        }
    }

    [Benchmark(Baseline = true)]
    public long ByteBound() => DifyBudgetEstimate.InputTokens(_messages, null, Model, null);

    [Benchmark]
    public long O200kTokenizer() => DifyBudgetEstimate.InputTokens(_messages, null, Model, _countTokens);
}
