using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>Assertions on the TestHost's JSON replies, with the raw reply in every failure message.</summary>
public static class Replies
{
    /// <summary>Asserts <c>"ok":true</c> and returns the value.</summary>
    public static JsonElement Value(JsonElement reply)
    {
        Assert.True(reply.GetProperty("ok").GetBoolean(), $"Expected success, got {reply.GetRawText()}");
        return reply.GetProperty("value");
    }

    /// <summary>Asserts <c>"ok":false</c> with the given error type name and returns the reply.</summary>
    public static JsonElement Error(JsonElement reply, params string[] errorTypes)
    {
        Assert.False(reply.GetProperty("ok").GetBoolean(), $"Expected a failure, got {reply.GetRawText()}");
        string error = reply.GetProperty("error").GetString()!;
        Assert.True(errorTypes.Contains(error), $"Expected {string.Join(" or ", errorTypes)}, got {reply.GetRawText()}");
        return reply;
    }

    /// <summary>The string property <paramref name="name"/>, or "" when absent.</summary>
    public static string Text(JsonElement line, string name) =>
        line.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "";
}
