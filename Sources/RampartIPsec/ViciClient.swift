#if canImport(Glibc)
    import Glibc
    import RampartVici
    import RampartSyscall
#endif

/// What went wrong talking to charon: the socket, the wire, or charon's own answer.
public struct ViciError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable { case unreachable, io, protocolError, refused, timeout, credentials }
    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// A blocking VICI client on charon's Unix socket (`unix:///var/run/charon.vici`). One request at a
/// time; streamed events of a command (`list-sa`, `list-policy`) are collected; registered events
/// arriving between requests are kept for `nextEvent`. Every wait is bounded.
/// One thread uses it at a time (the engine for a sync, the event service for its connection):
/// hence `@unchecked Sendable`, without a lock.
public final class ViciClient: @unchecked Sendable {
    private var fd: Int32
    private var framer = ViciFramer()
    /// Packets read but not yet taken, and registered events set aside during a command.
    private var incoming: [ViciPacket] = []
    private var events: [(name: String, message: ViciMessage)] = []
    public let path: String
    public var timeoutMilliseconds: Int32

    /// Connects; `unix://` in front of the path is accepted, as strongswan.conf writes it.
    public init(path: String, timeoutMilliseconds: Int32 = 10_000) throws(ViciError) {
        let p = path.hasPrefix("unix://") ? String(path.dropFirst(7)) : path
        self.path = p
        self.timeoutMilliseconds = timeoutMilliseconds
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ViciError(.unreachable, "socket: \(String(cString: strerror(errno)))") }
        // A failed init of a fully initialized object still runs deinit, which closes the socket:
        // closing it here too would close whatever descriptor another thread got the number of.
        guard let address = UnixSocketAddress(path: p) else {
            throw ViciError(.unreachable, "VICI socket path too long: \(p)")
        }
        guard address.withSockaddr({ connect(fd, $0, $1) }) == 0 else {
            let e = errno
            throw ViciError(
                .unreachable,
                "cannot reach charon at \(p): \(String(cString: strerror(e)))\(e == EACCES ? Self.accessHint(p) : "")")
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// charon makes its socket its own (mode 0770); rampartd under the unit is user rampart.
    static func accessHint(_ path: String) -> String {
        let name = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "\(geteuid())"
        return
            "; rampartd runs as user \(name): let it in with 'setfacl -m u:\(name):rw \(path)' after charon starts (docs/ipsec.md, \"rampartd as user rampart\")"
    }

    /// Sends a command and returns its response; `streaming` names the event charon sends for
    /// each item before the response (registered for the call, then unregistered).
    public func call(
        _ command: String, _ message: ViciMessage = ViciMessage(), streaming: String? = nil
    ) throws(ViciError) -> (response: ViciMessage, items: [ViciMessage]) {
        if let streaming { try register(streaming) }
        try send(.request(command, message))
        var items: [ViciMessage] = []
        while true {
            switch try receive() {
            case .response(let m):
                if let streaming { try unregister(streaming) }
                return (m, items)
            case .event(let name, let m) where name == streaming:
                items.append(m)
            case .event(let name, let m):
                events.append((name, m))
            case .unknownCommand:
                throw ViciError(.protocolError, "charon does not know the VICI command '\(command)'")
            case let other:
                throw ViciError(.protocolError, "unexpected VICI packet \(other) after '\(command)'")
            }
        }
    }

    /// A command whose response carries `success = yes|no` and maybe `errmsg`.
    @discardableResult
    public func command(_ command: String, _ message: ViciMessage = ViciMessage()) throws(ViciError) -> ViciMessage {
        let response = try call(command, message).response
        if let success = response.string("success"), success != "yes" {
            throw ViciError(.refused, "charon refused \(command): \(response.string("errmsg") ?? "no reason given")")
        }
        return response
    }

    public func register(_ event: String) throws(ViciError) {
        try send(.eventRegister(event))
        try awaitConfirm(event)
    }

    public func unregister(_ event: String) throws(ViciError) {
        try send(.eventUnregister(event))
        try awaitConfirm(event)
    }

    /// The next registered event, waiting at most `milliseconds` (nil: none arrived).
    public func nextEvent(milliseconds: Int32) throws(ViciError) -> (name: String, message: ViciMessage)? {
        if !events.isEmpty { return events.removeFirst() }
        if incoming.isEmpty { guard try readable(milliseconds) else { return nil } }
        switch try receive() {
        case .event(let n, let m): return (n, m)
        case let other: throw ViciError(.protocolError, "unexpected VICI packet \(other) while waiting for events")
        }
    }

    /// The descriptor, for a caller that polls it with others.
    public var descriptor: Int32 { fd }

    private func awaitConfirm(_ event: String) throws(ViciError) {
        while true {
            switch try receive() {
            case .eventConfirm: return
            case .eventUnknown: throw ViciError(.protocolError, "charon does not know the VICI event '\(event)'")
            case .event(let n, let m): events.append((n, m))
            case let other: throw ViciError(.protocolError, "unexpected VICI packet \(other) registering '\(event)'")
            }
        }
    }

    private func send(_ packet: ViciPacket) throws(ViciError) {
        let bytes: [UInt8]
        do { bytes = try packet.framed() } catch { throw ViciError(.protocolError, error.description) }
        var sent = 0
        while sent < bytes.count {
            let (n, code) = Syscall.uninterrupted {
                bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            if n < 0 { throw ViciError(.io, "writing to charon: \(String(cString: strerror(code)))") }
            sent += n
        }
    }

    private func readable(_ milliseconds: Int32) throws(ViciError) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let (rc, code) = Syscall.uninterrupted { poll(&p, 1, milliseconds) }
        if rc < 0 { throw ViciError(.io, "poll: \(String(cString: strerror(code)))") }
        return rc > 0
    }

    private func receive() throws(ViciError) -> ViciPacket {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while incoming.isEmpty {
            guard try readable(timeoutMilliseconds) else {
                throw ViciError(.timeout, "charon did not answer within \(timeoutMilliseconds) ms")
            }
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            }
            if n < 0 { throw ViciError(.io, "reading from charon: \(String(cString: strerror(code)))") }
            if n == 0 { throw ViciError(.io, "charon closed the VICI connection") }
            do { incoming += try framer.feed(buffer[0..<n]) } catch {
                throw ViciError(.protocolError, error.description)
            }
        }
        return incoming.removeFirst()
    }
}
