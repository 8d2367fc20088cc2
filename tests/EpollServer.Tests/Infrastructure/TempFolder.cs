// A temporary folder a test writes reports into, removed with everything in it when the test ends.
namespace EpollServer.Tests.Infrastructure;

public sealed class TempFolder : IDisposable
{
    private TempFolder(string path) => Path = path;

    public string Path { get; }

    public static TempFolder Create(string prefix) => new(Directory.CreateTempSubdirectory(prefix).FullName);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Something still writes there (a child process being killed): /tmp is cleaned eventually anyway.
        }
    }
}
