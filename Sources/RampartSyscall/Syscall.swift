import Glibc

/// An error that carries the errno a system call or the kernel returned: described the same way
/// wherever it comes from (`Supervisor.describe`: "what: reason (errno N)").
public protocol ErrnoCarrying: Error {
    /// What failed and why, without the number.
    var message: String { get }
    var errnoCode: Int32? { get }
}

/// A system call that failed: what it was for and its errno.
public struct SystemError: ErrnoCarrying, Sendable, Equatable, CustomStringConvertible {
    public var what: String
    public var errno: Int32

    public init(_ what: String, errno: Int32 = Glibc.errno) {
        self.what = what
        self.errno = errno
    }

    public var message: String { "\(what): \(String(cString: strerror(errno)))" }
    public var errnoCode: Int32? { errno }
    public var description: String { "\(message) (errno \(errno))" }
}

/// The one place a system call is retried after a signal interrupted it.
public enum Syscall {
    /// Calls `body` again while it fails with EINTR; then its result and, when that is negative,
    /// its errno (0 otherwise), for callers that handle some errors in place (EAGAIN, ENOBUFS…).
    @inlinable
    public static func uninterrupted<T: BinaryInteger>(_ body: () -> T) -> (result: T, errno: Int32) {
        while true {
            let result = body()
            guard result < 0 else { return (result, 0) }
            let code = Glibc.errno
            if code != EINTR { return (result, code) }
        }
    }

    /// Calls `body` again while it fails with EINTR; any other failure throws, named by `what`.
    @inlinable
    public static func retrying<T: BinaryInteger>(_ what: String, _ body: () -> T) throws(SystemError) -> T {
        let (result, code) = uninterrupted(body)
        guard result >= 0 else { throw SystemError(what, errno: code) }
        return result
    }
}

/// An AF_UNIX socket address for a path, or for an abstract name written with a leading `@` (as
/// systemd's NOTIFY_SOCKET does); at most 107 bytes.
public struct UnixSocketAddress: Sendable {
    private var storage = sockaddr_un()
    private var length: socklen_t = 0

    public init?(path: String) {
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        // An abstract name starts with a NUL byte and has no terminating one: its length says where it ends.
        if abstract { bytes[0] = 0 }
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: storage.sun_path) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        length =
            abstract
            ? socklen_t(MemoryLayout<sa_family_t>.size + bytes.count) : socklen_t(MemoryLayout<sockaddr_un>.size)
    }

    /// `body` gets the address as `bind`, `connect` and `sendto` take it.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafePointer(to: storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
