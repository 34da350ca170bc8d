using Microsoft.Extensions.Options;

namespace ClusterSharing.Hosting;

/// <summary>
/// Validates the named <see cref="ClusterClientOptions"/> of one registration with <see cref="ClusterClientOptions.Validate"/>,
/// turning its <see cref="ArgumentException"/> into a failure that names the registration and the configuration key.
/// </summary>
internal sealed class ClusterClientOptionsValidator(string name, string? configurationSection) : IValidateOptions<ClusterClientOptions>
{
    public ValidateOptionsResult Validate(string? name1, ClusterClientOptions options)
    {
        if (!string.Equals(name1, name, StringComparison.Ordinal)) return ValidateOptionsResult.Skip;
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail(Describe(ex));
        }
    }

    private string Describe(ArgumentException ex)
    {
        string message = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);
        string where = configurationSection is not null && ex.ParamName is not null
            ? $" (configuration key '{configurationSection}:{ex.ParamName}')"
            : "";
        return $"ClusterClient options of '{name}'{where} are invalid: {message}";
    }
}
