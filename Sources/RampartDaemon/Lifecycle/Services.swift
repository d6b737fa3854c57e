import Glibc
import Logging
import RampartIPsec
import NIOPosix
import RampartNetlink
import RampartPolicy
import RampartSystem
import NIOConcurrencyHelpers
import RampartConfig
import RampartSyscall

/// One long-running part of rampartd. `run` goes on until its task is cancelled; returning or
/// throwing before that is a failure, which the supervisor logs, shows in the status (degraded,
/// with the reason) and answers with a restart after a backoff.
public struct DaemonService: Sendable {
    public var name: String
    /// READY=1 waits for this service to start or fail. Not the fleet's: boot never waits for etcd.
    public var gatesReady: Bool
    public var run: @Sendable (ServiceContext) async throws -> Void

    public init(name: String, gatesReady: Bool = true, run: @escaping @Sendable (ServiceContext) async throws -> Void) {
        self.name = name
        self.gatesReady = gatesReady
        self.run = run
    }
}

/// What a running service may tell the engine.
public struct ServiceContext: Sendable {
    public let name: String
    public let engine: PolicyEngine

    /// Set up (socket bound, watches installed): the service counts as running.
    public func ready() async { await engine.serviceRunning(name) }
}

/// Runs the services, each restarted with backoff when it fails, until cancelled.
public enum Supervisor {
    public static let firstBackoff = Duration.milliseconds(100)
    public static let longestBackoff = Duration.seconds(30)

    /// `firstBackoff`: the wait before the first restart (tests lengthen it to look at a failure).
    public static func run(
        _ services: [DaemonService], engine: PolicyEngine, logger: Logger, firstBackoff: Duration = firstBackoff
    ) async {
        await engine.expect(services: services.filter(\.gatesReady).map(\.name))
        await withDiscardingTaskGroup { group in
            for service in services {
                group.addTask { await supervise(service, engine: engine, logger: logger, firstBackoff: firstBackoff) }
            }
        }
    }

    static func supervise(_ service: DaemonService, engine: PolicyEngine, logger: Logger, firstBackoff: Duration) async
    {
        var backoff = firstBackoff
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let reason: String
            do {
                try await service.run(ServiceContext(name: service.name, engine: engine))
                reason = "it ended on its own"
            } catch is CancellationError {
                break
            } catch {
                reason = describe(error)
            }
            if Task.isCancelled { break }
            // A service that ran a good while before failing starts over with a short backoff.
            if ContinuousClock.now - started > .seconds(60) { backoff = firstBackoff }
            await engine.serviceFailed(service.name, reason: reason, retryIn: backoff)
            try? await LoopSleep.sleep(for: backoff)
            backoff = min(backoff * 2, longestBackoff)
        }
        await engine.serviceStopped(service.name)
    }
}

extension Supervisor {
    /// A failure as the status shows it: with its errno when it has one.
    static func describe(_ error: any Error) -> String {
        if let carrier = error as? any ErrnoCarrying, let code = carrier.errnoCode {
            return "\(carrier.message) (errno \(code))"
        }
        return "\(error)"
    }
}

/// A blocking loop on a thread of its own, as a task: cancelling the task stops the loop's
/// wakeup, and the loop's error (with its errno) becomes the task's.
enum BlockingThread {
    static func run(name: String, wakeup: Wakeup, _ body: @escaping @Sendable () throws -> Void) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let started = startThread(name: name) {
                    do {
                        try body()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                if !started {
                    continuation.resume(throwing: SystemError("cannot start a thread for \(name)", errno: EAGAIN))
                }
            }
        } onCancel: {
            wakeup.stop()
        }
    }

    /// Events a blocking loop produces, handled in order by `handle` in the calling task.
    static func events<Event: Sendable>(
        name: String, wakeup: Wakeup, of: Event.Type,
        produce: @escaping @Sendable (@escaping @Sendable (Event) -> Void) throws -> Void,
        handle: @escaping @Sendable (Event) async -> Void
    ) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await run(name: name, wakeup: wakeup) { try produce { continuation.yield($0) } }
            }
            for await event in stream { await handle(event) }
            try await group.waitForAll()
        }
    }
}

/// rampartd's services. Each is event-driven: an idle daemon makes no periodic wakeups unless
/// systemd asked for a watchdog or host names need refreshing.
public enum Services {
    /// nftables notifications: a foreign change to our table is undone.
    /// `subscribe` opens the subscription (tests pass recorded notifications).
    public static func nftablesMonitor(
        table: String = "rampart",
        subscribe: @escaping @Sendable () throws -> any NotificationTransport = NetlinkSubscription.nftables
    ) -> DaemonService {
        DaemonService(name: "nftables-monitor") { context in
            let monitor = NftablesMonitor(table: table, transport: try subscribe())
            let wakeup = try Wakeup()
            let own = context.engine.portID
            await context.ready()
            try await BlockingThread.events(name: "rampartd.nft", wakeup: wakeup, of: TableChange.self) { emit in
                try monitor.run(until: wakeup, ownPortIDs: { [own] }, changed: emit)
            } handle: { change in
                await context.engine.tableChanged(change)
            }
        }
    }

    /// rtnetlink route notifications: the GATEWAY type follows the default routes.
    public static func routes(
        subscribe: @escaping @Sendable () throws -> any NotificationTransport = NetlinkSubscription.routes
    ) -> DaemonService {
        DaemonService(name: "routes") { context in
            let routes = RouteMonitor(transport: try subscribe())
            let wakeup = try Wakeup()
            await context.ready()
            // A restart may have missed changes: read the routes again.
            await context.engine.sourceChanged(.gateway)
            try await BlockingThread.events(name: "rampartd.routes", wakeup: wakeup, of: Bool.self) { emit in
                try routes.run(until: wakeup) { emit(true) }
            } handle: { _ in
                await context.engine.sourceChanged(.gateway)
            }
        }
    }

    /// inotify on resolv.conf (and resolved's file), smb.conf and the lease directories.
    public static func files(config: DaemonConfig) -> DaemonService {
        let dnsFiles = Set([config.resolvConf, config.resolvedResolvConf])
        return DaemonService(name: "files") { context in
            let watcher = try FileWatcher(
                paths: [config.resolvConf, config.resolvedResolvConf, config.smbConf],
                directories: config.dhclientLeases + config.networkdLeases + config.dhcpcdLeases
                    + config.networkManagerLeases)
            let wakeup = try Wakeup()
            await context.ready()
            // Changes made before the watches were installed (or while a failed watcher was down).
            for type in ServerType.allCases where type != .gateway { await context.engine.sourceChanged(type) }
            try await BlockingThread.events(name: "rampartd.files", wakeup: wakeup, of: String.self) { emit in
                try watcher.run(until: wakeup, changed: emit)
            } handle: { path in
                if dnsFiles.contains(path) {
                    await context.engine.sourceChanged(.dns)
                } else {
                    await context.engine.sourceChanged(.dhcp)
                    await context.engine.sourceChanged(.wins)
                }
            }
        }
    }

    /// Host names in filters, resolved on the blocking pool whenever the engine asks.
    public static func lookups(
        resolve: @escaping @Sendable (String) -> Result<[IPAddress], HostLookupError>
    ) -> DaemonService {
        DaemonService(name: "lookups") { context in
            let engine = context.engine
            await context.ready()
            while !Task.isCancelled {
                await engine.lookupBell.wait()
                guard let names = await engine.takeLookups() else { continue }
                let results = try await NIOThreadPool.singleton.runIfActive {
                    var out: [String: Result<[IPAddress], HostLookupError>] = [:]
                    for name in names { out[name] = resolve(name) }
                    return out
                }
                await engine.namesResolved(results)
            }
        }
    }

    /// The drops the ruleset logs to NFLOG group `group`, to the engine's per-interval records.
    public static func dropLog(
        group: UInt16, subscribe: (@Sendable (UInt16) throws -> NflogSocket)? = nil
    ) -> DaemonService {
        DaemonService(name: "drop-log") { context in
            let socket = try subscribe?(group) ?? NflogSocket(group: group)
            let wakeup = try Wakeup()
            // 64k packets of 128 bytes: what the engine has not attributed yet stays bounded.
            let queue = DropQueue(capacity: 1 << 16, socket: socket.transport)
            await context.engine.attachDropSource(queue)
            await context.ready()
            try await BlockingThread.events(name: "rampartd.nflog", wakeup: wakeup, of: Bool.self) { emit in
                try socket.run(until: wakeup, receiving: queue.receiving, lost: { if queue.overrun() { emit(true) } }) {
                    batch in
                    if queue.push(batch) { emit(true) }
                }
            } handle: { _ in
                let (packets, lost, overrun) = queue.take()
                if packets.isEmpty && lost == 0 && !overrun { return }
                await context.engine.dropsLogged(packets, lost: lost, overrun: overrun)
            }
        }
    }

    /// charon's events over VICI (SAs up and down, rekeys, negotiation failures), once the policy
    /// has negotiate filters; a lost connection (charon restarted) fails the service, and its
    /// restart loads rampart's connections again.
    public static func ipsecEvents(socket: String) -> DaemonService {
        DaemonService(name: "ipsec-events") { context in
            let engine = context.engine
            await context.ready()
            while !Task.isCancelled, !(await engine.negotiates) { await engine.ipsecBell.wait() }
            if Task.isCancelled { return }
            let vici = try ViciClient(path: socket)
            for event in IPsecEvent.registrations { try vici.register(event) }
            await engine.ipsecEventsConnected()
            let wakeup = try Wakeup()
            try await BlockingThread.events(name: "rampartd.ipsec", wakeup: wakeup, of: IPsecEvent.self) { emit in
                while try wakeup.waitReadable(vici.descriptor) {
                    while let (name, message) = try vici.nextEvent(milliseconds: 0) {
                        if let event = IPsecEvent.parse(name: name, message) { emit(event) }
                    }
                }
            } handle: { event in
                await engine.ipsecEvent(event)
            }
        }
    }

    /// The engine's timers: sleeps until the earliest, or until the engine schedules another.
    public static func timers() -> DaemonService {
        DaemonService(name: "timers") { context in
            let engine = context.engine
            await context.ready()
            while !Task.isCancelled {
                await engine.fireDueTimers()
                let next = await engine.nextDeadline()
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await engine.timerBell.wait() }
                    if let next { group.addTask { try? await LoopSleep.sleep(until: next) } }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    /// WATCHDOG=1 at half systemd's interval; a stuck engine stops the pings.
    public static func watchdog(interval: Duration) -> DaemonService {
        DaemonService(name: "watchdog") { context in
            await context.ready()
            while true {
                try await LoopSleep.sleep(for: interval / 2)
                await context.engine.watchdog()
            }
        }
    }

    /// Every service rampartd runs.
    public static func all(config: DaemonConfig, environment: EngineEnvironment) -> [DaemonService] {
        var list = [
            nftablesMonitor(), routes(), files(config: config), lookups(resolve: environment.resolve), timers(),
            dropLog(group: config.logGroup),
            ipsecEvents(socket: config.ipsecViciSocket)
        ]
        if let interval = SystemdNotifier.watchdogInterval() { list.append(watchdog(interval: interval)) }
        if !config.etcdEndpoints.isEmpty, config.etcdGroup != nil { list.append(fleet(config: config)) }
        return list
    }
}

/// Coalesces reload requests: at most one running and one more queued.
final class ReloadGate: Sendable {
    private let state = NIOLockedValueBox((running: false, again: false))

    /// True when the caller should start a reload loop.
    func request() -> Bool {
        state.withLockedValue { s in
            if s.running {
                s.again = true
                return false
            }
            s.running = true
            return true
        }
    }

    /// Whether a reload runs or waits to.
    var busy: Bool { state.withLockedValue { $0.running } }

    /// True when another reload was requested meanwhile.
    func finish() -> Bool {
        state.withLockedValue { s in
            if s.again {
                s.again = false
                return true
            }
            s.running = false
            return false
        }
    }
}
