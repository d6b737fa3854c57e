import CNetfilter
import Glibc
import RampartSystem
import RampartSyscall

/// A socket bound to one NFLOG group of its network namespace: the packets the ruleset's `log group
/// N` rules hand over. What the kernel could not queue (the receive buffer was full: ENOBUFS) is
/// counted, never silently lost.
public final class NflogSocket: @unchecked Sendable {
    private let socket: OpaquePointer
    public let group: UInt16

    /// `copyBytes`: how much of each packet to receive (the headers are in the first 128 bytes of
    /// any IPv4 or IPv6 packet whose extension headers rampart reads); `receiveBuffer`: the socket
    /// buffer, forced past rmem_max where the process may (root).
    public init(group: UInt16, copyBytes: UInt32 = 128, receiveBuffer: Int = 4 << 20) throws(NetlinkError) {
        let s = try openNetfilterSocket(what: "the NFLOG socket")
        socket = s
        self.group = group
        setBuffer(mnl_socket_get_fd(s), SO_RCVBUFFORCE, SO_RCVBUF, receiveBuffer)
        try request(Nflog.config(group: group, sequence: 1, attributes: Nflog.bind), what: "binding NFLOG group \(group)")
        try request(Nflog.config(group: group, sequence: 2, attributes: Nflog.copyPackets(copyBytes) + Nflog.numbered
                                    + Nflog.batched(packets: 64, hundredths: 1, bufferBytes: 64 << 10)),
                    what: "setting the copy mode of NFLOG group \(group)")
    }

    deinit { mnl_socket_close(socket) }

    public var descriptor: Int32 { mnl_socket_get_fd(socket) }

    /// Sends one config message and reads its ACK (EBUSY: another socket holds the group).
    private func request(_ message: [UInt8], what: String) throws(NetlinkError) {
        guard message.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == message.count else {
            throw .system(what, Glibc.errno)
        }
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let (n, code) = Syscall.uninterrupted { buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) } }
            if n < 0 { throw .system(what, code) }
            for reply in NetlinkMessages(bytes: Array(buffer[0..<n])) where reply.type == UInt16(NLMSG_ERROR) {
                guard let error = ErrorReply(reply) else { throw NetlinkError("\(what): a truncated reply") }
                if error.error != 0 { throw .system(what, error.error) }
                return
            }
        }
    }

    /// Hands the logged packets of each datagram to `packets` until `wakeup` is stopped (returns) or the socket fails
    /// (throws). `lost` is called when the kernel reports that packets could not be queued;
    /// `receiving` brackets each receive (see `receiveNotifications`).
    public func run(until wakeup: Wakeup, receiving: (Bool) -> Void = { _ in }, lost: () -> Void, packets: ([NflogPacket]) -> Void) throws(NetlinkError) {
        try receiveNotifications(fd: descriptor, bufferSize: 256 * 1024, until: wakeup, what: "NFLOG packets", receiving: receiving,
                                 overrun: lost) { datagram in
            let batch = Nflog.packets(datagram)
            if !batch.isEmpty { packets(batch) }
        }
    }
}
