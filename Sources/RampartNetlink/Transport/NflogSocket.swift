import CNetfilter
import Glibc
import RampartSystem

/// A socket bound to one NFLOG group of its network namespace: the packets the ruleset's `log group
/// N` rules hand over. What the kernel could not queue (the receive buffer was full: ENOBUFS) is
/// counted, never silently lost.
public final class NflogSocket: Sendable {
    /// The subscription the packets come through: the real socket, or a test's recorded datagrams.
    public let transport: any NotificationTransport
    public let group: UInt16

    /// `copyBytes`: how much of each packet to receive (the headers are in the first 128 bytes of
    /// any IPv4 or IPv6 packet whose extension headers rampart reads); `receiveBuffer`: the socket
    /// buffer, forced past rmem_max where the process may (root).
    public convenience init(group: UInt16, copyBytes: UInt32 = 128, receiveBuffer: Int = 4 << 20) throws(NetlinkError) {
        let subscription = try NetlinkSubscription(
            bus: NETLINK_NETFILTER, groups: 0, receiveBuffer: receiveBuffer, datagramSize: 256 * 1024,
            what: "NFLOG packets")
        try subscription.request(
            Nflog.config(group: group, sequence: 1, attributes: Nflog.bind), what: "binding NFLOG group \(group)")
        try subscription.request(
            Nflog.config(
                group: group, sequence: 2,
                attributes: Nflog.copyPackets(copyBytes) + Nflog.numbered
                    + Nflog.batched(packets: 64, hundredths: 1, bufferBytes: 64 << 10)),
            what: "setting the copy mode of NFLOG group \(group)")
        self.init(group: group, transport: subscription)
    }

    public init(group: UInt16, transport: any NotificationTransport) {
        self.group = group
        self.transport = transport
    }

    /// Hands the logged packets of each datagram to `packets` until `wakeup` is stopped (returns) or the socket fails
    /// (throws). `lost` is called when the kernel reports that packets could not be queued;
    /// `receiving` brackets each receive (see `receiveNotifications`).
    public func run(
        until wakeup: Wakeup, receiving: (Bool) -> Void = { _ in }, lost: () -> Void, packets: ([NflogPacket]) -> Void
    ) throws(NetlinkError) {
        try receiveNotifications(from: transport, until: wakeup, receiving: receiving, overrun: lost) { datagram in
            let batch = Nflog.packets(datagram)
            if !batch.isEmpty { packets(batch) }
        }
    }
}
