import Foundation
import CRampartTestKit
import Glibc
import RampartSyscall

/// A child process for tests and benchmarks, started with posix_spawn and reaped with waitpid on
/// its own pid. Foundation's `Process` was the cause of a CI hang: its SIGCHLD monitor missed an
/// exit and `waitUntilExit()` waited on a zombie for an hour. Here nothing depends on a signal
/// arriving, every wait can be bounded, and the child starts clean: default signal dispositions,
/// an empty signal mask (the test runner's threads block SIGTERM), no inherited descriptors
/// beyond 0, 1 and 2, and a process group of its own so a timeout kills what it started.
public final class ChildProcess: @unchecked Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream {
        case inherit
        case null
        /// The child gets the pipe's far end; the parent's copy of that end is closed after the spawn.
        case pipe(Pipe)
        case file(FileHandle)
    }

    public let processIdentifier: pid_t
    public let arguments: [String]
    private let lock = NSLock()
    private var status: Int32?

    public init(
        _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        precondition(!arguments.isEmpty)
        self.arguments = arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentCloses: [FileHandle] = []
        for (fd, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .pipe(let pipe):
                let far = fd == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                posix_spawn_file_actions_adddup2(&actions, far.fileDescriptor, fd)
                parentCloses.append(far)
            case .file(let handle): posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, fd)
            }
        }
        rampart_spawn_closefrom(&actions, 3)
        if let directory { rampart_spawn_chdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, &envp)
        for handle in parentCloses { try? handle.close() }
        guard result == 0 else {
            throw ChildProcessError(message: "cannot start \(arguments[0]): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
    }

    /// Reaps the child if it has exited; never blocks.
    private func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        let r = waitpid(processIdentifier, &raw, WNOHANG)
        if r == processIdentifier {
            // As Foundation reports it: the exit code, or the number of the signal that ended it.
            let signal = raw & 0x7f
            status = signal == 0 ? (raw >> 8) & 0xff : signal
        } else if r < 0 && errno == ECHILD {
            status = -1
        }
        return status
    }

    public var isRunning: Bool { poll() == nil }

    /// The exit code, or the signal number when a signal ended it; waits for the exit.
    public var terminationStatus: Int32 {
        waitUntilExit()
        return poll() ?? -1
    }

    /// Waits at most `seconds`; true when the child has exited.
    @discardableResult
    public func wait(timeout seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var pause: UInt32 = 200
        while poll() == nil {
            if Date() >= deadline { return false }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        return true
    }

    public func waitUntilExit() { _ = wait(timeout: .infinity) }

    public func signal(_ sig: Int32) { if isRunning { kill(processIdentifier, sig) } }

    /// SIGKILL to the child's process group (everything it started that stayed in it), then reaps.
    public func killGroup() {
        if isRunning {
            kill(-processIdentifier, SIGKILL)
            kill(processIdentifier, SIGKILL)
        }
        waitUntilExit()
    }

    /// Runs to completion with the output captured, bounded by `timeout`: on expiry the process
    /// group is killed and an error says so. Output a daemonised grandchild keeps open does not
    /// hold the caller: once the child has exited, what is buffered is read and the rest ignored.
    public static func run(
        _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
        directory: String? = nil, timeout: Double = 600
    ) throws -> (status: Int32, out: String, err: String) {
        let out = Pipe(), err = Pipe(), inp = Pipe()
        let child = try ChildProcess(
            arguments, environment: environment, directory: directory,
            stdin: input == nil ? .null : .pipe(inp), stdout: .pipe(out), stderr: .pipe(err))
        if let input {
            let writer = inp.fileHandleForWriting
            // A writer of its own: a child that does not read its input must not block us.
            let thread = Thread {
                writer.write(Data(input.utf8))
                try? writer.close()
            }
            thread.start()
        } else {
            try? inp.fileHandleForWriting.close()
        }
        let reader = OutputReader([out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor])
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while !reader.finished {
            if !child.isRunning {
                reader.drain()
                break
            }
            if Date() >= deadline {
                timedOut = true
                break
            }
            reader.read(waitingMilliseconds: 50)
        }
        if timedOut {
            child.killGroup()
            reader.drain()
        } else {
            if !child.wait(timeout: max(0, deadline.timeIntervalSinceNow)) {
                timedOut = true
                child.killGroup()
            }
        }
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        let o = String(decoding: reader.data[0], as: UTF8.self), e = String(decoding: reader.data[1], as: UTF8.self)
        if timedOut {
            throw ChildProcessError(
                message:
                    "\(arguments.joined(separator: " ")) timed out after \(Int(timeout)) s and was killed: \(e)\(o.prefix(2000))"
            )
        }
        return (child.terminationStatus, o, e)
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Reads several descriptors with poll until each reaches end of file.
final class OutputReader {
    private var fds: [Int32]
    private var open: [Bool]
    var data: [Data]

    init(_ fds: [Int32]) {
        self.fds = fds
        open = fds.map { _ in true }
        data = fds.map { _ in Data() }
    }

    var finished: Bool { !open.contains(true) }

    func read(waitingMilliseconds wait: Int32) {
        var polls = fds.enumerated().filter { open[$0.offset] }.map {
            pollfd(fd: $0.element, events: Int16(POLLIN), revents: 0)
        }
        guard !polls.isEmpty, Glibc.poll(&polls, nfds_t(polls.count), wait) > 0 else { return }
        for p in polls where p.revents != 0 {
            guard let i = fds.firstIndex(of: p.fd) else { continue }
            readOnce(i)
        }
    }

    private func readOnce(_ i: Int) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let (n, code) = Syscall.uninterrupted { Glibc.read(fds[i], &buffer, buffer.count) }
        if n > 0 { data[i].append(contentsOf: buffer[0..<n]) } else if n == 0 || code != EAGAIN { open[i] = false }
    }

    /// What is already buffered, without waiting for writers that may never close.
    func drain() {
        while !finished {
            var polls = fds.enumerated().filter { open[$0.offset] }.map {
                pollfd(fd: $0.element, events: Int16(POLLIN), revents: 0)
            }
            guard Glibc.poll(&polls, nfds_t(polls.count), 0) > 0 else { return }
            for p in polls where p.revents != 0 {
                if let i = fds.firstIndex(of: p.fd) { readOnce(i) }
            }
        }
    }
}
