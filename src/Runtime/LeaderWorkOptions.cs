namespace ClusterSharing;

/// <summary>How <see cref="ClusterClient{T}.WhenLeader"/> runs its work.</summary>
public sealed class LeaderWorkOptions
{
    /// <summary>Names the work in log events 1030-1033; defaults to "leader work".</summary>
    public string? Name { get; set; }

    /// <summary>
    /// How long the end of a term (and disposing the registration) waits for a cancelled run to return. A run that
    /// takes longer is logged (event 1031); the next term's run still waits for it, so two runs never overlap. Default 10 s.
    /// </summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When true, a run that throws while this process still leads is started again after <see cref="RestartDelay"/>,
    /// doubled after each further failure in the same term (at most 30 s). When false (the default), a run that throws
    /// is logged (event 1030) and runs again only when this process starts its next term.
    /// </summary>
    public bool RestartOnFailure { get; set; }

    /// <summary>The first delay before a failed run is restarted with <see cref="RestartOnFailure"/>. Default 1 s.</summary>
    public TimeSpan RestartDelay { get; set; } = TimeSpan.FromSeconds(1);

    internal void Validate()
    {
        if (GracePeriod <= TimeSpan.Zero || GracePeriod > TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException(nameof(GracePeriod), GracePeriod, $"LeaderWorkOptions.GracePeriod must be greater than zero and at most one hour (was {GracePeriod}).");
        if (RestartDelay <= TimeSpan.Zero || RestartDelay > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(RestartDelay), RestartDelay, $"LeaderWorkOptions.RestartDelay must be greater than zero and at most one minute (was {RestartDelay}).");
    }

    internal LeaderWorkOptions Copy() => (LeaderWorkOptions)MemberwiseClone();
}
