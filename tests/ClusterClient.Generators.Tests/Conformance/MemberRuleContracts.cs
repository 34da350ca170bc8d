namespace ClusterSharing.Generators.Tests.Conformance;

// Small contracts for member rules both paths must apply alike, beyond what IConformance covers.

/// <summary>A base interface that brings IDisposable along.</summary>
public interface IReadable : IDisposable
{
    Task<int> ReadAsync();
}

/// <summary>IDisposable declared by the contract itself.</summary>
[ClusterDelegate]
public interface IDisposableContract : IDisposable
{
    Task<int> GetAsync();
}

/// <summary>IDisposable inherited through a base interface, IAsyncDisposable declared.</summary>
[ClusterDelegate]
public interface IInheritedDisposalContract : IReadable, IAsyncDisposable
{
    Task<string> NameAsync();
}

/// <summary>A real client that counts how often it was disposed, synchronously or not.</summary>
public sealed class DisposalService : IDisposableContract, IInheritedDisposalContract
{
    private int _disposed;
    private int _disposedAsync;

    public int Disposed => Volatile.Read(ref _disposed);

    public int DisposedAsync => Volatile.Read(ref _disposedAsync);

    public Task<int> GetAsync() => Task.FromResult(Disposed + DisposedAsync);

    public Task<int> ReadAsync() => GetAsync();

    public Task<string> NameAsync() => Task.FromResult("disposal");

    public void Dispose() => Interlocked.Increment(ref _disposed);

    public ValueTask DisposeAsync()
    {
        Interlocked.Increment(ref _disposedAsync);
        return ValueTask.CompletedTask;
    }
}
