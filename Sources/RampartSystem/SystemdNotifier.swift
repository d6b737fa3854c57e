import CRampartSystem
import FoundationEssentials
#if canImport(Glibc)
    import Glibc
    import RampartSyscall
#endif

/// sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET (`READY=1`, `STATUS=…`,
/// `WATCHDOG=1`, `STOPPING=1`). Silent when not started by systemd. The datagram socket is
/// opened once, at start: a watchdog ping must not need a free descriptor later.
public final class SystemdNotifier: Sendable {
    public let path: String?
    private let fd: Int32
    private let address: UnixSocketAddress?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        // A leading '@' names an abstract socket (UnixSocketAddress).
        address = path.flatMap(UnixSocketAddress.init(path:))
        guard address != nil else {
            fd = -1
            return
        }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// The watchdog interval systemd asked for, when it is meant for this process.
    public static func watchdogInterval(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Duration? {
        guard let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() { return nil }
        return .microseconds(Int64(usec))
    }

    /// Sends without ever waiting: the engine calls this, and a receiver that stopped reading
    /// (systemd busy, or a test's socket nobody drains) once held the engine in sendto(), so that
    /// self-healing and the control socket stopped. A message the socket has no room for is
    /// dropped and false returned; the caller logs it. Every message rampartd sends is a state
    /// that a later one repeats (STATUS, READY after each reload, the next WATCHDOG ping).
    @discardableResult
    public func notify(_ message: String) -> Bool {
        guard fd >= 0, let address else { return true }
        let data = Array(message.utf8)
        let sent = address.withSockaddr { sendto(fd, data, data.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, $1) }
        return sent >= 0
    }
}
