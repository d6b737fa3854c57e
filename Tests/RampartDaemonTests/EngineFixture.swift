import Foundation
import Logging
import RampartCompiler
import RampartControl
@testable import RampartDaemon
import RampartNetlink
import RampartNetlinkFake
import RampartPolicy
import RampartSystem
import Synchronization
import RampartConfig

/// A policy engine over a recording transport, in a temporary directory of its own: store,
/// resolv.conf, lease directories. No root, no namespace, no kernel.
final class EngineFixture: Sendable {
    let directory: String
    let transport: RecordingTransport
    let engine: PolicyEngine
    let config: DaemonConfig
    /// Every sd_notify message, with how many transactions the transport had seen when it was sent.
    let notifications = Notifications()

    static let webServer = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=443
        add filter filterlist=Dns srcaddr=me dstaddr=DNS protocol=udp dstport=53
        add filter filterlist=Rest srcaddr=any dstaddr=me
        add policy name=Server assign=yes
        add rule name=web policy=Server filterlist=Web filteraction=Permit
        add rule name=dns policy=Server filterlist=Dns filteraction=Permit
        add rule name=rest policy=Server filterlist=Rest filteraction=Block
        popd
        """

    /// Seconds added to the wall clock the engine sees (lease expiry).
    final class ClockOffset: Sendable {
        let seconds = Mutex<Double>(0)
        /// Set: the wall clock stands still at this instant and moves on by `step` at each reading
        /// (a deterministic clock for schedule edges).
        let frozen = Mutex<(at: Double, step: Double)?>(nil)

        func read() -> Double {
            if let t = frozen.withLock({ f -> Double? in
                guard let current = f else { return nil }
                f = (current.at + current.step, current.step)
                return current.at
            }) {
                return t
            }
            return Date().timeIntervalSince1970 + seconds.withLock { $0 }
        }
    }
    let clockOffset = ClockOffset()

    /// The default routes the engine reads (a test changes them, then says so through the routes service).
    final class RoutingTable: Sendable {
        let gateways: Mutex<[DefaultGateway]>
        init(_ gateways: [DefaultGateway]) { self.gateways = Mutex(gateways) }
        func set(_ list: [DefaultGateway]) { gateways.withLock { $0 = list } }
    }
    let routingTable: RoutingTable

    init(
        policy: String? = EngineFixture.webServer, dns: [String] = ["192.0.2.53"],
        gateways: [DefaultGateway] = [DefaultGateway(address: IPAddress("192.0.2.1")!)],
        resolve: @escaping @Sendable (String) -> Result<[IPAddress], HostLookupError> = { _ in
            .failure(HostLookupError(message: "no DNS in tests"))
        },
        configure: (inout DaemonConfig) -> Void = { _ in }
    ) throws {
        directory = NSTemporaryDirectory() + "rampart-engine-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = DaemonConfig()
        config.store = directory + "/store.json"
        config.socket = directory + "/control.sock"
        config.resolvConf = directory + "/resolv.conf"
        config.resolvedResolvConf = directory + "/resolved.conf"
        config.dhclientLeases = [directory + "/dhclient"]
        config.networkdLeases = [directory + "/networkd"]
        config.dhcpcdLeases = [directory + "/dhcpcd"]
        config.networkManagerLeases = [directory + "/nm"]
        config.smbConf = directory + "/smb.conf"
        config.domainCache = directory + "/domain-cache.json"
        configure(&config)
        self.config = config
        try (dns.map { "nameserver \($0)" }.joined(separator: "\n") + "\n").write(
            toFile: config.resolvConf, atomically: true, encoding: .utf8)
        if let policy { try StoreFile(path: config.store).save(try Self.store(policy)) }
        let transport = RecordingTransport()
        self.transport = transport
        let box = notifications
        let offset = clockOffset
        let table = RoutingTable(gateways)
        routingTable = table
        let environment = EngineEnvironment(
            notify: { message in box.record((transport.transactions.count, message)) },
            gateways: { .success(table.gateways.withLock { $0 }) },
            resolve: resolve,
            readConfig: { _ in nil },
            releaseStartupMemory: {},
            wallClock: { offset.read() })
        engine = PolicyEngine(
            config: config, configPath: nil, overrides: .init(store: nil, socket: nil),
            client: NftablesClient(transport: transport, interfaceIndex: { _ in 7 }),
            environment: environment, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static func store(_ script: String) throws -> Store {
        var interpreter = Interpreter(store: Store())
        try ScriptRunner.run(ScriptRunner.lines(of: script, file: "fixture"), in: &interpreter)
        return interpreter.store
    }

    var storeFile: StoreFile { StoreFile(path: config.store) }

    /// Boot mode, policy, READY: what rampartd's lifecycle does before it serves.
    func start() async throws {
        try await engine.enforceBootMode()
        await engine.loadPolicy()
        await engine.announceReady()
    }

    var messages: [String] { notifications.all.map(\.message) }

    static let root = Peer(pid: 1, uid: 0, gid: 0, member: false)
    static let member = Peer(pid: 2, uid: 1000, gid: 1000, member: true)
    static let other = Peer(pid: 3, uid: 1001, gid: 1001, member: false)

    func request(_ request: ControlRequest, from peer: Peer = EngineFixture.root) async -> ControlResponse {
        await RequestRouter.process(
            request, from: peer, engine: engine,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func exec(_ script: String, confirm: Int? = nil, from peer: Peer = EngineFixture.root) async -> ControlResponse {
        await request(
            ControlRequest(
                op: .exec, name: "t.netsh", script: script, confirmSeconds: confirm, workingDirectory: directory),
            from: peer)
    }
}

/// Waits (bounded) for a condition the engine reaches asynchronously, e.g. a service failing.
func eventually(_ seconds: Double = 60, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

final class Notifications: Sendable {
    private let list = Mutex<[(transactions: Int, message: String)]>([])
    func record(_ entry: (transactions: Int, message: String)) { list.withLock { $0.append(entry) } }
    var all: [(transactions: Int, message: String)] { list.withLock { $0 } }
}
