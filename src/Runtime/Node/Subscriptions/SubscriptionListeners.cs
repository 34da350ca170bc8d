using System.Threading.Channels;
using ClusterSharing.Serialization;

namespace ClusterSharing.Node.Subscriptions;

/// <summary>One local consumer of a subscription: a listener delegate, an event handler or an async stream.</summary>
internal abstract class SubscriptionListener
{
    /// <summary>What removes it again (the delegate the user passed, or the stream itself).</summary>
    public abstract object Identity { get; }

    /// <summary>Joined, waiting for its turn in the delivery order.</summary>
    public volatile bool Pending;

    public volatile bool Removed;

    /// <summary>Each listener decodes its own copy. False when the listener cannot take more (it is removed then).</summary>
    public abstract bool Deliver(byte[] value);

    public virtual void Complete(Exception? error)
    {
    }

    protected static TValue Decode<TValue>(byte[] value, IMessagePackFormatter<TValue> formatter)
    {
        var reader = new MessagePackReader(value, MessagePackReaderOptions.UntrustedData);
        return formatter.Deserialize(ref reader);
    }
}

/// <summary>A listener-form subscription's <see cref="Action{T}"/>.</summary>
internal sealed class ActionListener<TValue>(Action<TValue> action, IMessagePackFormatter<TValue> formatter) : SubscriptionListener
{
    public override object Identity => action;

    public override bool Deliver(byte[] value)
    {
        action(Decode(value, formatter));
        return true;
    }
}

/// <summary>A handler of an <c>event EventHandler&lt;T&gt;</c> member, raised with the proxy as sender.</summary>
internal sealed class EventListener<TValue>(object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> formatter) : SubscriptionListener
{
    public override object Identity => handler;

    public override bool Deliver(byte[] value)
    {
        handler(sender, Decode(value, formatter));
        return true;
    }
}

/// <summary>One consumer of an <see cref="IAsyncEnumerable{T}"/> subscription, buffered up to <see cref="Capacity"/> values.</summary>
internal sealed class StreamListener<TValue>(IMessagePackFormatter<TValue> formatter) : SubscriptionListener
{
    /// <summary>Values buffered per consumer; a consumer further behind gets its stream ended with an error.</summary>
    public const int Capacity = 1024;

    private readonly Channel<TValue> _values = Channel.CreateBounded<TValue>(new BoundedChannelOptions(Capacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    public ChannelReader<TValue> Reader => _values.Reader;

    public override object Identity => this;

    public override bool Deliver(byte[] value)
    {
        if (_values.Writer.TryWrite(Decode(value, formatter))) return true;
        // Never dropped silently and never unbounded: a consumer this far behind loses its stream, with the reason.
        _values.Writer.TryComplete(new ClusterClientException(
            $"The async stream's consumer fell {Capacity} values behind; the stream was ended to bound memory. Consume faster or subscribe again."));
        return false;
    }

    public override void Complete(Exception? error) => _values.Writer.TryComplete(error);
}
