import CRampartSystem
import FoundationEssentials
import Logging
import NIOCore
import NIOPosix
import RampartControl
import RampartSystem
import NIOConcurrencyHelpers
import RampartConfig
import RampartSyscall

/// The control socket: a Unix stream socket speaking one JSON request line and one JSON reply
/// line per connection (docs/control-protocol.md). Peer credentials are read at accept: an
/// outsider is answered and closed at once, before it can hold a descriptor; members and root
/// have separate connection pools and request sizes; every connection has a whole-request
/// deadline; a bad request gets an error reply, never a crash.
public enum ControlServer {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Listening: Sendable {
        public var channel: any Channel
        /// The socket file's inode, so that only our own socket is removed at stop.
        public var inode: UInt64
        /// Set when group members cannot connect (the group is missing or the chown failed).
        public var warning: String?

        /// Removes the socket file at `path` if it is still ours: a path that now holds another
        /// file is left alone.
        public func removeSocket(_ path: String) {
            var info = stat()
            if lstat(path, &info) == 0, UInt64(info.st_ino) == inode { unlink(path) }
        }
    }

    public static func start(config: DaemonConfig, engine: PolicyEngine, logger: Logger) async throws -> Listening {
        let path = config.socket
        try prepareDirectory(Path.directory(of: path))
        try clearStaleSocket(path)
        let group = lookupGroup(config.controlGroup)
        let limiter = ConnectionLimiter(
            members: config.maxConnections, perUser: config.maxConnectionsPerUser, root: config.maxConnections)
        let timeout = TimeAmount.seconds(Int64(config.clientTimeoutSeconds))
        let limits = RequestHandler.Limits(
            memberRequest: config.maxRequestBytes, rootRequest: config.maxRequestBytesRoot, reply: config.maxReplyBytes)
        // Created 0660 by bind itself: never, even for a moment, open to all.
        let previousMask = umask(0o117)
        defer { umask(previousMask) }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let admission = Admission(
                    group: group, controlGroup: config.controlGroup, limiter: limiter, timeout: timeout, limits: limits)
                return peerCredentials(channel).flatMapThrowing { credentials in
                    try admission.admit(
                        channel, ControlServer.peer(credentials, controlGroup: group), engine: engine, logger: logger)
                }
            }
            .bind(unixDomainSocketPath: path)
            .get()
        var warning: String?
        let inode: UInt64
        do {
            inode = try setGroup(path, group: group)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        if group == nil {
            // As documented: without the group, root only. Not a fault.
            logger.notice("group \(config.controlGroup) does not exist: only root can use the control socket")
        } else if inode == 0 {
            warning =
                "cannot give the control socket to group \(config.controlGroup) (\(String(cString: strerror(errno))); rampartd must run as a member of that group, or as root): only root can use it"
        }
        logger.info(
            "control socket \(path) (mode 0660, group \(group == nil || inode == 0 ? "root" : config.controlGroup))")
        return Listening(channel: channel, inode: inode == 0 ? socketInode(path) : inode, warning: warning)
    }

    /// SO_PEERCRED of a connection (nil where the channel has no socket options).
    static func peerCredentials(_ channel: any Channel) -> EventLoopFuture<rampart_ucred?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        return provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(rampart_so_peercred())
        )
        .map { Optional($0) }.recover { _ in nil }
    }

    /// Who may talk to rampartd and how much: outsiders and connections past the limits are
    /// answered with a refusal and closed; the rest get a deadline, a bounded decoder and the handler.
    struct Admission: Sendable {
        let group: Group?
        let controlGroup: String
        let limiter: ConnectionLimiter
        let timeout: TimeAmount
        let limits: RequestHandler.Limits

        func admit(_ channel: any Channel, _ peer: Peer, engine: PolicyEngine, logger: Logger) throws {
            let pipeline = channel.pipeline.syncOperations
            guard peer.role != .outsider else {
                let message = "permission denied: only root and members of group \(controlGroup) may use rampartd"
                try pipeline.addHandler(RefuseHandler(code: .denied, message: message))
                return
            }
            guard limiter.admit(peer) else {
                let message = "too many connections from uid \(peer.uid) (or in all); try again when one ends"
                try pipeline.addHandler(RefuseHandler(code: .busy, message: message))
                return
            }
            channel.closeFuture.whenComplete { _ in limiter.release(peer) }
            try pipeline.addHandler(RequestDeadline(after: timeout))
            let maxBytes = peer.role == .admin ? limits.rootRequest : limits.memberRequest
            try pipeline.addHandler(ByteToMessageHandler(RequestLineDecoder(maxBytes: maxBytes)))
            try pipeline.addHandler(RequestHandler(engine: engine, peer: peer, limits: limits, logger: logger))
        }
    }

    /// The directory must be a real directory that only its owner (root, or the user running
    /// rampartd) can write: elsewhere a symlink or another socket could be swapped in.
    static func prepareDirectory(_ directory: String) throws {
        let dir = directory.isEmpty ? "." : directory
        var info = stat()
        if lstat(dir, &info) != 0 {
            guard errno == ENOENT, mkdir(dir, 0o755) == 0 || errno == EEXIST else {
                throw Failure(
                    description: "cannot create the socket directory \(dir): \(String(cString: strerror(errno)))")
            }
            guard lstat(dir, &info) == 0 else {
                throw Failure(description: "cannot stat \(dir): \(String(cString: strerror(errno)))")
            }
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Failure(description: "the socket directory \(dir) is not a directory (a symlink is refused too)")
        }
        guard info.st_uid == geteuid() else {
            throw Failure(
                description:
                    "the socket directory \(dir) belongs to uid \(info.st_uid), not to rampartd's uid \(geteuid()): refused"
            )
        }
        guard info.st_mode & 0o022 == 0 else {
            throw Failure(
                description:
                    "the socket directory \(dir) is writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))): refused; make it 0755"
            )
        }
    }

    /// A socket file left by a run that was killed is removed; one that answers belongs to a
    /// live daemon and is left alone; anything that is not a socket is never unlinked.
    static func clearStaleSocket(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw Failure(
                description: "\(path) exists and is not a socket: refused (remove it yourself if it is stale)")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let address = UnixSocketAddress(path: path) else {
            throw Failure(description: "socket path too long: \(path)")
        }
        let connected = address.withSockaddr { connect(fd, $0, $1) }
        if connected == 0 {
            throw Failure(description: "another process listens on \(path): refused to replace its socket")
        }
        unlink(path)
    }

    /// Gives the socket to group `group` (its owner unchanged: root, or the user rampartd runs as) through an O_PATH|O_NOFOLLOW descriptor that is checked
    /// to be a socket: never through the path, which a symlink could have replaced. Returns
    /// the socket's inode, or 0 when the group could not be set.
    static func setGroup(_ path: String, group: Group?) throws -> UInt64 {
        let fd = open(path, rampart_o_path() | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw Failure(description: "cannot open the new socket \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw Failure(description: "\(path) is not the socket just created (replaced under us?): refused")
        }
        guard let gid = group?.gid else { return UInt64(info.st_ino) }
        guard info.st_gid == gid || fchownat(fd, "", uid_t.max, gid, rampart_at_empty_path()) == 0 else { return 0 }
        return UInt64(info.st_ino)
    }

    static func socketInode(_ path: String) -> UInt64 {
        var info = stat()
        return lstat(path, &info) == 0 ? UInt64(info.st_ino) : 0
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
        guard let credentials else { return Peer(pid: 0, uid: UInt32.max, gid: UInt32.max, member: false) }
        var member = false
        if let group = controlGroup {
            if credentials.gid == group.gid { member = true }
            if let pw = getpwuid(credentials.uid) {
                let user = String(cString: pw.pointee.pw_name)
                if group.members.contains(user) { member = true }
                var count: Int32 = 64
                var groups = [gid_t](repeating: 0, count: 64)
                if getgrouplist(pw.pointee.pw_name, pw.pointee.pw_gid, &groups, &count) >= 0,
                    groups.prefix(Int(count)).contains(group.gid)
                {
                    member = true
                }
            }
        }
        return Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, member: member)
    }
}

/// Connections held at once: members share one pool and each uid has a smaller share of it;
/// root has a pool of its own, so no member can crowd root out.
final class ConnectionLimiter: Sendable {
    private struct Counts {
        var members = 0
        var root = 0
        var perUID: [UInt32: Int] = [:]
    }

    private let counts = NIOLockedValueBox(Counts())
    let maxMembers: Int, maxPerUser: Int, maxRoot: Int

    init(members: Int, perUser: Int, root: Int) {
        maxMembers = members
        maxPerUser = perUser
        maxRoot = root
    }

    func admit(_ peer: Peer) -> Bool {
        counts.withLockedValue { c in
            if peer.uid == 0 {
                guard c.root < maxRoot else { return false }
                c.root += 1
                return true
            }
            guard c.members < maxMembers, c.perUID[peer.uid, default: 0] < maxPerUser else { return false }
            c.members += 1
            c.perUID[peer.uid, default: 0] += 1
            return true
        }
    }

    func release(_ peer: Peer) {
        counts.withLockedValue { c in
            if peer.uid == 0 {
                c.root -= 1
                return
            }
            c.members -= 1
            let left = c.perUID[peer.uid, default: 1] - 1
            c.perUID[peer.uid] = left > 0 ? left : nil
        }
    }
}

/// Answers a connection that may not stay with one error line, then closes it.
final class RefuseHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let code: ControlErrorCode
    let message: String

    init(code: ControlErrorCode, message: String) {
        self.code = code
        self.message = message
    }

    func channelActive(context: ChannelHandlerContext) {
        RequestHandler.send(.failure(code, message), on: context.channel, limit: .max)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// The whole request must arrive within the deadline, however slowly its bytes drip.
final class RequestDeadline: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    struct Reached {}

    let after: TimeAmount
    var task: Scheduled<Void>?

    init(after: TimeAmount) { self.after = after }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        task = context.eventLoop.scheduleTask(in: after) {
            loopBound.value.fireUserInboundEventTriggered(Reached())
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        task?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        context.fireChannelInactive()
    }
}

/// Splits the byte stream into request lines; a line longer than `maxBytes` is an error.
struct RequestLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxBytes: Int
    /// Bytes of the pending line already searched for its newline: each read searches only what
    /// it added (searching from the start every time was quadratic in the request's size).
    var searched = 0

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    struct TooLong: Error {
        var limit: Int
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let unsearched = buffer.readableBytesView.dropFirst(searched)
        if let newline = unsearched.firstIndex(of: 0x0a) {
            let length = newline - buffer.readerIndex
            guard length <= maxBytes else { throw TooLong(limit: maxBytes) }
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            searched = 0
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        searched = buffer.readableBytes
        if buffer.readableBytes > maxBytes { throw TooLong(limit: maxBytes) }
        return .needMoreData
    }

    /// At end of input a final request without its newline still counts (a half-closed client).
    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0, let line = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(Self.wrapInboundOut(line))
        }
        return .needMoreData
    }
}

/// One request per connection: decode, process, reply, close.
final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var memberRequest: Int
        var rootRequest: Int
        var reply: Int
    }

    let engine: PolicyEngine
    let peer: Peer
    let limits: Limits
    let logger: Logger
    var answered = false

    init(engine: PolicyEngine, peer: Peer, limits: Limits, logger: Logger) {
        self.engine = engine
        self.peer = peer
        self.limits = limits
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
        } catch let unknown as UnknownOperation {
            reply(
                .failure(.unknownOperation, "unknown operation '\(unknown.name)'; see docs/control-protocol.md"),
                on: channel)
            return
        } catch {
            reply(
                .failure(.badRequest, "malformed request: expected one JSON object with an \"op\" field on one line"),
                on: channel)
            return
        }
        let engine = self.engine, peer = self.peer, logger = self.logger, limit = limits.reply
        Task {
            let response = await RequestRouter.process(request, from: peer, engine: engine, logger: logger)
            RequestHandler.send(response, on: channel, limit: limit)
        }
    }

    func reply(_ response: ControlResponse, on channel: any Channel) {
        RequestHandler.send(response, on: channel, limit: limits.reply)
    }

    static func send(_ response: ControlResponse, on channel: any Channel, limit: Int) {
        var line = ControlCodec.encodeLine(response)
        if line.count > limit {
            line = ControlCodec.encodeLine(
                ControlResponse.failure(
                    .tooLarge,
                    "the reply is \(line.count) bytes, over max_reply_bytes (\(limit)): use 'rampart --store FILE …' offline, or raise max_reply_bytes in rampartd.conf"
                ))
        }
        var buffer = channel.allocator.buffer(capacity: line.count)
        buffer.writeBytes(line)
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestDeadline.Reached {
            if !answered {
                answered = true
                reply(.failure(.timeout, "timeout: no complete request within the deadline"), on: context.channel)
            }
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
        if let tooLong = error as? RequestLineDecoder.TooLong {
            reply(
                .failure(
                    .tooLarge,
                    "request too large (over \(tooLong.limit) bytes for uid \(peer.uid)); see max_request_bytes in rampartd.conf"
                ), on: context.channel)
        } else {
            reply(.failure(.badRequest, "bad request: \(error)"), on: context.channel)
        }
    }
}
