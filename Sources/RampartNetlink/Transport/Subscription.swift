import CNetfilter
import Glibc
import RampartSystem
import RampartSyscall

/// What a subscription delivers next.
public enum Notification: Sendable, Equatable {
    case datagram([UInt8])
    /// ENOBUFS: the receive buffer overran, so notifications (or logged packets) were lost.
    case overrun
}

/// A netlink socket subscribed to multicast messages — nftables notifications, route changes, one
/// NFLOG group: the seam between the services that follow the kernel and the kernel, as
/// `NetlinkTransport` is for nf_tables requests. `NetlinkSubscription` is the real one; tests
/// feed recorded datagrams through `RecordedNotifications` (RampartNetlinkFake).
public protocol NotificationTransport: AnyObject, Sendable {
    /// Waits for the next datagram or overrun; nil once `wakeup` is stopped; throws, with the
    /// errno, when the socket fails. `receiving(true)` is called just before a datagram is taken.
    func next(until wakeup: Wakeup, receiving: (Bool) -> Void) throws(NetlinkError) -> Notification?
    /// Whether a datagram waits to be taken, without taking it.
    var isReadable: Bool { get }
}

/// The receive loop of a subscription: hands each datagram to `datagram`, each overrun to
/// `overrun`, until `wakeup` is stopped (returns) or the socket fails (throws). `receiving`
/// brackets each receive and the handling of what it got (true before, false after), so another
/// thread can tell a drained, idle socket from one whose last datagram is still being handled.
func receiveNotifications(
    from transport: any NotificationTransport, until wakeup: Wakeup, receiving: (Bool) -> Void = { _ in },
    overrun: () -> Void, datagram: ([UInt8]) -> Void
) throws(NetlinkError) {
    while let notification = try transport.next(until: wakeup, receiving: receiving) {
        defer { receiving(false) }
        switch notification {
        case .overrun: overrun()
        case .datagram(let bytes): datagram(bytes)
        }
    }
}

/// A libmnl socket bound to netlink multicast groups.
public final class NetlinkSubscription: NotificationTransport, @unchecked Sendable {
    private let socket: OpaquePointer
    private let bufferSize: Int
    private let what: String

    /// Binds a `NETLINK_*` socket of `bus` to `groups`; `receiveBuffer` bytes of socket buffer,
    /// past rmem_max where the process may (root).
    public init(bus: Int32, groups: UInt32, receiveBuffer: Int?, datagramSize: Int, what: String) throws(NetlinkError) {
        guard let s = mnl_socket_open(bus) else { throw .system("cannot open a netlink socket for \(what)") }
        guard mnl_socket_bind(s, groups, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Glibc.errno
            mnl_socket_close(s)
            throw .system("cannot subscribe to \(what)", code)
        }
        socket = s
        bufferSize = datagramSize
        self.what = what
        if let receiveBuffer { setBuffer(mnl_socket_get_fd(s), SO_RCVBUFFORCE, SO_RCVBUF, receiveBuffer) }
    }

    deinit { mnl_socket_close(socket) }

    public var descriptor: Int32 { mnl_socket_get_fd(socket) }

    /// nf_tables' notifications (NFNLGRP_NFTABLES). Our own commit of 100,000 filters is notified
    /// to us too: room for most of it.
    public static func nftables() throws(NetlinkError) -> NetlinkSubscription {
        try NetlinkSubscription(
            bus: NETLINK_NETFILTER, groups: UInt32(1 << (NFNLGRP_NFTABLES.rawValue - 1)), receiveBuffer: 16 << 20,
            datagramSize: 256 * 1024, what: "nftables notifications")
    }

    /// IPv4 and IPv6 route changes.
    public static func routes() throws(NetlinkError) -> NetlinkSubscription {
        try NetlinkSubscription(
            bus: NETLINK_ROUTE, groups: UInt32(RTMGRP_IPV4_ROUTE) | UInt32(RTMGRP_IPV6_ROUTE), receiveBuffer: nil,
            datagramSize: 64 * 1024, what: "route notifications")
    }

    public func next(until wakeup: Wakeup, receiving: (Bool) -> Void) throws(NetlinkError) -> Notification? {
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        while true {
            do {
                guard try wakeup.waitReadable(descriptor) else { return nil }
            } catch {
                throw NetlinkError(error.message, errno: error.errno)
            }
            receiving(true)
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            }
            if n >= 0 { return .datagram(Array(buffer[0..<n])) }
            if code == ENOBUFS { return .overrun }
            receiving(false)
            if code == EAGAIN { continue }
            throw .system("receiving \(what)", code)
        }
    }

    public var isReadable: Bool {
        var fd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, 0) != 0
    }

    /// Sends one request on the subscribed socket and reads its ACK (NFLOG's configuration).
    func request(_ message: [UInt8], what: String) throws(NetlinkError) {
        guard message.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == message.count else {
            throw .system(what, Glibc.errno)
        }
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            }
            if n < 0 { throw .system(what, code) }
            for reply in NetlinkMessages(bytes: Array(buffer[0..<n])) where reply.type == UInt16(NLMSG_ERROR) {
                guard let error = ErrorReply(reply) else { throw NetlinkError("\(what): a truncated reply") }
                if error.error != 0 { throw .system(what, error.error) }
                return
            }
        }
    }
}
