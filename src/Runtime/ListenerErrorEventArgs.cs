namespace ClusterSharing;

/// <summary>Data of <see cref="ClusterClient{T}.ListenerError"/>.</summary>
/// <param name="member">The contract member whose listener failed; null when the whole channel fell behind.</param>
/// <param name="exception">What the listener threw, the error that ended the subscription, or the overflow.</param>
public sealed class ListenerErrorEventArgs(string? member, Exception exception) : EventArgs
{
    /// <summary>The subscribe or event member whose listener failed; null for a channel-wide overflow.</summary>
    public string? Member { get; } = member;

    /// <summary>The exception.</summary>
    public Exception Exception { get; } = exception;

    /// <inheritdoc/>
    public override string ToString() => $"{Member ?? "(channel)"}: {Exception.GetType().Name}: {Exception.Message}";
}
