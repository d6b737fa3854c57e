import CRampartSystem
import Glibc
import RampartSyscall
import Synchronization

/// An eventfd that reaches a thread blocked in poll: `stop()` is how a cancelled service ends its
/// blocking loop, `poke()` makes the loop look at its descriptors again. No timer, no polling.
public final class Wakeup: Sendable {
    public let fd: Int32
    private let stopped = Atomic<Bool>(false)

    public init() throws(SystemError) {
        fd = rampart_eventfd(0, rampart_efd_cloexec() | rampart_efd_nonblock())
        guard fd >= 0 else { throw SystemError("cannot create an eventfd") }
    }

    deinit { close(fd) }

    public var isStopped: Bool { stopped.load(ordering: .acquiring) }

    public func stop() {
        stopped.store(true, ordering: .releasing)
        poke()
    }

    public func poke() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Blocks until `descriptor` is readable (true) or the wakeup is stopped (false). A descriptor
    /// that is no longer open is an error (EBADF), as is a failing poll.
    public func waitReadable(_ descriptor: Int32) throws(SystemError) -> Bool {
        while true {
            if isStopped { return false }
            var fds = [
                pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            ]
            _ = try Syscall.retrying("poll") { poll(&fds, 2, -1) }
            if fds[1].revents != 0 {
                var value: UInt64 = 0
                _ = read(fd, &value, 8)
            }
            if isStopped { return false }
            if fds[0].revents & Int16(POLLNVAL) != 0 { throw SystemError("descriptor \(descriptor)", errno: EBADF) }
            // POLLERR too: the next read returns the socket's pending error.
            if fds[0].revents != 0 { return true }
        }
    }
}
