// rediss:// (TLS to Redis) with an ACL user, against a redis-server started with TLS only and a certificate the test
// makes (a CA of its own, in a temporary folder removed afterwards): chat crosses daemons that trust that CA
// (--backplane-ca-file), and a daemon that does not trust it never connects (validation is on by default). A URL's
// password never appears in what the daemon prints: a wrong password, an unreachable host, a malformed URL (given
// on the command line or in EPOLLSERVER_BACKPLANE).
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using EpollServer.Protocols.Chat;
using EpollServer.Tests.Infrastructure;

namespace EpollServer.Tests;

public sealed partial class RedisBackplaneTests
{
    private const string AclPassword = "Pw-of-the-acl-user-7Qx2";

    [Fact]
    public void Rediss_WithAnAclUser_TrustingTheTestsCa_CarriesChatAcrossDaemons()
    {
        using var certificates = TestCertificates.Create();
        using RedisProcess redis = TlsRedisWithAclUser(certificates);
        string url = $"rediss://chat:{AclPassword}@127.0.0.1:{redis.Port}";
        using DaemonProcess d1 = TlsDaemon(url, certificates.CaFile), d2 = TlsDaemon(url, certificates.CaFile);
        using ChatUser alice = ChatUser.Join(d1, "alice"), bob = ChatUser.Join(d2, "bob");
        alice.Who("lobby");
        bob.Send("over TLS");
        Assert.Equal("<bob> over TLS", alice.NextWhere(l => l.StartsWith('<')));
        Assert.Contains("alice", bob.Who("lobby"));
        Assert.Contains(d1.Lines, l => l.Contains($"connected to Redis at 127.0.0.1:{redis.Port}/0 (TLS)", StringComparison.Ordinal));
        Assert.DoesNotContain(AclPassword, d1.Output + d2.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Rediss_WithoutTheCa_IsNotTrusted_AndChatStartsWithoutIt()
    {
        using var certificates = TestCertificates.Create();
        using RedisProcess redis = TlsRedisWithAclUser(certificates);
        using DaemonProcess daemon = TlsDaemon($"rediss://chat:{AclPassword}@127.0.0.1:{redis.Port}", caFile: null);
        using ChatUser alice = ChatUser.Join(daemon, expectBackplaneDown: true);
        Assert.Contains(daemon.Lines, l => l.Contains("cannot be reached", StringComparison.Ordinal));
        Assert.DoesNotContain(AclPassword, daemon.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("wrong password")]
    [InlineData("unreachable host")]
    public void AFailingRedis_NeverPrintsTheUrlsPassword(string failure)
    {
        const string Secret = "Sup3r-Secret-Passw0rd-9z";
        using var redis = RedisProcess.Start(_ => ["--requirepass", "the-right-one"]);
        int port = failure == "wrong password" ? redis.Port : ClosedPort();
        using var daemon = DaemonProcess.Start($"--protocol chat --address 127.0.0.1 --port 0 --backplane redis://ann:{Secret}@127.0.0.1:{port} --log-format json");
        using ChatUser ann = ChatUser.Join(daemon, expectBackplaneDown: true);
        ann.Send("/nick annie");   // refused while Redis is away: one more error on the way
        ann.NextWhere(l => l.StartsWith("ERR nicknames cannot change", StringComparison.Ordinal));
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit());
        Assert.Contains(daemon.Lines, l => l.Contains("cannot be reached", StringComparison.Ordinal));
        Assert.DoesNotContain(Secret, daemon.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AMalformedUrl_IsRefused_WithoutItsPassword(bool fromTheEnvironment)
    {
        const string Secret = "Sup3r-Secret-Passw0rd-9z";
        string url = $"redis://ann:{Secret}@127.0.0.1:6379/not-a-number";
        using var daemon = fromTheEnvironment
            ? DaemonProcess.Start("--protocol chat", expectListening: false, environment: new Dictionary<string, string> { ["EPOLLSERVER_BACKPLANE"] = url })
            : DaemonProcess.Start($"--protocol chat --backplane {url}", expectListening: false);
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains("the database must be a number", daemon.Output);
        Assert.DoesNotContain(Secret, daemon.Output, StringComparison.Ordinal);
    }

    private static DaemonProcess TlsDaemon(string url, string? caFile) =>
        DaemonProcess.Start($"--protocol chat --address 127.0.0.1 --port 0 --reactors 2 --backplane {url}" + (caFile is null ? "" : $" --backplane-ca-file {caFile}"));

    // TLS only, and an ACL user `chat` beside a default user that is switched off.
    private static RedisProcess TlsRedisWithAclUser(TestCertificates certificates) =>
        RedisProcess.StartTls(certificates.CertFile, certificates.KeyFile, certificates.CaFile,
            _ => ["--user", "default", "off", "--user", "chat", "on", ">" + AclPassword, "~*", "&*", "+@all"]);

    private static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;   // closed as this returns: nothing listens there
    }

    // A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM files in a folder of the test's own.
    private sealed class TestCertificates : IDisposable
    {
        private readonly TempFolder _folder;

        private TestCertificates(TempFolder folder) => _folder = folder;

        public string CaFile => Path.Combine(_folder.Path, "ca.pem");

        public string CertFile => Path.Combine(_folder.Path, "redis.pem");

        public string KeyFile => Path.Combine(_folder.Path, "redis.key");

        public static TestCertificates Create()
        {
            var certificates = new TestCertificates(TempFolder.Create("epollserver-tls-"));
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new CertificateRequest("CN=EpollServer test CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            DateTimeOffset now = DateTimeOffset.UtcNow;
            using X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

            using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            using X509Certificate2 server = request.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

            File.WriteAllText(certificates.CaFile, ca.ExportCertificatePem());
            File.WriteAllText(certificates.CertFile, server.ExportCertificatePem());
            File.WriteAllText(certificates.KeyFile, serverKey.ExportPkcs8PrivateKeyPem());
            return certificates;
        }

        public void Dispose() => _folder.Dispose();
    }
}
