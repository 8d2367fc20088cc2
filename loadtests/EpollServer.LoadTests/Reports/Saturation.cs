// What limited a measurement, decided in one place for every report form: a server that ran below 90 % of its CPUs
// while the generator was at or above 95 % of its own was held back by the generator, so its figure is the
// generator's ceiling and says little about the server (a ratio between two such servers ranks nothing).
namespace EpollServer.LoadTests.Reports;

internal static class Saturation
{
    public const double ServerBelow = 0.90;

    public const double GeneratorAtLeast = 0.95;

    public const string Rule = "generator-bound: the server ran below 90 % of its CPUs while the generator was at or above 95 % of its own " +
        "(CPU over the measured window, as a share of the CPUs each was given; a generator counts no more CPUs than it has threads)";

    // Shares are of the CPUs each could use (1.0: all busy); an unmeasured share is never generator-bound.
    public static bool IsGeneratorBound(double? serverShare, double? generatorShare) =>
        serverShare is double server && generatorShare is double generator && server < ServerBelow && generator >= GeneratorAtLeast;
}
