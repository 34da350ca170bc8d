using System.Text.Json;
using System.Text.Json.Serialization;

namespace ClusterSharing.Generators.Tests.Support;

/// <summary>Structural comparison of values whose types compare collections by reference (records holding lists).</summary>
public static class Structural
{
    private static readonly JsonSerializerOptions Options = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = false,
    };

    public static string Json<TValue>(TValue value) => JsonSerializer.Serialize(value, Options);

    public static void Equal<TValue>(TValue expected, TValue actual) => Assert.Equal(Json(expected), Json(actual));
}

/// <summary>Bounded waiting for something that happens on another thread (no timing assertions: only an upper bound).</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        for (int attempt = 0; attempt < 3000; attempt++)
        {
            if (condition()) return;
            if (DateTime.UtcNow > deadline) break;
            await Task.Delay(5);
        }
        Assert.Fail($"Timed out waiting until {what}.");
    }
}
