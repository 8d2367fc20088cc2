// Reads a server's EpollServer meter the way dotnet-counters and OpenTelemetry attach: a MeterListener, one collection.
using System.Diagnostics.Metrics;
using EpollServer.Diagnostics;

namespace EpollServer.Tests.Infrastructure;

public static class MeterReading
{
    // One observation of every instrument of the server on `port`: "name" or "name|tag=value" -> value.
    public static Dictionary<string, long> Collect(int port, bool requireAny = true) =>
        Collect(meter => meter.Name == ServerMetrics.MeterName && meter.Tags?.Any(t => t.Key == "epollserver.port" && Equals(t.Value, port)) == true,
            requireAny);

    // One server's own meter, whatever its port (which the kernel may give another server once this one is gone).
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
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => values[Key(instrument, tags)] = value);
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => values[Key(instrument, tags)] = value);
        listener.Start();
        listener.RecordObservableInstruments();
        if (requireAny)
            Assert.NotEmpty(values);
        return values;
    }

    private static string Key(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        tags.Length == 0 ? instrument.Name : $"{instrument.Name}|{tags[0].Key}={tags[0].Value}";
}
