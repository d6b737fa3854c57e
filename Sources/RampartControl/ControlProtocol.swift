import FoundationEssentials
#if canImport(Glibc)
    import Glibc
    import RampartSyscall
#endif

/// What a request asks for. The wire carries the raw value in `op`.
public enum ControlOperation: String, Codable, Sendable, CaseIterable {
    case status, netsh, exec, `import`, active, counters, dump, dynamic, explain, metrics, monitor, reload, confirm
}

/// Why a request failed, for programs (the CLI's exit status and message form): `error` is for people.
public enum ControlErrorCode: String, Codable, Sendable, CaseIterable {
    /// Not a request: bad JSON, a bad field value, a missing field.
    case badRequest = "bad-request"
    /// `op` names no operation this daemon knows.
    case unknownOperation = "unknown-operation"
    /// The commands did not parse or run; `error` is the diagnostic (`FILE:LINE:COL: error: …`).
    case script
    /// Not allowed for the caller (group members query only; others nothing).
    case denied
    /// A change applied with --confirm is waiting: no other change until it is confirmed or rolled back.
    case pendingConfirmation = "pending-confirmation"
    /// `confirm` with nothing waiting.
    case nothingToConfirm = "nothing-to-confirm"
    /// The store could not be read or written.
    case store
    /// nf_tables refused the transaction, or could not be read.
    case kernel
    /// The request or its reply is over a size limit.
    case tooLarge = "too-large"
    /// The whole request did not arrive in time.
    case timeout
    /// Too many connections (in all, or from this user).
    case busy
    /// rampartd is stopping.
    case stopping
    /// The configuration could not be reloaded.
    case config
    /// The change would cut an established SSH session (the admin's own, or any to a local port
    /// 22); nothing was changed. `--confirm` or `--force` apply it.
    case wouldCutSession = "would-cut-session"
    /// The change was applied, but charon could not take its negotiate filters: their clear
    /// traffic is dropped and no SA carries it yet.
    case ipsec
}

/// A request whose `op` this version does not know (decoded, so the reply can say which).
public struct UnknownOperation: Error, Sendable {
    public var name: String
}

/// One request on the control socket: a JSON object on one line (docs/control-protocol.md).
public struct ControlRequest: Codable, Sendable, Equatable {
    public var op: ControlOperation
    /// `netsh`: the command words as typed after `rampart` (`["static", "add", "policy", "name=X"]`);
    /// `explain`: the packet's words (`["in", "tcp", "198.51.100.7:51000", "->", "me:3389"]`).
    public var args: [String]?
    /// `exec`/`import`: the file name used in diagnostics, and its text.
    public var name: String?
    public var script: String?
    public var dryRun: Bool?
    /// `exec`: roll back unless `confirm` arrives within this many seconds.
    public var confirmSeconds: Int?
    /// `import`: batch variables.
    public var defines: [String: String]?
    /// Static commands start in this store location (`local` or `persistent`).
    public var location: String?
    /// The client's directory, for relative `exportpolicy`/`importpolicy` paths.
    public var workingDirectory: String?
    /// Changes: the SSH sessions the client runs in (`SSH_CONNECTION` values), which the change
    /// must not cut; and `force`, to apply it even so.
    public var sessions: [String]?
    public var force: Bool?

    enum CodingKeys: String, CodingKey {
        case op, args, name, script, dryRun, confirmSeconds, defines, location, workingDirectory, sessions, force
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try c.decode(String.self, forKey: .op)
        guard let op = ControlOperation(rawValue: raw) else { throw UnknownOperation(name: raw) }
        self.op = op
        args = try c.decodeIfPresent([String].self, forKey: .args)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        script = try c.decodeIfPresent(String.self, forKey: .script)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun)
        confirmSeconds = try c.decodeIfPresent(Int.self, forKey: .confirmSeconds)
        defines = try c.decodeIfPresent([String: String].self, forKey: .defines)
        location = try c.decodeIfPresent(String.self, forKey: .location)
        workingDirectory = try c.decodeIfPresent(String.self, forKey: .workingDirectory)
        sessions = try c.decodeIfPresent([String].self, forKey: .sessions)
        force = try c.decodeIfPresent(Bool.self, forKey: .force)
    }

    public init(
        op: ControlOperation, args: [String]? = nil, name: String? = nil, script: String? = nil, dryRun: Bool? = nil,
        confirmSeconds: Int? = nil, defines: [String: String]? = nil, location: String? = nil,
        workingDirectory: String? = FileManager.default.currentDirectoryPath
    ) {
        self.op = op
        self.args = args
        self.name = name
        self.script = script
        self.dryRun = dryRun
        self.confirmSeconds = confirmSeconds
        self.defines = defines
        self.location = location
        self.workingDirectory = workingDirectory
    }
}

/// A file a command produced (`exportpolicy`): the client writes it, as the user who asked.
public struct ControlFile: Codable, Sendable, Equatable {
    public var path: String
    public var contents: String

    public init(path: String, contents: String) {
        self.path = path
        self.contents = contents
    }
}

/// The reply: one JSON object on one line.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    /// Why the request failed (nothing was changed).
    public var error: String?
    /// The kind of failure, for programs.
    public var code: ControlErrorCode?
    /// Warnings and notes, each rendered `FILE:LINE:COL: warning: …`.
    public var diagnostics: [String]
    /// Output for people.
    public var text: String
    /// The same output as a JSON document, for `--json`.
    public var json: String?
    /// Files for the client to write.
    public var files: [ControlFile]?
    /// A change: host names its filters use that the store's did not, for the client to check
    /// that they resolve (it warns about those that do not).
    public var hostNames: [String]?

    public init(
        ok: Bool, error: String? = nil, code: ControlErrorCode? = nil, diagnostics: [String] = [], text: String = "",
        json: String? = nil
    ) {
        self.ok = ok
        self.error = error
        self.code = code
        self.diagnostics = diagnostics
        self.text = text
        self.json = json
    }

    public static func failure(
        _ code: ControlErrorCode, _ message: String, diagnostics: [String] = []
    ) -> ControlResponse {
        ControlResponse(ok: false, error: message, code: code, diagnostics: diagnostics)
    }
}

public enum ControlCodec {
    public static func encodeLine<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try! encoder.encode(value)) + Data([0x0a])
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: Data) throws -> T {
        try JSONDecoder().decode(type, from: line)
    }
}

/// Where the control socket is: `--socket`, else `RAMPART_SOCKET`, else /run/rampart/control.sock.
public func controlSocketPath(
    option: String?, environment: [String: String] = ProcessInfo.processInfo.environment
) -> String {
    option ?? environment["RAMPART_SOCKET"] ?? "/run/rampart/control.sock"
}

/// A blocking client for one request. Used by the `rampart` command.
public enum ControlClient {
    public enum Failure: Error, CustomStringConvertible {
        /// Nobody listens at the path: the daemon is not running.
        case notRunning(String)
        case denied(String)
        case broken(String)

        public var description: String {
            switch self {
            case .notRunning(let m), .denied(let m), .broken(let m): return m
            }
        }
    }

    public static func send(
        _ request: ControlRequest, to path: String, timeoutSeconds: Int = 120
    ) throws(Failure) -> ControlResponse {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .broken("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let address = UnixSocketAddress(path: path) else { throw .broken("socket path too long: \(path)") }
        try connectTo(address, fd, path)
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = ControlCodec.encodeLine(request)
        // MSG_NOSIGNAL: a daemon that closes early (a request over its limit) must not kill us
        // with SIGPIPE; its reply, sent before it closed, is still there to read.
        let sendError = sendAll(line, fd)
        if sendError != 0 && sendError != EPIPE && sendError != ECONNRESET {
            throw .broken("cannot send the request to rampartd: \(String(cString: strerror(sendError)))")
        }
        var reply = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        // Only the bytes just read are searched for the newline: linear in the reply's size.
        var end: Int?
        while end == nil {
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if n < 0 {
                if code == ECONNRESET && sendError != 0 { break }
                throw .broken("no reply from rampartd: \(String(cString: strerror(code)))")
            }
            if n == 0 { break }
            if let nl = buffer[0..<n].firstIndex(of: 0x0a) { end = reply.count + nl }
            reply.append(contentsOf: buffer[0..<n])
        }
        guard let end else {
            if sendError != 0 {
                throw .broken(
                    "rampartd closed the connection while the request was sent (\(String(cString: strerror(sendError)))): is it over the daemon's size limit?"
                )
            }
            throw .broken("rampartd closed the connection without a reply")
        }
        do {
            return try ControlCodec.decode(ControlResponse.self, from: reply.prefix(end))
        } catch {
            throw .broken("unreadable reply from rampartd: \(error)")
        }
    }

    static func connectTo(_ address: UnixSocketAddress, _ fd: Int32, _ path: String) throws(Failure) {
        guard address.withSockaddr({ connect(fd, $0, $1) }) != 0 else { return }
        let code = errno
        if code == ENOENT || code == ECONNREFUSED {
            throw .notRunning("rampartd is not running (no listener at \(path))")
        }
        if code == EACCES || code == EPERM {
            throw .denied("permission denied on \(path): only root and members of group rampart may use rampartd")
        }
        throw .broken("cannot connect to \(path): \(String(cString: strerror(code)))")
    }

    /// Sends every byte; the errno that stopped it, 0 when all went.
    static func sendAll(_ line: Data, _ fd: Int32) -> Int32 {
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let (n, code) = Syscall.uninterrupted {
                    Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                }
                if n < 0 { return code }
                offset += n
            }
            return 0
        }
    }
}
