using System.Buffers;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing.Generators.Tests.Support;

/// <summary>Readers and options as the runtime builds them: validated against the decoding limits, the contract's resolver first.</summary>
internal static class Wire
{
    public static MessagePackSerializerOptions Options<T>(ClusterContract<T> contract) where T : class =>
        WireSerializer.CreateOptions(contract.Resolver, null, DecodingLimits.UntrustedData);

    /// <summary>A reader over <paramref name="bytes"/> once the runtime's validator accepted them.</summary>
    public static MessagePackReader Reader(byte[] bytes, DecodingLimits? limits = null) =>
        WireSerializer.CreateReader(new ReadOnlySequence<byte>(bytes), limits ?? DecodingLimits.UntrustedData);
}
