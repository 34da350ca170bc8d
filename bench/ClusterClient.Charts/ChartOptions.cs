using System.CommandLine;

namespace ClusterSharing.Charts;

/// <summary>The tools' chart options: <c>--charts DIR</c> (default docs/images/ of the repository) and <c>--no-charts</c>.</summary>
public sealed class ChartOptions
{
    /// <param name="whatIsDrawn">The charts the tool draws, for --help.</param>
    public ChartOptions(string whatIsDrawn)
    {
        Folder = new Option<string>("--charts")
        {
            Description = $"Folder for the PNG charts ({whatIsDrawn}).",
            HelpName = "DIR",
            DefaultValueFactory = _ => ChartFolder.DefaultDirectory(),
        };
        None = new Option<bool>("--no-charts") { Description = "Draw no charts." };
    }

    /// <summary><c>--charts DIR</c>.</summary>
    public Option<string> Folder { get; }

    /// <summary><c>--no-charts</c>.</summary>
    public Option<bool> None { get; }

    /// <summary>Adds both options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Add(Folder);
        command.Add(None);
    }

    /// <summary>The folder to draw into, or null for no charts.</summary>
    public string? DirectoryFrom(ParseResult result) => result.GetValue(None) ? null : result.GetValue(Folder);
}
