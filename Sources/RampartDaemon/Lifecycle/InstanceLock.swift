import CRampartSystem
import FoundationEssentials
import Glibc

/// One rampartd per network namespace: two would restore the table against each other forever.
/// The lock is an abstract Unix socket, which lives in the network namespace and dies with its
/// process: no lock file to go stale after kill -9, and no way for two daemons with different
/// configurations (other store, other socket) to miss each other.
public enum InstanceLock {
    public static let name = "rampartd.instance"

    public struct Held: Sendable {
        public let fd: Int32
    }

    public struct Taken: Error, CustomStringConvertible {
        public var description: String
    }

    public static func acquire() throws(Taken) -> Held {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Taken(description: "cannot create the instance lock socket: \(String(cString: strerror(errno)))") }
        var (address, length) = abstractAddress()
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw Taken(description: "another rampartd\(holder().map { " (pid \($0))" } ?? "") already runs in this network namespace; refusing to start a second one")
            }
            throw Taken(description: "cannot take the instance lock: \(String(cString: strerror(code)))")
        }
        return Held(fd: fd)
    }

    static func abstractAddress() -> (sockaddr_un, socklen_t) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return (address, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count))
    }

    /// The pid of the daemon holding the lock, from its listening socket's credentials.
    static func holder() -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var (address, length) = abstractAddress()
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else { return nil }
        var credentials = rampart_ucred()
        var size = socklen_t(MemoryLayout<rampart_ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, rampart_so_peercred(), &credentials, &size) == 0 else { return nil }
        return credentials.pid
    }
}
