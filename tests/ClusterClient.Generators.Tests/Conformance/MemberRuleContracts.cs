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

/// <summary>Listed first by Roslyn (first in the base list) but sorted last by canonical name.</summary>
public interface IZetaBase
{
    Task<int> ZetaAsync(int value);
    void ZetaFire(int value);
}

/// <summary>A base with a base of its own.</summary>
public interface IAlphaBase : IOmegaBase
{
    Task<string> AlphaAsync(string value);
    event EventHandler<int> AlphaChanged;
}

public interface IOmegaBase
{
    Task OmegaAsync();
}

/// <summary>Two direct bases, declared out of canonical order, and an indirect one.</summary>
[ClusterDelegate]
public interface ITwoBasesContract : IZetaBase, IAlphaBase
{
    Task<int> OwnAsync();
}

public sealed class TwoBasesService : ITwoBasesContract
{
    public event EventHandler<int>? AlphaChanged;

    public List<string> Calls { get; } = [];

    public Task<int> OwnAsync() => Record(nameof(OwnAsync), Task.FromResult(1));

    public Task<int> ZetaAsync(int value) => Record(nameof(ZetaAsync), Task.FromResult(value * 2));

    public void ZetaFire(int value)
    {
        lock (Calls) Calls.Add(nameof(ZetaFire) + ":" + value);
    }

    public Task<string> AlphaAsync(string value) => Record(nameof(AlphaAsync), Task.FromResult(value + "!"));

    public Task OmegaAsync() => Record(nameof(OmegaAsync), Task.CompletedTask);

    public void RaiseAlphaChanged(int value) => AlphaChanged?.Invoke(this, value);

    private TTask Record<TTask>(string name, TTask result)
    {
        lock (Calls) Calls.Add(name);
        return result;
    }
}
