import FoundationEssentials
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// How rampartd and `rampart domain` reach etcd (rampartd.conf's etcd_* keys).
public struct EtcdSettings: Sendable, Equatable {
    /// `https://HOST:PORT` (or `http://` for a cluster without TLS), tried in turn.
    public var endpoints: [String]
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    /// etcd RBAC through the gateway is by user and password token (docs/fleet.md).
    public var user: String?
    public var password: String?
    /// Seconds for one unary request.
    public var requestTimeout: Double

    public init(
        endpoints: [String], caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
        user: String? = nil, password: String? = nil, requestTimeout: Double = 3
    ) {
        self.endpoints = endpoints
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.user = user
        self.password = password
        self.requestTimeout = requestTimeout
    }
}

public struct EtcdError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// No endpoint answered.
        case unreachable
        /// Authentication or permission refused.
        case denied
        /// The revision asked for is compacted away.
        case compacted
        /// etcd answered with an error.
        case server
        /// etcd's answer could not be read.
        case badReply
        /// The settings (certificate files) cannot be used.
        case settings
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "etcd \(kind.rawValue): \(message)" }
}

public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    public var lease: Int64

    init(_ raw: RawKeyValue) throws(EtcdError) {
        guard let key = unbase64(raw.key), let value = unbase64(raw.value) else {
            throw EtcdError(.badReply, "a key or value is not base64")
        }
        self.key = String(decoding: key, as: UTF8.self)
        self.value = value
        createRevision = raw.create_revision?.value ?? 0
        modRevision = raw.mod_revision?.value ?? 0
        version = raw.version?.value ?? 0
        lease = raw.lease?.value ?? 0
    }

    public var text: String { String(decoding: value, as: UTF8.self) }
}

public enum EtcdEvent: Sendable, Equatable {
    case put(EtcdKeyValue)
    case delete(key: String, revision: Int64)
}

/// One message of a watch: its events, or only a new revision (a progress notification).
public struct EtcdWatchBatch: Sendable {
    public var revision: Int64
    public var events: [EtcdEvent]
}

/// etcd v3 through its JSON gateway (`GatewayHTTP`: TLS with client certificates, streaming
/// bodies for watch). One endpoint is used until it fails; then the next is tried.
public final class EtcdClient: Sendable {
    public let settings: EtcdSettings
    private let http: GatewayHTTP
    private struct State {
        var endpoint = 0
        var token: String?
    }
    private let state = NIOLockedValueBox(State())

    public init(settings: EtcdSettings) throws(EtcdError) {
        guard !settings.endpoints.isEmpty else { throw EtcdError(.settings, "no etcd endpoint is configured") }
        for e in settings.endpoints where !(e.hasPrefix("https://") || e.hasPrefix("http://")) {
            throw EtcdError(.settings, "endpoint '\(e)' is not http(s)://HOST:PORT")
        }
        self.settings = settings
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = settings.caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
            if let cert = settings.certificateFile {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            }
            if let key = settings.keyFile {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
        } catch {
            throw EtcdError(.settings, "TLS files: \(error)")
        }
        if (settings.certificateFile == nil) != (settings.keyFile == nil) {
            throw EtcdError(.settings, "a client certificate needs its key, and a key its certificate")
        }
        // A connection per request, connected within 2 s and never retried: a dead endpoint fails
        // fast so the next is tried.
        do {
            http = try GatewayHTTP(tls: tls, needed: settings.endpoints.contains { $0.hasPrefix("https://") })
        } catch {
            throw EtcdError(.settings, "TLS settings: \(error)")
        }
    }

    /// Nothing to release: each request's connection closes with it (kept for the callers' symmetry).
    public func shutdown() async {}

    // MARK: KV

    /// The key (or every key under it with `prefix`) at `revision` (nil: the newest).
    public func range(
        _ key: String, prefix: Bool = false, revision: Int64? = nil
    ) async throws(EtcdError) -> (kvs: [EtcdKeyValue], revision: Int64) {
        let request = RangeRequest(
            key: base64(key), range_end: prefix ? base64(Self.prefixEnd(key)) : nil,
            revision: revision.map(I64.init), limit: nil, keys_only: nil)
        let reply: RangeReply = try await call("/v3/kv/range", request)
        var out: [EtcdKeyValue] = []
        for raw in reply.kvs ?? [] { out.append(try EtcdKeyValue(raw)) }
        return (out, reply.header?.revision?.value ?? 0)
    }

    /// Writes the key; returns the revision of the write.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64? = nil) async throws(EtcdError) -> Int64 {
        let reply: PutReply = try await call(
            "/v3/kv/put", PutRequest(key: base64(key), value: base64(value), lease: lease.map(I64.init)))
        return reply.header?.revision?.value ?? 0
    }

    /// Writes the key only if its mod_revision is still `expected` (0: the key must not exist).
    /// Returns nil when someone else wrote it first, else the revision of the write.
    public func put(_ key: String, _ value: [UInt8], ifModRevision expected: Int64) async throws(EtcdError) -> Int64? {
        let request = TxnRequest(
            compare: [TxnCompare(key: base64(key), result: "EQUAL", target: "MOD", mod_revision: I64(expected))],
            success: [TxnOperation(request_put: PutRequest(key: base64(key), value: base64(value), lease: nil))],
            failure: [])
        let reply: TxnReply = try await call("/v3/kv/txn", request)
        return reply.succeeded == true ? reply.header?.revision?.value ?? 0 : nil
    }

    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws(EtcdError) -> Int64 {
        let reply: DeleteRangeReply = try await call(
            "/v3/kv/deleterange",
            DeleteRangeRequest(key: base64(key), range_end: prefix ? base64(Self.prefixEnd(key)) : nil))
        return reply.deleted?.value ?? 0
    }

    // MARK: Leases

    public func grantLease(ttl: Int64) async throws(EtcdError) -> Int64 {
        let reply: LeaseGrantReply = try await call("/v3/lease/grant", LeaseGrantRequest(TTL: I64(ttl), ID: I64(0)))
        guard let id = reply.ID?.value, id != 0 else { throw EtcdError(.server, reply.error ?? "no lease granted") }
        return id
    }

    /// Renews the lease; returns its remaining TTL, 0 when it has expired.
    public func keepAlive(lease: Int64) async throws(EtcdError) -> Int64 {
        // The gateway maps the keepalive stream to one request and a streamed reply: read its first object.
        let line = try await firstLine("/v3/lease/keepalive", LeaseIDRequest(ID: I64(lease)))
        guard let reply = try? JSONDecoder().decode(LeaseKeepAliveReply.self, from: Data(line)) else {
            throw EtcdError(.badReply, "lease keepalive: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        return reply.result?.TTL?.value ?? 0
    }

    public func revokeLease(_ lease: Int64) async throws(EtcdError) {
        let _: PutReply = try await call("/v3/lease/revoke", LeaseIDRequest(ID: I64(lease)))
    }

    // MARK: Watch

    /// Every change of the key (or prefix) from `startRevision` on. The stream ends with an error
    /// when the connection is lost (`.unreachable`) or the revision is compacted (`.compacted`);
    /// the caller re-reads and watches again from the revision it has. A message longer than
    /// `maximumMessageBytes` (a value far over the domain script limit) ends it with `.badReply`
    /// before anything of it is decoded.
    public func watch(
        _ key: String, prefix: Bool = false, from startRevision: Int64,
        maximumMessageBytes: Int = EtcdClient.maximumWatchMessageBytes
    ) -> AsyncThrowingStream<EtcdWatchBatch, any Error> {
        let body = WatchCreate(
            create_request: .init(
                key: base64(key), range_end: prefix ? base64(Self.prefixEnd(key)) : nil,
                start_revision: I64(startRevision), progress_notify: true))
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await self.open("/v3/watch", body, deadline: .now() + .hours(1))
                    var lines = WatchLines(maximum: maximumMessageBytes)
                    for try await chunk in response.body {
                        for line in try lines.add(chunk.readableBytesView) {
                            if let batch = try Self.watchBatch(line) { continuation.yield(batch) }
                        }
                    }
                    if let rest = lines.rest, let batch = try Self.watchBatch(rest) { continuation.yield(batch) }
                    continuation.finish(throwing: EtcdError(.unreachable, "the watch stream ended"))
                } catch let error as EtcdError {
                    continuation.finish(throwing: error)
                } catch {
                    continuation.finish(throwing: EtcdError(.unreachable, "watch: \(error)"))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// A domain script is at most 1 MiB; its event is base64 in JSON, with the key and revisions.
    public static let maximumWatchMessageBytes = 3 << 20

    static func watchBatch(_ line: [UInt8]) throws(EtcdError) -> EtcdWatchBatch? {
        guard line.contains(where: { $0 > 0x20 }) else { return nil }
        guard let reply = try? JSONDecoder().decode(WatchReply.self, from: Data(line)) else {
            throw EtcdError(.badReply, "watch: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        if let error = reply.error { throw Self.classify(error, status: 200) }
        guard let result = reply.result else { return nil }
        if let compacted = result.compact_revision?.value, compacted > 0 {
            throw EtcdError(.compacted, "revision compacted (now \(compacted))")
        }
        if result.canceled == true {
            throw EtcdError(.server, "watch canceled: \(result.cancel_reason ?? "no reason given")")
        }
        var events: [EtcdEvent] = []
        for e in result.events ?? [] {
            guard let raw = e.kv else { continue }
            let kv = try EtcdKeyValue(raw)
            events.append(e.type == "DELETE" ? .delete(key: kv.key, revision: kv.modRevision) : .put(kv))
        }
        return EtcdWatchBatch(revision: result.header?.revision?.value ?? 0, events: events)
    }

    /// The first key after every key that starts with `key`: etcd's range_end for a prefix.
    public static func prefixEnd(_ key: String) -> [UInt8] {
        var bytes = Array(key.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]
    }

    // MARK: Transport

    private func call<Request: Encodable, Reply: Decodable>(
        _ path: String, _ body: Request
    ) async throws(EtcdError) -> Reply {
        let deadline = NIODeadline.now() + .milliseconds(Int64(settings.requestTimeout * 1000))
        let response = try await open(path, body, deadline: deadline)
        let bytes: ByteBuffer
        do {
            bytes = try await response.collect(upTo: 16 << 20)
        } catch {
            throw EtcdError(.unreachable, "\(path): \(error)")
        }
        do {
            return try JSONDecoder().decode(Reply.self, from: Data(bytes.readableBytesView))
        } catch {
            throw EtcdError(
                .badReply, "\(path): \(String(decoding: bytes.readableBytesView.prefix(200), as: UTF8.self))")
        }
    }

    private func firstLine<Request: Encodable>(_ path: String, _ body: Request) async throws(EtcdError) -> [UInt8] {
        let deadline = NIODeadline.now() + .milliseconds(Int64(settings.requestTimeout * 1000))
        let response = try await open(path, body, deadline: deadline)
        var pending: [UInt8] = []
        do {
            for try await chunk in response.body {
                pending += chunk.readableBytesView
                if let nl = pending.firstIndex(of: 0x0A) { return Array(pending[..<nl]) }
            }
        } catch {
            throw EtcdError(.unreachable, "\(path): \(error)")
        }
        return pending
    }

    /// Sends one request to the current endpoint, moving on to the next when one cannot be
    /// reached; authenticates first (and again when the token expired) when a user is set.
    private func open<Request: Encodable>(
        _ path: String, _ body: Request, deadline: NIODeadline
    ) async throws(EtcdError) -> GatewayResponse {
        let payload: [UInt8]
        do { payload = Array(try JSONEncoder().encode(body)) } catch {
            throw EtcdError(.badReply, "cannot encode \(path): \(error)")
        }
        var lastError = EtcdError(.unreachable, "no endpoint tried")
        var reauthenticated = false
        var attempts = 0
        var electing = false
        let started = NIODeadline.now()
        // Every endpoint once (and once more); while the cluster elects a leader, until the deadline.
        while attempts < settings.endpoints.count + 1 || (electing && NIODeadline.now() < deadline) {
            attempts += 1
            if electing { try? await Task.sleep(for: .milliseconds(100)) }
            let (index, cachedToken) = state.withLockedValue { ($0.endpoint, $0.token) }
            let endpoint = settings.endpoints[index % settings.endpoints.count]
            do throws(EtcdError) {
                var token = cachedToken
                if settings.user != nil, token == nil {
                    token = try await authenticate(endpoint, deadline: deadline)
                    state.withLockedValue { $0.token = token }
                }
                let response = try await send(endpoint + path, payload, token: token, deadline: deadline)
                if response.status == 200 { return response }
                let error = await Self.refusal(response, path)
                if error.message.contains("invalid auth token") || error.message.contains("token"),
                    settings.user != nil, !reauthenticated
                {
                    reauthenticated = true
                    state.withLockedValue { $0.token = nil }
                    attempts -= 1
                    continue
                }
                // A member without quorum or a leader answers so; another member may do better.
                if Self.transient(error.message) {
                    electing = true
                    lastError = EtcdError(.unreachable, "\(endpoint): \(error.message)")
                    state.withLockedValue { $0.endpoint = index + 1 }
                    continue
                }
                throw error
            } catch {
                guard error.kind == .unreachable else { throw error }
                if Self.transient(error.message) { electing = true }
                lastError = error
                // The token stays: etcd's tokens hold on every member (a refused one is replaced above),
                // and a login during an election is one more request through raft.
                state.withLockedValue { $0.endpoint = index + 1 }
            }
        }
        let tenths = (NIODeadline.now().uptimeNanoseconds - started.uptimeNanoseconds) / 100_000_000
        throw EtcdError(
            .unreachable,
            "\(lastError.message) (\(attempts) attempts in \(tenths / 10).\(tenths % 10) s; "
                + "check the members with `etcdctl endpoint health`)")
    }

    /// The error a reply other than 200 carries (etcd's gateway says it in JSON).
    private static func refusal(_ response: GatewayResponse, _ path: String) async -> EtcdError {
        let text = try? await response.collect(upTo: 1 << 16)
        return (text.flatMap { try? JSONDecoder().decode(GatewayError.self, from: Data($0.readableBytesView)) })
            .map { classify($0, status: response.status) }
            ?? EtcdError(.server, "\(path): HTTP \(response.status)")
    }

    /// What a member answers while the cluster has no leader or is electing one: worth asking again.
    static func transient(_ message: String) -> Bool {
        ["no leader", "leader changed", "timed out", "unhealthy", "too many requests"].contains { message.contains($0) }
    }

    private func authenticate(_ endpoint: String, deadline: NIODeadline) async throws(EtcdError) -> String {
        let payload: [UInt8]
        do {
            payload = Array(
                try JSONEncoder().encode(
                    AuthenticateRequest(name: settings.user ?? "", password: settings.password ?? "")))
        } catch { throw EtcdError(.badReply, "cannot encode the authentication request") }
        let response = try await send(endpoint + "/v3/auth/authenticate", payload, token: nil, deadline: deadline)
        let bytes: ByteBuffer
        do { bytes = try await response.collect(upTo: 1 << 16) } catch {
            throw EtcdError(.unreachable, "\(endpoint): \(error)")
        }
        guard response.status == 200 else {
            let error = try? JSONDecoder().decode(GatewayError.self, from: Data(bytes.readableBytesView))
            if let message = error?.message, Self.transient(message) {
                throw EtcdError(.unreachable, "\(endpoint): \(message)")
            }
            // The password is never part of a message.
            throw EtcdError(
                .denied,
                "user '\(settings.user ?? "")' was refused: \(error?.message ?? "HTTP \(response.status) \(String(decoding: bytes.readableBytesView.prefix(200), as: UTF8.self))")"
            )
        }
        guard
            let token = (try? JSONDecoder().decode(AuthenticateReply.self, from: Data(bytes.readableBytesView)))?.token
        else {
            throw EtcdError(.badReply, "authentication gave no token")
        }
        return token
    }

    private func send(
        _ url: String, _ payload: [UInt8], token: String?, deadline: NIODeadline
    ) async throws(EtcdError) -> GatewayResponse {
        do {
            return try await http.post(url, payload, token: token, deadline: deadline)
        } catch {
            throw EtcdError(.unreachable, "\(url): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOSSLError { return "TLS: \(e)" }
        if let e = error as? BoringSSLError { return "TLS: \(e)" }
        return "\(error)"
    }

    static func classify(_ e: GatewayError, status: Int) -> EtcdError {
        let message = e.message ?? e.error ?? "HTTP \(status)"
        if message.contains("compacted") { return EtcdError(.compacted, message) }
        if message.contains("permission denied") || message.contains("authentication failed")
            || message.contains("user name is empty")
            || e.code == 7 || e.code == 16
        {
            return EtcdError(.denied, message)
        }
        return EtcdError(.server, message)
    }
}

/// The watch stream's newline-delimited JSON messages, cut from the chunks as they come: each
/// byte is looked at once (a 30 MB message no longer takes minutes of rescanning), and a message
/// longer than `maximum` is refused before it is complete.
struct WatchLines {
    let maximum: Int
    private var pending: [UInt8] = []
    /// How much of `pending` holds no newline.
    private var scanned = 0

    init(maximum: Int) { self.maximum = maximum }

    mutating func add(_ bytes: some Collection<UInt8>) throws(EtcdError) -> [[UInt8]] {
        pending.append(contentsOf: bytes)
        var lines: [[UInt8]] = []
        var start = 0
        while let nl = pending[scanned...].firstIndex(of: 0x0A) {
            lines.append(Array(pending[start..<nl]))
            start = nl + 1
            scanned = start
        }
        scanned = pending.count
        if start > 0 {
            pending.removeFirst(start)
            scanned -= start
        }
        guard pending.count <= maximum else {
            throw EtcdError(
                .badReply,
                "a watch message of more than \(maximum) bytes (the domain script limit is 1 MiB): refused unread")
        }
        return lines
    }

    /// What is left when the stream ends.
    var rest: [UInt8]? { pending.isEmpty ? nil : pending }
}
