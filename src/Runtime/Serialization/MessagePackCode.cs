namespace ClusterSharing.Serialization;

/// <summary>MessagePack format bytes (see the MessagePack specification).</summary>
public static class MessagePackCode
{
#pragma warning disable CS1591 // The names are the specification's.
    public const byte MinFixInt = 0x00, MaxFixInt = 0x7f;
    public const byte MinFixMap = 0x80, MaxFixMap = 0x8f;
    public const byte MinFixArray = 0x90, MaxFixArray = 0x9f;
    public const byte MinFixStr = 0xa0, MaxFixStr = 0xbf;
    public const byte Nil = 0xc0, NeverUsed = 0xc1, False = 0xc2, True = 0xc3;
    public const byte Bin8 = 0xc4, Bin16 = 0xc5, Bin32 = 0xc6;
    public const byte Ext8 = 0xc7, Ext16 = 0xc8, Ext32 = 0xc9;
    public const byte Float32 = 0xca, Float64 = 0xcb;
    public const byte UInt8 = 0xcc, UInt16 = 0xcd, UInt32 = 0xce, UInt64 = 0xcf;
    public const byte Int8 = 0xd0, Int16 = 0xd1, Int32 = 0xd2, Int64 = 0xd3;
    public const byte FixExt1 = 0xd4, FixExt2 = 0xd5, FixExt4 = 0xd6, FixExt8 = 0xd7, FixExt16 = 0xd8;
    public const byte Str8 = 0xd9, Str16 = 0xda, Str32 = 0xdb;
    public const byte Array16 = 0xdc, Array32 = 0xdd, Map16 = 0xde, Map32 = 0xdf;
    public const byte MinNegativeFixInt = 0xe0, MaxNegativeFixInt = 0xff;
#pragma warning restore CS1591

    /// <summary>The extension type of the timestamp extension.</summary>
    public const sbyte TimestampExtensionType = -1;
}

/// <summary>The kind of the next MessagePack value.</summary>
public enum MessagePackType
{
    /// <summary>Not a valid format byte (0xc1).</summary>
    Unknown,
    /// <summary>Any integer format.</summary>
    Integer,
    /// <summary>nil.</summary>
    Nil,
    /// <summary>true or false.</summary>
    Boolean,
    /// <summary>float32 or float64.</summary>
    Float,
    /// <summary>Any string format.</summary>
    String,
    /// <summary>Any bin format.</summary>
    Binary,
    /// <summary>Any array format.</summary>
    Array,
    /// <summary>Any map format.</summary>
    Map,
    /// <summary>Any ext or fixext format.</summary>
    Extension,
}

/// <summary>Thrown when bytes are not valid MessagePack, are not what the reader asked for, or exceed a limit.</summary>
public sealed class MessagePackSerializationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MessagePackSerializationException(string message) : base(message) { }

    /// <summary>Creates the exception with a cause.</summary>
    public MessagePackSerializationException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The header of an ext value.</summary>
/// <param name="TypeCode">The application-defined (or, when negative, predefined) type code.</param>
/// <param name="Length">The length of the data that follows.</param>
public readonly record struct ExtensionHeader(sbyte TypeCode, uint Length);
