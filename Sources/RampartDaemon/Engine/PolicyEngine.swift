import FoundationEssentials
import Glibc
import Logging
import RampartCompiler
import RampartControl
import RampartNetlink
import RampartPolicy
import RampartReport
import RampartSources
import RampartSystem
import RampartIPsec
import RampartVici
import RampartConfig

/// What the engine needs from the world, injected: the daemon passes the real ones, tests a
/// recording transport, a notification recorder and fixed address sources.
public struct EngineEnvironment: Sendable {
    /// sd_notify: READY=1, STATUS=…, RELOADING=1, STOPPING=1, WATCHDOG=1.
    public var notify: @Sendable (String) -> Void
    /// The gateways of the default routes.
    public var gateways: @Sendable () -> Result<[DefaultGateway], NetlinkError>
    /// One host name's addresses (getaddrinfo).
    public var resolve: @Sendable (String) -> Result<[IPAddress], HostLookupError>
    /// Reads the configuration file again on reload (nil: there is none; keep the defaults).
    public var readConfig: @Sendable (String) throws -> String?
    /// Hands startup's code pages back to the kernel, a second after READY (`WorkingSet`).
    public var releaseStartupMemory: @Sendable () -> Void
    /// Wall-clock time, seconds since the epoch: what lease expiry is measured against.
    public var wallClock: @Sendable () -> Double
    /// Puts the negotiate filters' SAs into charon over its VICI socket (docs/ipsec.md).
    public var ipsec: @Sendable (IPsecPlan, String) -> Result<IPsecSync.Report, ViciError>
    /// charon's SAs and statistics and the kernel's xfrm counters, for the IPsec views.
    public var ipsecView: @Sendable (String) -> IPsecView

    public init(
        notify: @escaping @Sendable (String) -> Void,
        gateways: @escaping @Sendable () -> Result<[DefaultGateway], NetlinkError> = {
            Result { () throws(NetlinkError) in try RouteMonitor.defaultGateways() }
        },
        resolve: @escaping @Sendable (String) -> Result<[IPAddress], HostLookupError> = HostLookup.resolve,
        readConfig: @escaping @Sendable (String) throws -> String? = DaemonConfig.readFile,
        releaseStartupMemory: @escaping @Sendable () -> Void = { WorkingSet.releaseExecutableCode() },
        wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        ipsec: @escaping @Sendable (IPsecPlan, String) -> Result<IPsecSync.Report, ViciError> = { plan, socket in
            Result { () throws(ViciError) in try IPsecSync.apply(plan, socket: socket) }
        },
        ipsecView: @escaping @Sendable (String) -> IPsecView = { IPsecView.gather(socket: $0) }
    ) {
        self.notify = notify
        self.gateways = gateways
        self.resolve = resolve
        self.readConfig = readConfig
        self.releaseStartupMemory = releaseStartupMemory
        self.wallClock = wallClock
        self.ipsec = ipsec
        self.ipsecView = ipsecView
    }
}

/// rampartd's policy engine: what is enforced, the store, the runtime-only dynamic rules, the
/// addresses the server types stand for, health and pending confirmation, as explicit state.
/// Every transition — enforce the boot mode, load, reload, transact, confirm, roll back, restore
/// after tampering, update sets — is a method that looks at that state. It runs on its own
/// thread (`ThreadExecutor`): netlink commits and file reads never block an event loop, and
/// requests, signals and self-healing never race.
public actor PolicyEngine {
    let executor: ThreadExecutor

    let logger: Logger
    let environment: EngineEnvironment
    nonisolated let launch: Launch
    nonisolated let channels = Channels()
    let client: NftablesClient
    var config: DaemonConfig

    // The core's state. Each field is one fact; the combinations are the enums' cases.
    var timeline = Timeline()
    var table = TableState()
    var policy = PolicyState()
    var health = HealthBoard()
    var timers = Timers()

    // One field per feature: its own type, its transitions returning effects (`perform`).
    var confirmation = Confirmation()
    var scheduleWatch = ScheduleWatch()
    var drops = DropLogging()
    var ipsec = IPsecState()
    var fleet = FleetState()
    var book = AddressBook()
    var monitor = SharedFrame()

    public init(
        config: DaemonConfig, configPath: String?, overrides: Overrides, client: sending NftablesClient,
        environment: EngineEnvironment, logger: Logger, started: ContinuousClock.Instant = .now
    ) {
        executor = ThreadExecutor(name: "rampartd.engine")
        self.config = config
        self.logger = logger
        self.environment = environment
        launch = Launch(
            controlGroup: config.controlGroup, portID: client.portID, started: started, startedAt: Date(),
            configPath: configPath, overrides: overrides)
        self.client = client
    }

    func sinceStart() -> Double { Self.ms(ContinuousClock.now - launch.started) }

    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    static func fmt(_ x: Double) -> String { StatusReport.decimal(x) }

    func notify(_ message: String) { environment.notify(message) }

    // MARK: health

    /// The phase while starting; then running or degraded.
    var stateWord: String {
        guard timeline.phase == .running else { return timeline.phase.rawValue }
        if case .degraded = health.verdict { return "degraded" }
        return "running"
    }

    func problemList() -> [Problem] { health.list }

    func report(_ area: ProblemArea, _ message: String) {
        if health.report(area, message) { logger.error("\(message)") }
    }

    func clearProblem(_ area: ProblemArea) { health.clear(area) }

    func failed(_ area: ProblemArea, _ message: String) -> String {
        report(area, message)
        return message
    }

    // MARK: services

    /// The services about to start: READY waits for each to run or fail.
    public func expect(services names: [String]) { health.expect(names) }

    /// Every expected service has started or failed once.
    public func servicesSettled() -> Bool { health.settled }

    /// A service has set up and runs (again).
    public func serviceRunning(_ name: String) {
        if health.running(name, since: Date()) { logger.notice("service \(name) is running again") }
        channels.serviceBell.ring()
    }

    /// A service ended without being asked to: degraded, with the reason, until it runs again.
    public func serviceFailed(_ name: String, reason: String, retryIn: Duration?) {
        report(.service(name), health.failed(name, reason: reason, at: Date(), retryIn: retryIn))
        channels.serviceBell.ring()
    }

    public func serviceStopped(_ name: String) { health.stopped(name) }

    public func serviceStates() -> [String: ServiceState] { health.services }

    // MARK: timers

    func schedule(_ kind: TimerKind, after delay: Duration) {
        timers.schedule(kind, at: .now + delay)
        channels.timerBell.ring()
    }

    func cancelTimer(_ kind: TimerKind) { timers.cancel(kind) }

    /// The earliest timer, for the timer service.
    public func nextDeadline() -> ContinuousClock.Instant? { timers.next }

    /// Runs every timer due at `now` (tests pass a later instant to let time pass): each kind
    /// goes to the one owner that armed it.
    public func fireDueTimers(now: ContinuousClock.Instant = .now) {
        for kind in timers.takeDue(at: now) {
            switch kind {
            case .confirmDeadline(let token): rollbackIfUnconfirmed(token)
            case .restoreRetry: restore()
            case .refresh(let type): refreshAddresses(type, apply: true)
            case .leaseExpiry:
                refreshAddresses(.dhcp, apply: true)
                refreshAddresses(.wins, apply: true)
            case .resolveNames: resolveNames()
            case .releaseStartupMemory: environment.releaseStartupMemory()
            case .dropSummary: summariseDrops()
            case .dropReconcile: reconcileDrops()
            case .metricsFile: writeMetricsFile()
            case .scheduleCheck: checkSchedules()
            case .ipsecRetry: syncIPsec()
            }
        }
    }

    // MARK: stop

    /// The control socket is closed and removed by the lifecycle, which created it.
    public func shutdown(signal: String) {
        timeline.enter(.stopping)
        logger.notice("\(signal): stopping; the \(enforcement) ruleset stays in force ('rampart flush' removes it)")
        notify("STOPPING=1")
    }

    /// The control socket listens (`warning`: group members cannot use it).
    public func controlSocketListening(warning: String?) {
        if let warning { report(.socket, warning) } else { clearProblem(.socket) }
    }

    /// The policy stays enforced without a control socket, but nobody can change or query it.
    public func controlSocketFailed(_ message: String) {
        report(
            .socket,
            "control socket \(config.socket) unavailable: \(message); the policy stays enforced but cannot be changed or queried"
        )
    }

    public func watchdog() { notify("WATCHDOG=1") }
}

/// The engine's derived views: computed from the state, never stored beside it.
extension PolicyEngine {
    /// Command-line and environment overrides, which win over the configuration file on reload too.
    public struct Overrides: Sendable {
        public var store: String?
        public var socket: String?
        public init(store: String?, socket: String?) {
            self.store = store
            self.socket = socket
        }
    }

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// The control group's name, for messages (fixed at start, as the socket is).
    public nonisolated var controlGroup: String { launch.controlGroup }
    /// The port id of our netlink socket: notifications carrying it are our own changes.
    public nonisolated var portID: UInt32 { launch.portID }
    nonisolated var fileWriter: BackgroundWriter { channels.fileWriter }
    nonisolated var reloadGate: ReloadGate { channels.reloadGate }
    nonisolated var serviceBell: Doorbell { channels.serviceBell }
    nonisolated var lookupBell: Doorbell { channels.lookupBell }
    nonisolated var ipsecBell: Doorbell { channels.ipsecBell }
    nonisolated var timerBell: Doorbell { channels.timerBell }

    /// The store's objects with the domain policy in force beside them (never written to the file).
    var store: Store {
        var combined = policy.local
        combined.domain = fleet.domain
        return combined
    }
    var storeState: StoreState { policy.state }
    var dynamic: DynamicState { policy.dynamic }
    var enforcement: Enforcement { table.enforcement }
    var addresses: DynamicAddresses { book.addresses }

    var storeFile: StoreFile { StoreFile(path: config.store) }
    var compiler: RulesetCompiler { RulesetCompiler(options: CompileOptions(logGroup: config.logGroup)) }
    var applied: Ruleset? { enforcement.ruleset }
}
