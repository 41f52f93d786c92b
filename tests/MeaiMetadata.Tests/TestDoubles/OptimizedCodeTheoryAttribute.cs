using System.Diagnostics;
using System.Reflection;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>A theory about the bytes optimized code allocates: skipped, saying why, when the library was built without
/// optimizations (<c>dotnet test</c> in Debug), whose code does not stack-allocate. CI runs it in Release.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class OptimizedCodeTheoryAttribute : TheoryAttribute
{
    public OptimizedCodeTheoryAttribute()
    {
        if (typeof(DifyMetadataChatClient).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
        {
            Skip = "measures optimized code: run it with dotnet test -c Release (as CI does)";
        }
    }
}
