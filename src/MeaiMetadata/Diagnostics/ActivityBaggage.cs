using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace MeaiMetadata.Diagnostics;

/// <summary>Reads one W3C Baggage item of an <see cref="Activity"/> and its parents, as <see cref="Activity.GetBaggageItem"/>
/// does, without allocating.</summary>
/// <remarks>
/// <para>
/// <see cref="Activity.GetBaggageItem"/> enumerates <see cref="Activity.Baggage"/>, whose iterator is allocated (64 B) whenever
/// the chain carries any baggage, and .NET has no public API that reads one item without it. A request without an app id
/// reads baggage on every call (<see cref="DifyMetadataOptions.AppIdFromBaggage"/>, on by default), so that iterator would be
/// the only allocation of the idle path in a service whose incoming requests carry baggage.
/// </para>
/// <para>
/// This reader walks the same list the iterator walks (each activity's baggage nodes, newest first, then its parent's), through
/// three accessors compiled once from the runtime's own fields. It is used only when it can be built and, once built, agrees
/// with <see cref="Activity.GetBaggageItem"/> on probe activities (duplicates, removals, a <see langword="null"/>
/// value); otherwise (another runtime's layout, no dynamic code under Native AOT) every read goes through
/// <see cref="Activity.GetBaggageItem"/>, and only the 64 B come back. Reads take no lock, as the iterator takes none.
/// </para>
/// </remarks>
internal static class ActivityBaggage
{
    /// <summary>Gets a value indicating whether reads allocate nothing on this runtime (the compiled reader is in use).</summary>
    public static bool IsAllocationFree => Reader.Instance is not null;

    /// <summary>Returns the value of the first baggage item named <paramref name="key"/> of <paramref name="activity"/> or its
    /// parents (<see cref="Activity.GetBaggageItem"/>'s answer), or <see langword="null"/>.</summary>
    public static string? Find(Activity? activity, string key) =>
        activity is null ? null :
        Reader.Instance is { } reader ? reader.Find(activity, key) :
        activity.GetBaggageItem(key);

    /// <summary>The compiled accessors: built on first use, so a layer that never reads baggage never builds them.</summary>
    internal sealed class Reader
    {
        private readonly Func<Activity, object?> _firstNode;
        private readonly Func<object, object?> _next;
        private readonly Func<object, KeyValuePair<string, string?>> _item;

        internal Reader(Func<Activity, object?> firstNode, Func<object, object?> next, Func<object, KeyValuePair<string, string?>> item)
        {
            _firstNode = firstNode;
            _next = next;
            _item = item;
        }

        /// <summary>Gets the reader, or <see langword="null"/> when this runtime's <see cref="Activity"/> cannot be read this way.</summary>
        public static Reader? Instance { get; } = TryCreate();

        public string? Find(Activity activity, string key)
        {
            for (Activity? current = activity; current is not null; current = current.Parent)
            {
                for (object? node = _firstNode(current); node is not null; node = _next(node))
                {
                    KeyValuePair<string, string?> item = _item(node);
                    if (string.Equals(item.Key, key, StringComparison.Ordinal))
                    {
                        return item.Value;
                    }
                }
            }

            return null;
        }

        [UnconditionalSuppressMessage("Trimming", "IL2075", Justification =
            "The fields read are used by Activity itself, so trimming keeps them; when one is missing the reader is not built and GetBaggageItem is used.")]
        [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Only built when dynamic code is supported (checked first).")]
        internal static Reader? TryCreate()
        {
            if (!RuntimeFeature.IsDynamicCodeSupported)
            {
                return null;
            }

            try
            {
                const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
                FieldInfo? baggage = typeof(Activity).GetField("_baggage", Instance);
                Type? listType = baggage?.FieldType;
                MemberInfo? first = (MemberInfo?)listType?.GetProperty("First", Instance) ?? listType?.GetField("_first", Instance);
                Type? nodeType = first switch { PropertyInfo p => p.PropertyType, FieldInfo f => f.FieldType, _ => null };
                FieldInfo? next = nodeType?.GetField("Next", Instance);
                FieldInfo? value = nodeType?.GetField("Value", Instance);
                if (baggage is null || first is null || nodeType is null || next?.FieldType != nodeType ||
                    value?.FieldType != typeof(KeyValuePair<string, string?>))
                {
                    return null;
                }

                // activity => activity._baggage == null ? null : (object)activity._baggage.First
                ParameterExpression activity = Expression.Parameter(typeof(Activity), "activity");
                MemberExpression list = Expression.Field(activity, baggage);
                Expression firstNode = Expression.Condition(
                    Expression.Equal(list, Expression.Constant(null, list.Type)),
                    Expression.Constant(null, typeof(object)),
                    Expression.Convert(Expression.MakeMemberAccess(list, first), typeof(object)));

                // node => (object)((DiagNode<...>)node).Next, and node => ((DiagNode<...>)node).Value
                ParameterExpression node = Expression.Parameter(typeof(object), "node");
                UnaryExpression typedNode = Expression.Convert(node, nodeType);

                var reader = new Reader(
                    Expression.Lambda<Func<Activity, object?>>(firstNode, activity).Compile(),
                    Expression.Lambda<Func<object, object?>>(Expression.Convert(Expression.Field(typedNode, next), typeof(object)), node).Compile(),
                    Expression.Lambda<Func<object, KeyValuePair<string, string?>>>(Expression.Field(typedNode, value), node).Compile());
                return reader.AgreesWithGetBaggageItem() ? reader : null;
            }
#pragma warning disable CA1031 // Any failure to build the reader means the public API is used: never an error.
            catch (Exception)
#pragma warning restore CA1031
            {
                return null;
            }
        }

        /// <summary>Returns whether this reader answers as <see cref="Activity.GetBaggageItem"/> on probe activities: a key added
        /// twice (the newest wins), a removed key, a <see langword="null"/> value, a missing key, a key in another case. Parents
        /// are walked through the public <see cref="Activity.Parent"/>; the probes are never started, so nothing current changes.</summary>
        internal bool AgreesWithGetBaggageItem()
        {
            var empty = new Activity("probe-empty");
            var one = new Activity("probe-one");
            _ = one.AddBaggage("a", "1");
            var many = new Activity("probe-many");
            _ = many.AddBaggage("a", "first").AddBaggage("b", "b").AddBaggage("a", "second").AddBaggage("n", null)
                .SetBaggage("x", "removed").SetBaggage("x", null).SetBaggage("b", "replaced").AddBaggage("z", "last");
            string[] keys = ["a", "b", "n", "x", "z", "missing", "A"];
            foreach (Activity probe in new[] { empty, one, many })
            {
                foreach (string key in keys)
                {
                    if (!string.Equals(Find(probe, key), probe.GetBaggageItem(key), StringComparison.Ordinal))
                    {
                        return false;
                    }
                }
            }

            return true;
        }
    }
}
