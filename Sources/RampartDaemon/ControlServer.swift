import CNetfilter
import Foundation
import Logging
import NIOCore
import NIOPosix
import RampartControl

/// The control socket: a Unix stream socket speaking one JSON request line and one JSON reply
/// line per connection (docs/control-protocol.md). Peer credentials decide what a client may do;
/// request size and idle time are bounded; a bad request gets an error reply, never a crash.
public enum ControlServer {
    public static func start(config: DaemonConfig, daemon: Daemon, logger: Logger) throws -> any Channel {
        let path = config.socket
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        // A socket file left by a previous run (kill -9) would make bind fail; nothing listens on it.
        var info = stat()
        if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let group = lookupGroup(config.controlGroup)
        let maxBytes = config.maxRequestBytes
        let timeout = TimeAmount.seconds(Int64(config.clientTimeoutSeconds))
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let credentials: EventLoopFuture<rampart_ucred?>
                if let provider = channel as? any SocketOptionProvider {
                    credentials = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(rampart_so_peercred()))
                        .map { Optional($0) }.recover { _ in nil }
                } else {
                    credentials = channel.eventLoop.makeSucceededFuture(nil)
                }
                return credentials.flatMapThrowing { credentials in
                    let peer = ControlServer.peer(credentials, controlGroup: group)
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: timeout))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestLineDecoder(maxBytes: maxBytes)))
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(daemon: daemon, peer: peer, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path)
            .wait()
        // root may change, the control group may query: the file mode lets both connect. Without
        // CAP_CHOWN (the unit grants only CAP_NET_ADMIN) the socket stays open to all local users
        // and SO_PEERCRED alone decides, refusing everyone but root and the group.
        if let gid = group?.gid, chown(path, 0, gid) == 0 {
            chmod(path, 0o660)
        } else {
            chmod(path, 0o666)
        }
        logger.info("control socket \(path) (group \(config.controlGroup)\(group == nil ? " does not exist: root only" : ""))")
        return channel
    }

    struct Group: Sendable {
        var gid: gid_t
        var members: Set<String>
    }

    static func lookupGroup(_ name: String) -> Group? {
        guard let g = getgrnam(name) else { return nil }
        var members = Set<String>()
        var p = g.pointee.gr_mem
        while let m = p?.pointee {
            members.insert(String(cString: m))
            p = p?.advanced(by: 1)
        }
        return Group(gid: g.pointee.gr_gid, members: members)
    }

    /// SO_PEERCRED: the uid/gid/pid of the connecting process, and whether it belongs to the group.
    static func peer(_ credentials: rampart_ucred?, controlGroup: Group?) -> Peer {
        guard let credentials else { return Peer(pid: 0, uid: UInt32.max, gid: UInt32.max, mayQuery: false) }
        var member = false
        if let group = controlGroup {
            if credentials.gid == group.gid { member = true }
            if let pw = getpwuid(credentials.uid) {
                let user = String(cString: pw.pointee.pw_name)
                if group.members.contains(user) { member = true }
                var count: Int32 = 64
                var groups = [gid_t](repeating: 0, count: 64)
                if getgrouplist(pw.pointee.pw_name, pw.pointee.pw_gid, &groups, &count) >= 0, groups.prefix(Int(count)).contains(group.gid) {
                    member = true
                }
            }
        }
        return Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, mayQuery: member)
    }
}

/// Splits the byte stream into request lines; a line longer than `maxBytes` is an error.
struct RequestLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxBytes: Int

    struct TooLong: Error {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let newline = buffer.readableBytesView.firstIndex(of: 0x0a) {
            let length = newline - buffer.readerIndex
            guard length <= maxBytes else { throw TooLong() }
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        if buffer.readableBytes > maxBytes { throw TooLong() }
        return .needMoreData
    }

    /// At end of input a final request without its newline still counts (a half-closed client).
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0, let line = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(Self.wrapInboundOut(line))
        }
        return .needMoreData
    }
}

/// One request per connection: decode, ask the daemon, reply, close.
final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let daemon: Daemon
    let peer: Peer
    let logger: Logger
    var answered = false

    init(daemon: Daemon, peer: Peer, logger: Logger) {
        self.daemon = daemon
        self.peer = peer
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        let bytes = Data(unwrapInboundIn(data).readableBytesView)
        let channel = context.channel
        let request: ControlRequest
        do {
            request = try ControlCodec.decode(ControlRequest.self, from: bytes)
        } catch {
            reply(.failure("malformed request: expected one JSON object with an \"op\" field on one line"), on: channel)
            return
        }
        let daemon = self.daemon, peer = self.peer
        Task {
            let response = await daemon.handle(request, from: peer)
            RequestHandler.send(response, on: channel)
        }
    }

    func reply(_ response: ControlResponse, on channel: any Channel) {
        RequestHandler.send(response, on: channel)
    }

    static func send(_ response: ControlResponse, on channel: any Channel) {
        let line = ControlCodec.encodeLine(response)
        var buffer = channel.allocator.buffer(capacity: line.count)
        buffer.writeBytes(line)
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, !answered {
            answered = true
            reply(.failure("timeout: no complete request received"), on: context.channel)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !answered else {
            context.close(promise: nil)
            return
        }
        answered = true
        if error is RequestLineDecoder.TooLong {
            reply(.failure("request too large"), on: context.channel)
        } else {
            reply(.failure("bad request: \(error)"), on: context.channel)
        }
    }
}
