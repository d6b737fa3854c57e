import Glibc
import RampartSyscall

/// Runs a program (found on PATH) and hands its standard output to `line`, one line at a time,
/// as it comes: `rampart logs` reads `journalctl -o json`, `--follow` included. Returns the exit
/// status, or nil when the program could not be started.
public enum Subprocess {
    public static func lines(_ arguments: [String], line: (Substring) -> Void) -> Int32? {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { return nil }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ)
        close(pipeFDs[1])
        guard spawned == 0 else {
            close(pipeFDs[0])
            return nil
        }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let (n, _) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            }
            if n <= 0 { break }
            pending += buffer[0..<n]
            var start = 0
            while let nl = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                line(Substring(decoding: pending[start..<nl], as: UTF8.self))
                start = nl + 1
            }
            pending.removeFirst(start)
        }
        close(pipeFDs[0])
        if !pending.isEmpty { line(Substring(decoding: pending, as: UTF8.self)) }
        var status: Int32 = 0
        _ = Syscall.uninterrupted { waitpid(pid, &status, 0) }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
