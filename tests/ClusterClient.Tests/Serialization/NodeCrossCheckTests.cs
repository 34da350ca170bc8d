using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json.Nodes;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>
/// Installs @msgpack/msgpack (pinned) once per machine into a temp directory and runs tests/node/crosscheck.mjs there.
/// Missing Node is a failure with instructions, never a silent pass.
/// </summary>
public sealed class NodeMsgpack
{
    public const string PackageVersion = "3.1.3";

    public string? Problem { get; }
    public string WorkDirectory { get; }

    public NodeMsgpack()
    {
        WorkDirectory = Path.Combine(Path.GetTempPath(), $"clusterclient-msgpack-{PackageVersion}");
        try
        {
            Directory.CreateDirectory(WorkDirectory);
            var (code, output) = Run("node", "--version", WorkDirectory, TimeSpan.FromSeconds(30));
            if (code != 0) { Problem = $"`node --version` failed ({code}): {output}"; return; }
            var installed = Path.Combine(WorkDirectory, "node_modules", "@msgpack", "msgpack", "package.json");
            if (!File.Exists(installed) || !File.ReadAllText(installed).Contains($"\"version\": \"{PackageVersion}\"", StringComparison.Ordinal))
            {
                (code, output) = Run("npm", $"install --no-audit --no-fund --no-save --prefix \"{WorkDirectory}\" @msgpack/msgpack@{PackageVersion}", WorkDirectory, TimeSpan.FromMinutes(3));
                if (code != 0) { Problem = $"`npm install @msgpack/msgpack@{PackageVersion}` failed ({code}): {output}"; return; }
            }
            // The script resolves the package from its own directory, so it runs from a copy next to node_modules.
            File.Copy(ScriptSource(), Path.Combine(WorkDirectory, "crosscheck.mjs"), overwrite: true);
        }
        catch (Win32Exception e)
        {
            Problem = $"Node.js is required for the MessagePack cross-check but could not be started ({e.Message}). " +
                      "Install Node 20 or later with npm and make sure `node` and `npm` are on PATH.";
        }
    }

    public void EnsureAvailable()
    {
        if (Problem is not null) Assert.Fail(Problem);
    }

    /// <summary>Runs the script; returns its stdout/stderr on success, fails the test otherwise.</summary>
    public void RunScript(params string[] arguments)
    {
        EnsureAvailable();
        var (code, output) = Run("node", "crosscheck.mjs " + string.Join(' ', arguments.Select(a => $"\"{a}\"")), WorkDirectory, TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"node crosscheck.mjs {string.Join(' ', arguments)} exited with {code}: {output}");
    }

    private static string ScriptSource()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "node", "crosscheck.mjs");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("tests/node/crosscheck.mjs was not found above " + AppContext.BaseDirectory);
    }

    private static (int ExitCode, string Output) Run(string file, string arguments, string directory, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info) ?? throw new Win32Exception($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}");
        }
        process.WaitForExit();
        return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
    }
}

public class NodeCrossCheckTests(NodeMsgpack node) : IClassFixture<NodeMsgpack>
{
    private static IEnumerable<object?> Corpus()
    {
        yield return null;
        yield return true;
        yield return false;
        foreach (long v in new[] { 0L, 127, 128, 255, 256, 65535, 65536, uint.MaxValue, uint.MaxValue + 1L, long.MaxValue,
                     -1, -32, -33, -128, -129, short.MinValue, short.MinValue - 1, int.MinValue, int.MinValue - 1L, long.MinValue })
            yield return v;
        yield return ulong.MaxValue;
        foreach (float f in new[] { 1.5f, float.NaN, float.PositiveInfinity, float.Epsilon, -0.0f, 16777216f }) yield return f;
        foreach (double d in new[] { -0.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, 0.1, 1e300, 3.0, 9007199254740993.0 })
            yield return d;
        foreach (int n in new[] { 0, 31, 32, 255, 256, 65535, 65536 }) yield return new string('s', n);
        yield return "héllo wörld ✓ 日本語 🎉🚀 \u0000 \uffff";
        yield return string.Concat(Enumerable.Repeat("日本🎉", 30_000));
        foreach (int n in new[] { 0, 1, 255, 256, 65535, 65536 }) yield return Enumerable.Range(0, n).Select(i => (byte)(i * 31)).ToArray();
        foreach (int n in new[] { 0, 15, 16, 65535, 65536 }) yield return Enumerable.Range(0, n).Select(i => (object?)(long)(i % 100)).ToArray();
        foreach (int n in new[] { 0, 15, 16, 100_000 })
            yield return new MapValue(Enumerable.Range(0, n).Select(i => new KeyValuePair<object?, object?>("k" + i, (long)i)).ToList());
        yield return new MapValue([new("ключ", "значение"), new("鍵", new object?[] { 1L, new MapValue([new("nested", true)]) }), new("", null)]);
        foreach (int n in new[] { 1, 2, 4, 8, 16, 0, 3, 255, 256, 65535, 65536 })
            yield return new ExtValue(7, Enumerable.Range(0, n).Select(i => (byte)i).ToArray());
        yield return new ExtValue(0, [1]);
        yield return new ExtValue(127, [1, 2, 3]);
        yield return new ExtValue(-5, [9]);
        foreach (var (s, ns) in new[] { (0L, 0u), (4294967295L, 0u), (1L, 1u), (17179869183L, 999999999u), (17179869184L, 0u), (-1L, 0u), (-1L, 999999999u), (-62135596800L, 0u) })
            yield return new TimestampValue(s, ns);
        yield return DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc);
        yield return DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc);
        yield return new DateTime(1900, 6, 15, 12, 0, 0, DateTimeKind.Utc).AddTicks(1234567);
        yield return new DateTime(3000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        object? deep = "bottom";
        for (int i = 0; i < 31; i++) deep = new object?[] { deep };
        yield return deep;
    }

    [Fact]
    public void Node_decodes_what_CSharp_encodes()
    {
        node.EnsureAvailable();
        var values = Corpus().ToList();
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        foreach (var value in values) WriteValue(ref writer, value);
        writer.Flush();
        string dataPath = Path.Combine(node.WorkDirectory, $"cs-{Guid.NewGuid():n}.msgpack");
        string jsonPath = Path.ChangeExtension(dataPath, ".json");
        try
        {
            File.WriteAllBytes(dataPath, buffer.WrittenSpan.ToArray());
            node.RunScript("decode", dataPath, jsonPath);
            var actual = JsonNode.Parse(File.ReadAllText(jsonPath))!.AsArray();
            AssertSameDescriptions(values.Select(Describe).ToList(), actual);
        }
        finally
        {
            File.Delete(dataPath);
            File.Delete(jsonPath);
        }
    }

    [Fact]
    public void CSharp_decodes_what_Node_encodes()
    {
        node.EnsureAvailable();
        string dataPath = Path.Combine(node.WorkDirectory, $"js-{Guid.NewGuid():n}.msgpack");
        string jsonPath = Path.ChangeExtension(dataPath, ".json");
        string typedPath = Path.ChangeExtension(dataPath, ".typed");
        try
        {
            node.RunScript("encode", dataPath, jsonPath, typedPath);
            var expected = JsonNode.Parse(File.ReadAllText(jsonPath))!.AsArray();
            var bytes = File.ReadAllBytes(dataPath);
            var decoded = new List<JsonNode?>();
            var reader = new MessagePackReader(bytes);
            while (!reader.End) decoded.Add(Describe(ReadValue(ref reader)));
            AssertSameDescriptions(decoded, expected);

            // Typed reads through MessagePack-CSharp's standard formatters, including numbers Node wrote as int64/uint64/uint32.
            var options = MessagePackSerializerOptions.Standard;
            T Read<T>(ref MessagePackReader r) => StandardResolver.Instance.GetFormatterWithVerify<T>().Deserialize(ref r, options);
            reader = new MessagePackReader(File.ReadAllBytes(typedPath));
            Assert.Equal(1, Read<int>(ref reader));
            Assert.Equal(-1, Read<short>(ref reader));
            Assert.Equal(9007199254740993L, Read<long>(ref reader));
            Assert.Equal("héllo", Read<string>(ref reader));
            Assert.Equal(new DateTime(2020, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), Read<DateTime>(ref reader));
            Assert.Equal([1, 2, 3], Read<List<int>>(ref reader));
            var map = Read<Dictionary<string, int>>(ref reader);
            Assert.Equal((1, 2), (map["a"], map["b"]));
            Assert.Equal([1, 2, 3], Read<byte[]>(ref reader));
            Assert.Equal(2.5, Read<double>(ref reader));
            // With useBigInt64, @msgpack/msgpack writes a JavaScript number above 2^32 as float64 (bigints are the
            // exact path). Integer readers do not accept floats, so such a field is read as a double.
            Assert.Equal(MessagePackCode.Float64, reader.NextCode);
            var copy = reader;
            try { Read<ulong>(ref copy); Assert.Fail("an integer reader accepted a float"); }
            catch (MessagePackSerializationException) { }
            Assert.Equal(4294967296.0, Read<double>(ref reader));
            Assert.True(reader.End);
        }
        finally
        {
            File.Delete(dataPath);
            File.Delete(jsonPath);
            File.Delete(typedPath);
        }
    }

    private static void AssertSameDescriptions(IReadOnlyList<JsonNode?> expected, JsonArray actual)
    {
        Assert.True(expected.Count == actual.Count, $"expected {expected.Count} values, got {actual.Count}");
        for (int i = 0; i < expected.Count; i++)
        {
            string e = Canonical(expected[i]), a = Canonical(actual[i]);
            if (e != a)
                Assert.Fail($"value {i} differs:\n expected {Shorten(e)}\n actual   {Shorten(a)}");
        }
    }

    private static string Shorten(string s) => s.Length <= 400 ? s : s[..400] + $"... ({s.Length} chars)";
}
