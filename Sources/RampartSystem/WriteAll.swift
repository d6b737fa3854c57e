import Glibc
import RampartSyscall

/// Writes all of `bytes` to `fd`, again after a short write or a signal. Returns nil, or the errno of
/// the write that failed (a write of 0 bytes counts as EIO: it would loop forever).
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    var offset = 0
    while offset < bytes.count {
        let (n, code) = Syscall.uninterrupted { write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
        if n < 0 { return code }
        if n == 0 { return EIO }
        offset += n
    }
    return nil
}
