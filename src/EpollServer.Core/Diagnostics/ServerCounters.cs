// What the server counts. Written only by the loop thread (plain increments, one writer); read from any thread.
namespace EpollServer.Diagnostics;

public sealed class ServerCounters
{
    internal long ConnectionsAccepted;
    internal long ConnectionsClosed;
    internal long ConnectionsRejectedLimit;   // over --max-connections: refused with a line
    internal long ConnectionsRejectedNoFds;   // EMFILE/ENFILE: accepted on the spare fd and closed at once
    internal long ConnectionsReset;
    internal long SlowConsumerDisconnects;    // the handler dropped a peer whose output was full (chat)
    internal long HandlerErrors;
    internal long PeerErrors;                 // protocol errors by peers (answered with an ERR line where the protocol has one)
    internal long BytesReceived;
    internal long BytesSent;
    internal long BytesDiscarded;             // read during a lingering close and dropped
    internal long SendWouldBlock;             // send returned EAGAIN: the peer reads slower than we write
    internal long RecvWouldBlock;             // recv returned EAGAIN: woken for nothing (a spurious or stolen wake-up)
    internal long ReadPauses;                 // backpressure engaged
    internal long AcceptBackoffs;
    internal long ConnectionsRejectedPerAddress;   // over --max-connections-per-address: refused with a line
    internal long IdleTimeouts;
    internal long FirstByteTimeouts;
    internal long RequestTimeouts;
    internal long DatagramsReceived;          // UDP echo (--udp)
    internal long DatagramsSent;
    internal long DatagramsTruncated;         // longer than the datagram buffer: counted, not echoed
    internal long DatagramsDropped;           // sendto failed (socket buffer full): UDP may drop, so it does
    internal long DatagramErrors;             // recvfrom failed with something other than EAGAIN
    internal long ConnectsStarted;            // outgoing connections begun (LoopContext.Connect)
    internal long ConnectsSucceeded;
    internal long ConnectFailures;
    internal long ConnectTimeouts;
    internal long Aborts;

    internal void CountClose(Net.CloseReason reason)
    {
        switch (reason)
        {
            case Net.CloseReason.Reset: ConnectionsReset++; break;
            case Net.CloseReason.ConnectFailed: ConnectFailures++; break;
            case Net.CloseReason.ConnectTimeout: ConnectTimeouts++; break;
            case Net.CloseReason.IdleTimeout: IdleTimeouts++; break;
            case Net.CloseReason.FirstByteTimeout: FirstByteTimeouts++; break;
            case Net.CloseReason.RequestTimeout: RequestTimeouts++; break;
        }
    }

    internal void CountAbort(string reason)
    {
        Aborts++;
        if (reason == "slow-consumer")
            SlowConsumerDisconnects++;
    }

    public ServerStats Snapshot(int openConnections, long loopIterations, long messages) => new(
        openConnections,
        Volatile.Read(ref ConnectionsAccepted),
        Volatile.Read(ref ConnectionsClosed),
        Volatile.Read(ref ConnectionsRejectedLimit),
        Volatile.Read(ref ConnectionsRejectedNoFds),
        Volatile.Read(ref ConnectionsRejectedPerAddress),
        Volatile.Read(ref ConnectionsReset),
        Volatile.Read(ref SlowConsumerDisconnects),
        Volatile.Read(ref IdleTimeouts),
        Volatile.Read(ref FirstByteTimeouts),
        Volatile.Read(ref RequestTimeouts),
        Volatile.Read(ref HandlerErrors),
        Volatile.Read(ref PeerErrors),
        Volatile.Read(ref BytesReceived),
        Volatile.Read(ref BytesSent),
        messages,
        Volatile.Read(ref BytesDiscarded),
        Volatile.Read(ref SendWouldBlock),
        Volatile.Read(ref RecvWouldBlock),
        Volatile.Read(ref ReadPauses),
        Volatile.Read(ref AcceptBackoffs),
        Volatile.Read(ref DatagramsReceived),
        Volatile.Read(ref DatagramsSent),
        Volatile.Read(ref DatagramsTruncated),
        Volatile.Read(ref DatagramsDropped),
        Volatile.Read(ref DatagramErrors),
        loopIterations);
}

public readonly record struct ServerStats(
    int OpenConnections,
    long Accepted,
    long Closed,
    long RejectedLimit,
    long RejectedNoFds,
    long RejectedPerAddress,
    long Resets,
    long SlowConsumers,
    long IdleTimeouts,
    long FirstByteTimeouts,
    long RequestTimeouts,
    long HandlerErrors,
    long PeerErrors,
    long BytesReceived,
    long BytesSent,
    long Messages,
    long BytesDiscarded,
    long SendWouldBlock,
    long RecvWouldBlock,
    long ReadPauses,
    long AcceptBackoffs,
    long DatagramsReceived,
    long DatagramsSent,
    long DatagramsTruncated,
    long DatagramsDropped,
    long DatagramErrors,
    long LoopIterations)
{
    public override string ToString() =>
        $"connections open={OpenConnections} accepted={Accepted} closed={Closed} rejected={RejectedLimit} " +
        $"rejected-nofd={RejectedNoFds} rejected-per-address={RejectedPerAddress} resets={Resets} slow-consumers={SlowConsumers} " +
        $"handler-errors={HandlerErrors} peer-errors={PeerErrors} | timeouts idle={IdleTimeouts} first-byte={FirstByteTimeouts} request={RequestTimeouts} | bytes in={BytesReceived} " +
        $"out={BytesSent} discarded={BytesDiscarded} | messages={Messages} | send-eagain={SendWouldBlock} recv-eagain={RecvWouldBlock} read-pauses={ReadPauses} " +
        $"accept-backoffs={AcceptBackoffs} loop-iterations={LoopIterations} | udp in={DatagramsReceived} " +
        $"out={DatagramsSent} truncated={DatagramsTruncated} dropped={DatagramsDropped} errors={DatagramErrors}";
}
