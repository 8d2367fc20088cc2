// A setting defined once: its key, the type and unit it is given in, its default, its range (a check that answers in
// words) and its help. ServerOptions takes its defaults and its validation from its table (ServerOptions.Settings);
// the daemon builds its command-line options, their choices and validators, its EPOLLSERVER_* variables and the
// README's table from the same rows. A message names the setting as its reader knows it: the library by property
// (InputBufferSize 300 must be ...), the daemon by flag (--input-buffer 300 must be ...).
using System.Globalization;

namespace EpollServer;

public abstract class Setting
{
    private protected Setting(string key, string property, string help, string? unit, IReadOnlyList<string>? choices)
    {
        Key = key;
        Property = property;
        Help = help;
        Unit = unit;
        Choices = choices;
    }

    // "input-buffer": the daemon's --input-buffer and EPOLLSERVER_INPUT_BUFFER.
    public string Key { get; }

    // "InputBufferSize": the library's name for it.
    public string Property { get; }

    public string Help { get; }

    // What a number is counted in ("seconds", "bytes", "microseconds"), for help texts; null when it speaks for itself.
    public string? Unit { get; }

    // The only values accepted, when there is such a list.
    public IReadOnlyList<string>? Choices { get; }

    // int, double, string (nullable: no default) or bool.
    public abstract Type ValueType { get; }

    public abstract object? Default { get; }

    // The default as the README shows it (blank when there is none).
    public string DefaultText => Default switch
    {
        null => "",
        bool flag => flag ? "on" : "off",
        double number => number.ToString("0.###", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        var other => other.ToString() ?? "",
    };

    // What is wrong with `value` ("must be within 0..65535"), or null; it follows the name and the value as given.
    public abstract string? Check(object? value);

    public static string Show(object? value) => value switch
    {
        null => "(none)",
        string text => $"'{text}'",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        var other => other.ToString() ?? "",
    };
}

// A setting of a TTarget (ServerOptions, or the daemon's own settings), whatever type it is given as.
public abstract class Setting<TTarget> : Setting
{
    private protected Setting(string key, string property, string help, string? unit, IReadOnlyList<string>? choices)
        : base(key, property, help, unit, choices)
    {
    }

    public abstract void Reset(TTarget target);

    // Sets a value of ValueType (as parsed); check it first.
    public abstract void Apply(TTarget target, object? value);

    // The library's message: "InputBufferSize 300 must be ...", or null.
    public abstract string? Validate(TTarget target);
}

// A setting of a TTarget given as a TValue.
public sealed class Setting<TTarget, TValue> : Setting<TTarget>
{
    private readonly TValue _default;
    private readonly Func<TTarget, TValue> _get;
    private readonly Action<TTarget, TValue> _set;
    private readonly Func<TValue, string?>? _check;

    public Setting(string key, string property, TValue defaultValue, Func<TTarget, TValue> get, Action<TTarget, TValue> set, string help,
        Func<TValue, string?>? check = null, string? unit = null, IReadOnlyList<string>? choices = null)
        : base(key, property, help, unit, choices)
    {
        _default = defaultValue;
        _get = get;
        _set = set;
        _check = choices is null ? check : value => choices.Contains(value as string) ? check?.Invoke(value) : $"is not known; choose {string.Join(", ", choices)}";
    }

    public override Type ValueType => typeof(TValue);

    public override object? Default => _default;

    public override string? Check(object? value) => value is TValue typed ? _check?.Invoke(typed) : value is null && _default is null ? null : "has the wrong type";

    public TValue Get(TTarget target) => _get(target);

    public override void Reset(TTarget target) => _set(target, _default);

    public override void Apply(TTarget target, object? value) => _set(target, (TValue)value!);

    public override string? Validate(TTarget target)
    {
        TValue value = _get(target);
        return _check?.Invoke(value) is { } problem ? $"{Property} {Show(value)} {problem}" : null;
    }
}

// Checks shared by the tables.
public static class SettingChecks
{
    public static Func<int, string?> Within(int min, int max, string? unit = null) =>
        value => value >= min && value <= max ? null : $"must be within {min}..{max}{(unit is null ? "" : " " + unit)}";

    public static Func<int, string?> AtLeast(int min) =>
        value => value >= min ? null : min == 0 ? "must be 0 or more" : $"must be at least {min}";

    // Seconds as a double: finite, and within 0 (off) and a week.
    public static string? Seconds(double value) =>
        double.IsFinite(value) && value is >= 0 and <= 604_800 ? null : "must be within 0 and 604800 seconds";

    public static string? PowerOfTwoBuffer(int value) =>
        value is >= 256 and <= 64 * 1024 * 1024 && System.Numerics.BitOperations.IsPow2(value)
            ? null : "must be a power of two between 256 and 67108864 bytes";
}
