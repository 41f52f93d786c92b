using System.Text.Json.Serialization;

namespace MeaiMetadata.AspNetCore.Tests.TestDoubles;

/// <summary>A polymorphic base type: ASP.NET Core writes its <c>$type</c> discriminator when a handler declares it.</summary>
[JsonPolymorphic]
[JsonDerivedType(typeof(Dog), "dog")]
public class Animal
{
    public string Name { get; set; } = "";
}

public sealed class Dog : Animal
{
    public bool Barks { get; set; }
}

public sealed record Todo(int Id, string Title);

/// <summary>The only JSON metadata of an app that uses source generation alone (trimmed, AOT, slim builder).</summary>
[JsonSerializable(typeof(IEnumerable<Todo>))]
[JsonSerializable(typeof(IAsyncEnumerable<Todo>))]
[JsonSerializable(typeof(Todo))]
public sealed partial class TodoJsonContext : JsonSerializerContext;
