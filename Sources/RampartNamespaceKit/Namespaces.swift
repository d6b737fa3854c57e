import CRampartSystem
import Foundation
import RampartNetlink
import RampartSyscall
@_exported import RampartTestKit

/// Runs a program and captures its output, bounded by `timeout` seconds (the process group is
/// killed and an error thrown on expiry). Test and benchmark helper; never used by the product.
@discardableResult
public func sh(
    _ arguments: [String], input: String? = nil, allowFailure: Bool = false, timeout: Double = 600
) throws -> (status: Int32, out: String, err: String) {
    let result: (status: Int32, out: String, err: String)
    do {
        result = try ChildProcess.run(arguments, input: input, timeout: timeout)
    } catch let error as ChildProcessError {
        throw ShellError(message: error.message)
    }
    if result.status != 0 && !allowFailure {
        throw ShellError(
            message:
                "\(arguments.joined(separator: " ")) exited \(result.status): \(result.err)\(result.out.prefix(2000))")
    }
    return result
}

public struct ShellError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A network namespace that exists for one test: created on init, deleted by `delete()`.
/// Test addresses stay on veth links between such namespaces and never leave them.
public final class Namespace: @unchecked Sendable {
    public let name: String

    public init(_ prefix: String) throws {
        name = "rt-\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try sh(["ip", "netns", "add", name])
        try sh(["ip", "-n", name, "link", "set", "lo", "up"])
        // No duplicate address detection: a tentative link-local address delays the first IPv6
        // neighbour solicitation by about a second, which a probe would read as a drop.
        try sh([
            "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0"
        ])
    }

    public func delete() {
        _ = try? sh(["ip", "netns", "pids", name], allowFailure: true).out.split(separator: "\n").forEach { pid in
            kill(pid_t(pid) ?? 0, SIGKILL)
        }
        _ = try? sh(["ip", "netns", "delete", name], allowFailure: true)
    }

    /// Runs a command inside the namespace.
    @discardableResult
    public func run(
        _ arguments: [String], input: String? = nil, allowFailure: Bool = false
    ) throws -> (status: Int32, out: String, err: String) {
        try sh(["ip", "netns", "exec", name] + arguments, input: input, allowFailure: allowFailure)
    }

    public func nftList() throws -> String { try run(["nft", "list", "ruleset"]).out }

    /// Starts a background process inside the namespace; the caller terminates it.
    public func spawn(_ arguments: [String]) throws -> ChildProcess {
        try launch(arguments)
    }

    /// Starts a background process inside the namespace and keeps its output for `finish()`.
    public func spawnCapturing(_ arguments: [String]) throws -> CapturedProcess {
        let pipe = Pipe()
        return CapturedProcess(process: try launch(arguments, output: pipe), pipe: pipe)
    }

    /// Starts a background process inside the namespace fed through a pipe: it runs until `close()`.
    public func spawnInteractive(_ arguments: [String]) throws -> InteractiveProcess {
        let pipe = Pipe()
        return InteractiveProcess(process: try launch(arguments, input: pipe), input: pipe)
    }

    private func launch(_ arguments: [String], input: Pipe? = nil, output: Pipe? = nil) throws -> ChildProcess {
        try ChildProcess(
            ["/usr/sbin/ip", "netns", "exec", name] + arguments,
            stdin: input.map { .pipe($0) } ?? .null, stdout: output.map { .pipe($0) } ?? .null)
    }

    /// An nftables notification listener whose socket lives in this namespace.
    public func monitor() throws -> NftablesMonitor {
        try inside { try NftablesMonitor(table: "rampart") }
    }

    /// A socket bound to NFLOG `group` of this namespace.
    public func nflog(group: UInt16) throws -> NflogSocket {
        try inside { try NflogSocket(group: group) }
    }

    /// An nf_tables client whose socket lives in this namespace.
    public func client() throws -> NftablesClient {
        try inside { try NftablesClient() }
    }

    /// Creates something (a netlink socket) on a short-lived thread that has joined the namespace
    /// and then exits, so no pooled thread is ever left in another namespace; a netlink socket
    /// keeps the namespace it was created in.
    func inside<T>(_ make: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let path = "/run/netns/\(name)"
        let thread = Thread {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            guard fd >= 0, rampart_enter_netns(fd) == 0 else {
                box.finish(.failure(ShellError(message: "cannot enter \(path)")))
                return
            }
            do { box.finish(.success(try make())) } catch { box.finish(.failure(error)) }
        }
        thread.start()
        return try box.wait().get()
    }
}

final class ResultBox<T>: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?
    func finish(_ r: Result<T, any Error>) {
        result = r
        semaphore.signal()
    }
    func wait() -> Result<T, any Error> {
        semaphore.wait()
        return result!
    }
}

/// Two namespaces joined by a veth pair, with documentation addresses on both ends.
/// Two fresh namespaces, `PREFIX-a` with `sender` and `PREFIX-b` with `receiver`, on one veth /24;
/// the caller deletes them.
public func linkedPair(_ prefix: String, _ sender: String, _ receiver: String) throws -> (Namespace, Namespace) {
    let a = try Namespace("\(prefix)-a"), b = try Namespace("\(prefix)-b")
    do {
        try link(a, ["\(sender)/24"], b, ["\(receiver)/24"])
    } catch {
        a.delete()
        b.delete()
        throw error
    }
    return (a, b)
}

public func link(_ a: Namespace, _ aAddresses: [String], _ b: Namespace, _ bAddresses: [String]) throws {
    let ifA = "v\(UInt32.random(in: 0...0xffffff))", ifB = "v\(UInt32.random(in: 0...0xffffff))"
    try sh(["ip", "link", "add", ifA, "netns", a.name, "type", "veth", "peer", "name", ifB, "netns", b.name])
    for (ns, iface, addresses) in [(a, ifA, aAddresses), (b, ifB, bAddresses)] {
        for address in addresses {
            try sh(
                ["ip", "-n", ns.name, "addr", "add", address, "dev", iface] + (address.contains(":") ? ["nodad"] : []))
        }
        try sh(["ip", "-n", ns.name, "link", "set", iface, "up"])
    }
}

public final class CapturedProcess: @unchecked Sendable {
    let process: ChildProcess
    let pipe: Pipe

    init(process: ChildProcess, pipe: Pipe) {
        self.process = process
        self.pipe = pipe
    }

    /// Waits for the process and returns what it printed.
    public func finish() -> String {
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public final class InteractiveProcess: @unchecked Sendable {
    let process: ChildProcess
    let input: Pipe

    init(process: ChildProcess, input: Pipe) {
        self.process = process
        self.input = input
    }

    public func write(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Ends its input and waits for it to exit.
    public func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// A datagram socket playing systemd's NOTIFY_SOCKET.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    public init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard let address = UnixSocketAddress(path: path), address.withSockaddr({ bind(fd, $0, $1) }) == 0 else {
            throw ShellError(message: "cannot bind \(path)")
        }
    }

    public func receive(timeout: Double) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    /// Receives until a notification has the line `line` (READY=1, STOPPING=1), for at most
    /// `seconds`: every notification received until then, or nil if it never came.
    public func wait(for line: String, seconds: Double) -> [String]? {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while case let left = deadline.timeIntervalSinceNow, left > 0, let m = receive(timeout: left) {
            messages.append(m)
            if m.split(separator: "\n").contains(Substring(line)) { return messages }
        }
        return nil
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        unlink(path)
    }
}
