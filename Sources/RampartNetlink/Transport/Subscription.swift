import CNetfilter
import Glibc
import RampartSystem
import RampartSyscall

/// The receive loop of a netlink multicast subscription (nftables or route notifications): waits
/// in poll on the socket and `wakeup`, hands each datagram to `datagram`, reports a receive-buffer
/// overrun (ENOBUFS: notifications were lost) to `overrun`, returns when the wakeup is stopped and
/// throws, with the errno, when the socket fails. `receiving` brackets each receive and the
/// handling of what it got (true before, false after), so another thread can tell a drained,
/// idle socket from one whose last datagram is still being handled.
func receiveNotifications(fd: Int32, bufferSize: Int, until wakeup: Wakeup, what: String, receiving: (Bool) -> Void = { _ in },
                          overrun: () -> Void, datagram: ([UInt8]) -> Void) throws(NetlinkError) {
    var buffer = [UInt8](repeating: 0, count: bufferSize)
    while true {
        do {
            guard try wakeup.waitReadable(fd) else { return }
        } catch {
            throw NetlinkError(error.description, errno: error.errno)
        }
        receiving(true)
        defer { receiving(false) }
        let (n, code) = Syscall.uninterrupted { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } }
        if n < 0 {
            if code == EAGAIN { continue }
            if code == ENOBUFS {
                overrun()
                continue
            }
            throw .system("receiving \(what)", code)
        }
        datagram(Array(buffer[0..<n]))
    }
}
