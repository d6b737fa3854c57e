import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A reply of etcd's JSON gateway: its status, then its body as it arrives (a watch streams for
/// as long as the connection lives).
struct GatewayResponse: Sendable {
    var status: Int
    var body: AsyncThrowingStream<ByteBuffer, any Error>

    /// The whole body, refused past `limit` bytes.
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var out = ByteBuffer()
        for try await chunk in body {
            guard out.readableBytes + chunk.readableBytes <= limit else {
                throw GatewayHTTPError("a reply of more than \(limit) bytes")
            }
            var chunk = chunk
            out.writeBuffer(&chunk)
        }
        return out
    }
}

struct GatewayHTTPError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// HTTP/1.1 POSTs to etcd's gateway, each on a connection of its own (TLS with the client
/// certificate when the endpoint is https): what the fleet needs of an HTTP client — a few
/// requests a minute and one long watch — on NIO and NIOSSL alone. (async-http-client did it
/// before, and brought Foundation, ICU's data, swift-crypto and swift-certificates into rampartd:
/// docs/benchmarks.md, "Binary size".) Replies are never decompressed.
final class GatewayHTTP: Sendable {
    private let ssl: NIOSSLContext?
    private let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    static let connectTimeout = TimeAmount.seconds(2)

    init(tls: TLSConfiguration, needed: Bool) throws {
        ssl = needed ? try NIOSSLContext(configuration: tls) : nil
    }

    /// `https://HOST:PORT/PATH`, `http://[2001:db8::1]:2379/PATH`.
    struct Target: Equatable {
        var tls: Bool
        var host: String
        var port: Int
        var path: String

        init(tls: Bool, host: String, port: Int, path: String) {
            (self.tls, self.host, self.port, self.path) = (tls, host, port, path)
        }

        init?(_ url: String) {
            let rest: Substring
            if url.hasPrefix("https://") {
                (tls, rest) = (true, url.dropFirst(8))
            } else if url.hasPrefix("http://") {
                (tls, rest) = (false, url.dropFirst(7))
            } else {
                return nil
            }
            let authority = rest.prefix { $0 != "/" }
            path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
            let hostPart: Substring, portPart: Substring?
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                hostPart = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                portPart = after.hasPrefix(":") ? after.dropFirst() : nil
            } else if let colon = authority.lastIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            } else {
                (hostPart, portPart) = (authority, nil)
            }
            guard !hostPart.isEmpty else { return nil }
            host = String(hostPart)
            if let portPart {
                guard let p = Int(portPart), (1...65535).contains(p) else { return nil }
                port = p
            } else {
                port = tls ? 443 : 80
            }
        }

        /// An address, not a name: no SNI, and the certificate is checked against the address.
        var isAddress: Bool { host.contains(":") || host.allSatisfy { $0 == "." || $0.isASCII && $0.isNumber } }
        var hostHeader: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
    }

    /// Sends `payload` as a JSON POST and returns as soon as the reply's head has come; the body
    /// follows in the response. At `deadline` the connection is closed, whatever is pending.
    func post(_ url: String, _ payload: [UInt8], token: String?, deadline: NIODeadline) async throws -> GatewayResponse
    {
        guard let target = Target(url) else { throw GatewayHTTPError("'\(url)' is not http(s)://HOST:PORT/PATH") }
        guard !target.tls || ssl != nil else { throw GatewayHTTPError("no TLS settings for \(url)") }
        let channel = try await connect(target)
        let closer = channel.channel.eventLoop.scheduleTask(deadline: deadline) {
            channel.channel.close(promise: nil)
        }
        let (heads, head) = AsyncThrowingStream<Int, any Error>.makeStream()
        let (body, chunks) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let task = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(contentsOf: Self.request(target, payload, token: token))
                    for try await part in inbound {
                        switch part {
                        case .head(let h):
                            head.yield(Int(h.status.code))
                            head.finish()
                        case .body(let bytes):
                            chunks.yield(bytes)
                        case .end:
                            chunks.finish()
                            return
                        }
                    }
                    throw GatewayHTTPError("the connection closed before the reply ended")
                }
            } catch {
                head.finish(throwing: error)
                chunks.finish(throwing: error)
            }
            closer.cancel()
        }
        chunks.onTermination = { _ in task.cancel() }
        var iterator = heads.makeAsyncIterator()
        guard let status = try await iterator.next() else {
            task.cancel()
            throw GatewayHTTPError("the connection closed before a reply")
        }
        return GatewayResponse(status: status, body: body)
    }

    private func connect(
        _ target: Target
    ) async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        let ssl = self.ssl
        return try await ClientBootstrap(group: group)
            .connectTimeout(Self.connectTimeout)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if target.tls, let ssl {
                        let handler = try NIOSSLClientHandler(
                            context: ssl, serverHostname: target.isAddress ? nil : target.host)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
    }

    /// POST PATH HTTP/1.1 with Host, the JSON type and length, the token, `Connection: close`.
    static func request(_ target: Target, _ payload: [UInt8], token: String?) -> [HTTPClientRequestPart] {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.path)
        head.headers.add(name: "Host", value: target.hostHeader)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: "\(payload.count)")
        if let token { head.headers.add(name: "Authorization", value: token) }
        head.headers.add(name: "Connection", value: "close")
        return [.head(head), .body(.byteBuffer(ByteBuffer(bytes: payload))), .end(nil)]
    }
}
