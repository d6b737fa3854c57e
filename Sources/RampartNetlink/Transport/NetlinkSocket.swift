import CNetfilter
import Glibc
import RampartSyscall

/// What went wrong talking to the kernel, with enough context to act on.
public struct NetlinkError: ErrnoCarrying, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// The errno the kernel or a syscall returned, when there was one.
    public var errno: Int32?

    public init(_ message: String, errno: Int32? = nil) {
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
    public var errnoCode: Int32? { errno }

    static func system(_ what: String, _ code: Int32 = Glibc.errno) -> NetlinkError {
        NetlinkError("\(what): \(String(cString: strerror(code)))", errno: code)
    }
}

/// A NETLINK_NETFILTER socket. One owner: it is not Sendable.
public final class NetlinkSocket: NetlinkTransport {
    private let socket: OpaquePointer
    public let portID: UInt32

    public init() throws(NetlinkError) {
        let s = try openNetfilterSocket(what: "the netlink socket")
        socket = s
        portID = mnl_socket_get_portid(s)
        var on: Int32 = 1
        // Extended ACKs tell which attribute of a failing message the kernel rejected; capped
        // ACKs keep the original request out of the error reply.
        _ = mnl_socket_setsockopt(s, Int32(NETLINK_EXT_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(s, Int32(NETLINK_CAP_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { mnl_socket_close(socket) }

    var fd: Int32 { mnl_socket_get_fd(socket) }

    /// Grows the socket buffers for a batch of `bytes` with `messages` messages, as nft does:
    /// the whole batch goes in one sendmsg, and the kernel may answer every message.
    public func sizeBuffers(bytes: Int, messages: Int) {
        setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, max(bytes + 65536, 256 * 1024))
        setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, max(messages * 1024, 256 * 1024))
    }

    /// Sends `bytes` (one or more netlink messages) to the kernel in one sendmsg.
    public func send(_ bytes: [UInt8]) throws(NetlinkError) {
        let result = bytes.withUnsafeBytes { raw -> Int in
            var address = sockaddr_nl()
            address.nl_family = sa_family_t(AF_NETLINK)
            var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)
            return withUnsafeMutablePointer(to: &address) { addr in
                withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_name = UnsafeMutableRawPointer(addr)
                    msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    return sendmsg(fd, &msg, 0)
                }
            }
        }
        guard result == bytes.count else { throw .system("cannot send \(bytes.count) bytes to nf_tables") }
    }

    /// Receives one datagram; nil when nothing is queued and `wait` is false.
    public func receive(wait: Bool) throws(NetlinkError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536 + 4096)
        while true {
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, wait ? 0 : Int32(MSG_DONTWAIT)) }
            }
            if n >= 0 { return Array(buffer[0..<n]) }
            if code == EAGAIN || code == EWOULDBLOCK { return nil }
            throw .system("cannot receive from nf_tables", code)
        }
    }
}

/// A libmnl socket on NETLINK_NETFILTER, bound with an automatic port id.
func openNetfilterSocket(what: String) throws(NetlinkError) -> OpaquePointer {
    guard let s = mnl_socket_open(NETLINK_NETFILTER) else { throw .system("cannot open a netfilter netlink socket") }
    guard mnl_socket_bind(s, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
        let code = Glibc.errno
        mnl_socket_close(s)
        throw .system("cannot bind \(what)", code)
    }
    return s
}

/// Sets a socket buffer size past the sysctl maximum where the process may (root: the FORCE
/// option), else as far as the maximum allows.
func setBuffer(_ fd: Int32, _ force: Int32, _ plain: Int32, _ bytes: Int) {
    var size = Int32(clamping: bytes)
    if setsockopt(fd, SOL_SOCKET, force, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
        _ = setsockopt(fd, SOL_SOCKET, plain, &size, socklen_t(MemoryLayout<Int32>.size))
    }
}
