// The proxy's start-up check: an upstream that is this server's own listening address would proxy every client to
// itself, and each of those connections to itself again, until the fds ran out. The server refuses to start instead.
using System.Net;
using System.Net.NetworkInformation;

namespace EpollServer.Protocols;

public sealed partial class ProxyHandler
{
    public string? CheckListening(IReadOnlyList<IPEndPoint> listening)
    {
        IPAddress[] upstream = UpstreamAddresses();
        foreach (IPEndPoint bound in listening)
        {
            if (bound.Port != _port)
                continue;
            if (upstream.FirstOrDefault(address => Reaches(address, bound.Address)) is { } self)
                return $"the upstream {_host}:{_port} is this server's own listening address ({bound}, reached as {self}): every client " +
                    "would be proxied back to the proxy itself; give the upstream's address";
        }
        return null;
    }

    // A name is resolved once here, as a client's connect would resolve it; one that does not resolve now is left to
    // fail (and be counted) at connect.
    private IPAddress[] UpstreamAddresses()
    {
        if (IPAddress.TryParse(_host, out IPAddress? literal))
            return [literal];
        try
        {
            return Dns.GetHostAddresses(_host);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return [];
        }
    }

    // Whether a connect to `upstream` (on the listener's port) lands on a listener bound to `bound`: the same address,
    // or any local one when the listener is on the wildcard (:: dual-stack takes IPv4 too). Linux sends a connect to
    // the wildcard address itself to the loopback address.
    private static bool Reaches(IPAddress upstream, IPAddress bound)
    {
        upstream = upstream.IsIPv4MappedToIPv6 ? upstream.MapToIPv4() : upstream;
        if (upstream.Equals(IPAddress.Any))
            upstream = IPAddress.Loopback;
        else if (upstream.Equals(IPAddress.IPv6Any))
            upstream = IPAddress.IPv6Loopback;
        if (bound.Equals(IPAddress.IPv6Any) || bound.Equals(IPAddress.Any))
        {
            bool familyServed = bound.Equals(IPAddress.IPv6Any) || upstream.AddressFamily == bound.AddressFamily;
            return familyServed && (IPAddress.IsLoopback(upstream) || IsThisHosts(upstream));
        }
        return upstream.Equals(bound.IsIPv4MappedToIPv6 ? bound.MapToIPv4() : bound);
    }

    private static bool IsThisHosts(IPAddress address) => NetworkInterface.GetAllNetworkInterfaces()
        .SelectMany(i => i.GetIPProperties().UnicastAddresses).Any(u => u.Address.Equals(address));
}
