import CRampartSystem
import FoundationEssentials
import Glibc
import RampartSyscall

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
        guard fd >= 0 else {
            throw Taken(description: "cannot create the instance lock socket: \(String(cString: strerror(errno)))")
        }
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0, listen(fd, 1) == 0 else {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw Taken(
                    description:
                        "another rampartd\(holder().map { " (pid \($0))" } ?? "") already runs in this network namespace; refusing to start a second one"
                )
            }
            throw Taken(description: "cannot take the instance lock: \(String(cString: strerror(code)))")
        }
        return Held(fd: fd)
    }

    /// `@rampartd.instance`: an abstract name, in this network namespace only.
    static let address = UnixSocketAddress(path: "@" + name)!

    /// The pid of the daemon holding the lock, from its listening socket's credentials.
    static func holder() -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard address.withSockaddr({ connect(fd, $0, $1) }) == 0 else { return nil }
        var credentials = rampart_ucred()
        var size = socklen_t(MemoryLayout<rampart_ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, rampart_so_peercred(), &credentials, &size) == 0 else { return nil }
        return credentials.pid
    }
}
