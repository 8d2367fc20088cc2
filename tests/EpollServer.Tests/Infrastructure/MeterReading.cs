// Reads a server's EpollServer meter the way dotnet-counters and OpenTelemetry attach: a MeterListener, one collection.
using System.Diagnostics.Metrics;

namespace EpollServer.Tests.Infrastructure;

public static class MeterReading
{
    // One observation of every instrument of one server's own meter: "name", or "name|key=value,key=value" with
    // every tag of the measurement, sorted by key -> value. Two measurements with the same key fail the collection.
    // By the meter itself, never by its port tag: a server on 127.0.0.1:P and another test's on [::1]:P (or one
    // given P once the first is gone) carry the same tag, which read as two measurements of one series under load.
    public static Dictionary<string, long> Collect(Meter meter, bool requireAny = true) => Collect(m => m == meter, requireAny);

    private static Dictionary<string, long> Collect(Func<Meter, bool> which, bool requireAny)
    {
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (which(instrument.Meter))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(values, Key(instrument, tags), value));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Add(values, Key(instrument, tags), value));
        listener.Start();
        listener.RecordObservableInstruments();
        if (requireAny)
            Assert.NotEmpty(values);
        return values;
    }

    // A key seen twice means two series that a reader could not tell apart (or a key that drops a tag).
    private static void Add(Dictionary<string, long> values, string key, long value)
    {
        if (!values.TryAdd(key, value))
            throw new Xunit.Sdk.XunitException($"two measurements with the same tags: {key}");
    }

    private static string Key(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
            return instrument.Name;
        string[] pairs = new string[tags.Length];
        for (int i = 0; i < tags.Length; i++)
            pairs[i] = $"{tags[i].Key}={tags[i].Value}";
        Array.Sort(pairs, StringComparer.Ordinal);
        return $"{instrument.Name}|{string.Join(',', pairs)}";
    }
}
