using System.CommandLine;

namespace ClusterSharing.ProcessHarness;

/// <summary>The tools' whole-number options: a default shown in --help, and a range checked at parse time.</summary>
public static class NumberOption
{
    /// <summary>An <c>--name N</c> option that must lie in <paramref name="minimum"/>..<paramref name="maximum"/>.</summary>
    public static Option<int> Create(string name, int defaultValue, string description, int minimum = 0, int maximum = int.MaxValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = "N" };
        option.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value < minimum || value > maximum)
                result.AddError(maximum == int.MaxValue ? $"{name} must be at least {minimum} (got {value})." : $"{name} must be {minimum}..{maximum} (got {value}).");
        });
        return option;
    }
}
