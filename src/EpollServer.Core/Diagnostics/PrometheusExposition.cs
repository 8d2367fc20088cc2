// The server's instruments in Prometheus's text exposition format (version 0.0.4), for GET /metrics. Nothing here
// names a counter: a MeterListener reads this server's own `EpollServer` meter (ServerMetrics, itself derived from
// ServerCounters.Definitions), so a counter added there appears here too. A name becomes Prometheus's by its dots
// turning into underscores, a counter gains `_total`, and each tag becomes a label (`reactor` on the per-reactor
// series). Called on the admin endpoint's loop; the observable callbacks read counters any thread may read.
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace EpollServer.Diagnostics;

public static class PrometheusExposition
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Render(Server server)
    {
        Meter? meter = server.Meter;
        var families = new SortedDictionary<string, Family>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == meter)
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(families, instrument, value, tags));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Add(families, instrument, value, tags));
        listener.Start();
        listener.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach ((string name, Family family) in families)
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(family.Help)).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(family.Type).Append('\n');
            foreach (string sample in family.Samples)
                text.Append(sample).Append('\n');
        }
        return text.ToString();
    }

    private sealed record Family(string Type, string Help, List<string> Samples);

    private static void Add(SortedDictionary<string, Family> families, Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        bool counter = instrument is ObservableCounter<long> or ObservableCounter<int>;
        string name = instrument.Name.Replace('.', '_') + (counter ? "_total" : "");
        if (!families.TryGetValue(name, out Family? family))
            families[name] = family = new Family(counter ? "counter" : "gauge", $"{instrument.Description} ({instrument.Unit})", []);
        var sample = new StringBuilder(name);
        IEnumerable<KeyValuePair<string, object?>> labels = [.. instrument.Meter.Tags ?? [], .. tags.ToArray()];
        sample.Append('{').AppendJoin(',', labels.Select(t => $"{t.Key.Replace('.', '_')}=\"{EscapeLabel(Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "")}\"")).Append('}');
        family.Samples.Add(sample.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).ToString());
    }

    private static string EscapeLabel(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal)
        .Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string EscapeHelp(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
