// Converts between IPEndPoint and the kernel's sockaddr_in / sockaddr_in6.
using System.Buffers.Binary;
using System.Net;
using EpollServer.Interop;

namespace EpollServer.Net;

internal static unsafe class SocketAddresses
{
    public static uint Write(IPEndPoint endPoint, out Libc.sockaddr_storage storage, out int family)
    {
        storage = default;
        Span<byte> bytes = stackalloc byte[16];
        endPoint.Address.TryWriteBytes(bytes, out int length);
        fixed (Libc.sockaddr_storage* p = &storage)
        {
            if (length == 4)
            {
                var v4 = (Libc.sockaddr_in*)p;
                v4->sin_family = Libc.FamilyField(Libc.AF_INET, sizeof(Libc.sockaddr_in));
                v4->sin_port = BinaryPrimitives.ReverseEndianness((ushort)endPoint.Port);
                v4->sin_addr = BitConverter.ToUInt32(bytes);
                family = Libc.AF_INET;
                return (uint)sizeof(Libc.sockaddr_in);
            }
            var v6 = (Libc.sockaddr_in6*)p;
            v6->sin6_family = Libc.FamilyField(Libc.AF_INET6, sizeof(Libc.sockaddr_in6));
            v6->sin6_port = BinaryPrimitives.ReverseEndianness((ushort)endPoint.Port);
            v6->sin6_scope_id = (uint)endPoint.Address.ScopeId;
            bytes.CopyTo(new Span<byte>(v6->sin6_addr, 16));
            family = Libc.AF_INET6;
            return (uint)sizeof(Libc.sockaddr_in6);
        }
    }

    public static IPEndPoint Read(in Libc.sockaddr_storage storage)
    {
        fixed (Libc.sockaddr_storage* p = &storage)
        {
            if (Libc.FamilyOf(p->ss_family) == Libc.AF_INET)
            {
                var v4 = (Libc.sockaddr_in*)p;
                return new IPEndPoint(new IPAddress(v4->sin_addr), BinaryPrimitives.ReverseEndianness(v4->sin_port));
            }
            var v6 = (Libc.sockaddr_in6*)p;
            var address = new IPAddress(new ReadOnlySpan<byte>(v6->sin6_addr, 16), v6->sin6_scope_id);
            return new IPEndPoint(address, BinaryPrimitives.ReverseEndianness(v6->sin6_port));
        }
    }
}

// A peer's address in 20 bytes, kept on every connection; the IPEndPoint is built only when someone asks.
internal readonly unsafe struct PeerAddress
{
    private readonly UInt128 _address;   // IPv4 in the low 4 bytes when !_isV6
    private readonly ushort _port;
    private readonly bool _isV6;

    // The address without the port: what --max-connections-per-address counts by.
    public (UInt128 Address, bool IsV6) Host => (_address, _isV6);

    public PeerAddress(IPEndPoint endPoint)
        : this(Storage(endPoint))
    {
    }

    private static Libc.sockaddr_storage Storage(IPEndPoint endPoint)
    {
        SocketAddresses.Write(endPoint, out Libc.sockaddr_storage storage, out _);
        return storage;
    }

    public PeerAddress(in Libc.sockaddr_storage storage)
    {
        fixed (Libc.sockaddr_storage* p = &storage)
        {
            if (Libc.FamilyOf(p->ss_family) == Libc.AF_INET)
            {
                var v4 = (Libc.sockaddr_in*)p;
                _address = v4->sin_addr;
                _port = BinaryPrimitives.ReverseEndianness(v4->sin_port);
            }
            else
            {
                var v6 = (Libc.sockaddr_in6*)p;
                _address = *(UInt128*)v6->sin6_addr;
                _port = BinaryPrimitives.ReverseEndianness(v6->sin6_port);
                _isV6 = true;
            }
        }
    }

    public IPEndPoint ToEndPoint()
    {
        UInt128 address = _address;
        IPAddress ip = _isV6 ? new IPAddress(new ReadOnlySpan<byte>(&address, 16)) : new IPAddress((long)(uint)address);
        return new IPEndPoint(ip, _port);
    }

    public override string ToString() => ToEndPoint().ToString();
}
