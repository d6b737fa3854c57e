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

    public init(notify: @escaping @Sendable (String) -> Void,
                gateways: @escaping @Sendable () -> Result<[DefaultGateway], NetlinkError> = { Result { () throws(NetlinkError) in try RouteMonitor.defaultGateways() } },
                resolve: @escaping @Sendable (String) -> Result<[IPAddress], HostLookupError> = HostLookup.resolve,
                readConfig: @escaping @Sendable (String) throws -> String? = DaemonConfig.readFile,
                releaseStartupMemory: @escaping @Sendable () -> Void = { WorkingSet.releaseExecutableCode() },
                wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                ipsec: @escaping @Sendable (IPsecPlan, String) -> Result<IPsecSync.Report, ViciError> = { plan, socket in
                    Result { () throws(ViciError) in try IPsecSync.apply(plan, socket: socket) } },
                ipsecView: @escaping @Sendable (String) -> IPsecView = { IPsecView.gather(socket: $0) }) {
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
    /// Command-line and environment overrides, which win over the configuration file on reload too.
    public struct Overrides: Sendable {
        public var store: String?
        public var socket: String?
        public init(store: String?, socket: String?) {
            self.store = store
            self.socket = socket
        }
    }

    private let executor: ThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    let logger: Logger
    let environment: EngineEnvironment
    /// The control group's name, for messages (fixed at start, as the socket is).
    public nonisolated let controlGroup: String
    let started: ContinuousClock.Instant
    let startedAt = Date()
    var config: DaemonConfig
    let configPath: String?
    let overrides: Overrides
    let client: NftablesClient
    /// The port id of our netlink socket: notifications carrying it are our own changes.
    public nonisolated let portID: UInt32

    // The state. Each field is one fact; the combinations are the enums' cases.
    var phase = Phase.starting
    var enforcement = Enforcement.nothing
    /// The store file's objects, with the domain policy in force beside them (never written to the file).
    var store = Store() {
        didSet {
            if store.domain != domain { store.domain = domain }
            // The schedules in use may have changed with it, and the negotiate filters charon holds.
            planScheduleCheck()
            syncIPsec()
        }
    }
    /// The domain policy in force (docs/fleet.md), what the fleet service says, and the last
    /// domain revision this host refused, with why.
    var domain: DomainLayer? {
        didSet { store.domain = domain }
    }
    var fleetConnection: String?
    var domainRefused: (revision: Int64, reason: String)?
    var storeState = StoreState.notLoaded
    /// Runtime-only rules and main/quick mode policies; their negotiate rules are charon's too.
    var dynamic = DynamicState() {
        didSet { if dynamic != oldValue { syncIPsec() } }
    }
    var problems: [ProblemArea: String] = [:]
    var services: [String: ServiceState] = [:]
    /// How often each service has failed, and why the last time: kept after it runs again.
    var serviceFailures: [String: (count: Int, last: String)] = [:]
    var pendingConfirm: PendingConfirm?
    var confirmTokens = 0
    var timers: [TimerKind: ContinuousClock.Instant] = [:]
    var scheduleWatch = ScheduleWatch()
    /// A failed restore is retried with this delay, doubling to 5 s.
    var restoreRetryDelay: Duration?
    var reloadAfterStartup = false
    // For status.
    var socketFile: (path: String, inode: UInt64)?
    var lastApply: ApplyRecord?
    var bootMilliseconds: Double?
    var readyMilliseconds: Double?
    var restores = 0
    /// Drops logged in the current `ipsecloginterval` (nil until the first: no timer while idle),
    /// the last interval's summary, and the last NFLOG sequence number seen (a gap is a loss).
    var drops: DropAggregator?
    var lastDropSummary: DropAggregator.Summary?
    var interfaceNames: [UInt32: String] = [:]
    /// Tail losses (Drops.swift, reconcileDrops): the NFLOG reader's queue, the kernel's logged
    /// count and the queue's `accounted` when they last agreed, where a reconciliation stands, and
    /// a number that changes with every ruleset that replaces the rules (and their counters).
    var dropSource: DropQueue?
    var dropBaseline: (kernel: UInt64, accounted: Int)?
    var dropReconciliation = DropReconciliation.idle
    var rulesetGeneration = 0
    /// Started over a table a previous rampartd left (a restart): the boot ruleset is applied only
    /// if the policy cannot be.
    var bootDeferred = false
    /// What charon was last given (nil: nothing yet this run) and when to try again after a failure.
    var ipsecLoaded: IPsecPlan?
    var ipsecRetryDelay: Duration?
    var ipsecStats = IPsecStats()
    /// A reload asks for the plan to be loaded again even if it did not change.
    var ipsecReloadPending = false
    var lastIKEFailureLogged: [String: Date] = [:]
    /// Since rampartd started, for the metrics.
    var totals = Totals()
    /// The addresses the server types stand for now, and where each list came from.
    var addresses = DynamicAddresses()
    var provenance: [ServerType: (source: String, changed: Date)] = [:]
    /// The monitor frame of the last second, shared by every client (`sharedMonitorFrame`).
    var monitorFrame: (at: ContinuousClock.Instant, reply: Task<ControlResponse, Never>)?
    /// How long a monitor frame is shared (tests lengthen it: a loaded machine spreads requests).
    var monitorFrameLifetime: Duration = .seconds(1)
    /// nf_tables' generation id after our last commit (`tableChanged`).
    var ownGeneration: UInt32?
    /// Default routers learned from router advertisements, as last logged.
    var advertisedRouters: [IPAddress] = []
    /// Host names in filters: when each was last resolved, and the last failure.
    var nameResolution: [String: (at: Date, error: String?)] = [:]
    var resolving = false

    /// Host names waiting for the lookup service.
    var lookupQueue: [String]?
    /// Services the daemon runs, by name: READY waits until each has started or failed.
    var expectedServices: Set<String> = []
    /// Wake the timer service (the earliest deadline may have moved), the lookup service
    /// (names to resolve), and whoever waits for services to settle.
    nonisolated let timerBell = Doorbell()
    /// Writes the drop log and the metrics textfile off the engine (bounded: 8 MiB waiting).
    nonisolated let fileWriter = BackgroundWriter(name: "rampartd.files", limit: 8 << 20)
    nonisolated let lookupBell = Doorbell()
    /// Rung when charon holds rampart's connections: the IPsec event service starts listening.
    nonisolated let ipsecBell = Doorbell()
    nonisolated let serviceBell = Doorbell()

    public init(config: DaemonConfig, configPath: String?, overrides: Overrides, client: sending NftablesClient,
                environment: EngineEnvironment, logger: Logger, started: ContinuousClock.Instant = .now) {
        executor = ThreadExecutor(name: "rampartd.engine")
        self.config = config
        self.configPath = configPath
        self.overrides = overrides
        self.logger = logger
        self.started = started
        self.environment = environment
        controlGroup = config.controlGroup
        portID = client.portID
        self.client = client
    }

    var storeFile: StoreFile { StoreFile(path: config.store) }
    var compiler: RulesetCompiler { RulesetCompiler(options: CompileOptions(logGroup: config.logGroup)) }
    var applied: Ruleset? { enforcement.ruleset }

    func sinceStart() -> Double { Self.ms(ContinuousClock.now - started) }

    static func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

    static func fmt(_ x: Double) -> String { StatusReport.decimal(x) }

    func notify(_ message: String) { environment.notify(message) }

    // MARK: health

    public var health: Health {
        let list = problemList()
        return list.isEmpty ? .running : .degraded(list)
    }

    /// The phase while starting; then running or degraded.
    var stateWord: String {
        guard phase == .running else { return phase.rawValue }
        if case .degraded = health { return "degraded" }
        return "running"
    }

    func problemList() -> [Problem] {
        problems.sorted { $0.key < $1.key }.map { Problem(area: $0.key, message: $0.value) }
    }

    func report(_ area: ProblemArea, _ message: String) {
        if problems[area] != message { logger.error("\(message)") }
        problems[area] = message
    }

    func clearProblem(_ area: ProblemArea) {
        problems[area] = nil
    }

    func failed(_ area: ProblemArea, _ message: String) -> String {
        report(area, message)
        return message
    }

    // MARK: services

    /// The services about to start: READY waits for each to run or fail.
    public func expect(services names: [String]) {
        expectedServices = Set(names)
        for name in names where services[name] == nil { services[name] = .starting }
    }

    /// Every expected service has started or failed once.
    public func servicesSettled() -> Bool {
        expectedServices.allSatisfy { services[$0].map { $0 != .starting } ?? false }
    }

    /// A service has set up and runs (again).
    public func serviceRunning(_ name: String) {
        if case .failed = services[name] { logger.notice("service \(name) is running again") }
        services[name] = .running(since: Date())
        clearProblem(.service(name))
        serviceBell.ring()
    }

    /// A service ended without being asked to: degraded, with the reason, until it runs again.
    public func serviceFailed(_ name: String, reason: String, retryIn: Duration?) {
        let retry = retryIn.map { Date().addingTimeInterval(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) }
        services[name] = .failed(reason: reason, at: Date(), retry: retry)
        serviceFailures[name] = ((serviceFailures[name]?.count ?? 0) + 1, reason)
        report(.service(name), "service \(name) stopped: \(reason)" + (retryIn.map { "; restarting in \($0)" } ?? ""))
        serviceBell.ring()
    }

    public func serviceStopped(_ name: String) {
        services[name] = .stopped
    }

    public func serviceStates() -> [String: ServiceState] { services }

    // MARK: startup

    /// Step 1: the boot mode, from the small boot file, before anything slow. If even that cannot
    /// be read, the default boot mode (stateful) is enforced: never nothing.
    public func enforceBootMode() throws(NetlinkError) {
        let clock = ContinuousClock.now
        var bootConfig = DynamicConfig()
        do {
            bootConfig = try storeFile.loadBootConfig()
        } catch {
            report(.boot, "boot settings unreadable (\(error.message)); enforcing the default boot mode, stateful")
        }
        let ruleset = compiler.compileBoot(bootConfig)
        // A restart (an upgrade's, a crash's, kill -9's) finds the table the previous rampartd
        // enforced: it stays until the policy replaces it in one transaction, so a restart opens
        // no window, not even the boot mode's (which may permit what the policy blocks).
        if (try? client.tableExists()) == true {
            bootDeferred = true
            enforcement = .boot(bootConfig.bootMode, ruleset)
            phase = .boot
            bootMilliseconds = sinceStart()
            logger.notice("table inet rampart is in force from before (a restart): it stays until the policy replaces it; boot mode \(bootConfig.bootMode.rawValue) only if the policy cannot be applied")
            notify("STATUS=the previous ruleset stays in force; loading the policy")
            return
        }
        try client.apply(ruleset)
        ownGeneration = try? client.generation()
        rulesReplaced()
        enforcement = .boot(bootConfig.bootMode, ruleset)
        phase = .boot
        bootMilliseconds = sinceStart()
        logger.notice("boot mode \(bootConfig.bootMode.rawValue) enforced in \(Self.fmt(Self.ms(ContinuousClock.now - clock))) ms (\(Self.fmt(bootMilliseconds!)) ms after exec)")
        notify("STATUS=boot mode \(bootConfig.bootMode.rawValue) enforced; loading the policy")
    }

    /// Steps 2–3: load the store and apply the policy in one transaction replacing the boot ruleset.
    public func loadPolicy() {
        // Local reads only (a file and the routing table): boot never waits on the network.
        for type in ServerType.allCases { refreshAddresses(type, apply: false) }
        let loadStart = ContinuousClock.now
        phase = .running
        defer { if bootDeferred { enforceDeferredBootMode() } }
        guard rollBackOrphanedChange() else { return }
        loadDomainCache()
        switch loadStore() {
        case .failure(let message):
            report(.store, "\(message); the boot ruleset stays in force")
        case .success:
            logger.info("store \(config.store): \(storeState) in \(Self.fmt(Self.ms(ContinuousClock.now - loadStart))) ms")
            if case .failure(let e) = applyCurrent(reason: "startup") {
                report(.apply, "the policy could not be applied: \(e); the boot ruleset stays in force")
            }
        }
    }

    /// The policy could not be applied over the previous rampartd's table: the boot mode, as at boot.
    func enforceDeferredBootMode() {
        if case .failure(let error) = apply(enforcement, reason: "the policy could not be applied") {
            report(.boot, "the boot mode could not be enforced either (\(error.message)); the previous rampartd's ruleset stays in force")
        }
        bootDeferred = false
    }

    /// A change made with --confirm and not confirmed before rampartd stopped (kill, crash,
    /// reboot: the usual ways out of a lockout) is rolled back before the policy loads, whatever
    /// time is left in its window. A damaged journal keeps the ruleset in force: fail closed.
    /// Returns false when the policy must not be loaded.
    func rollBackOrphanedChange() -> Bool {
        let file = storeFile
        let pending: PendingConfirmation?
        do {
            pending = try file.loadPending()
        } catch {
            report(.confirm, "\(error.message): the store may hold an unconfirmed change; the ruleset in force stays until the journal \(file.pendingPath) is removed (then 'systemctl reload rampartd')")
            return false
        }
        guard let pending else {
            clearProblem(.confirm)
            return true
        }
        do {
            try file.withExclusiveLock {
                try file.save(pending.previous)
                try file.removePending()
            }
            logger.warning("an unconfirmed change (by \(pending.requestedBy), due \(StatusReport.iso(pending.deadline))) was pending when rampartd stopped: rolled back to the previous store")
            clearProblem(.confirm)
            return true
        } catch {
            report(.confirm, "an unconfirmed change is pending but the previous store could not be restored (\(error)); the boot ruleset stays in force")
            return false
        }
    }

    /// Step 4: READY=1, once a ruleset is committed and the control socket listens (or failed).
    public func announceReady() {
        // Host names resolve only now: boot never waits on DNS, which the boot mode may block.
        resolveNames()
        readyMilliseconds = sinceStart()
        notify("READY=1\nSTATUS=\(statusLine())")
        if case .degraded(let list) = health { logger.warning("ready but degraded: \(list.map(\.message).joined(separator: "; "))") }
        logger.notice("ready in \(Self.fmt(readyMilliseconds!)) ms: \(statusLine())")
        if reloadAfterStartup {
            reloadAfterStartup = false
            reload()
        }
        schedule(.releaseStartupMemory, after: .seconds(1))
        startMetricsFile()
    }

    enum LoadResult {
        case success
        case failure(String)
    }

    func loadStore() -> LoadResult {
        let file = storeFile
        guard file.exists else {
            if storeState.wasRead {
                return .failure("the store \(config.store) has vanished (deleted, or the configuration names another path); the running ruleset stays in force")
            }
            store = Store()
            storeState = .absent
            logger.warning("no store at \(config.store): no policy is assigned and traffic is not filtered (Windows semantics); create one with 'rampart exec'")
            return .success
        }
        do {
            store = try file.load()
            do {
                if try file.repairBootFile(for: store) { logger.notice("the boot file did not match the store (a writer stopped between them): rewritten") }
            } catch {
                logger.error("cannot rewrite the boot file to match the store: \(error)")
            }
            storeState = .loaded(assigned: StoreLocation.allCases.compactMap { location in
                store[location].assignedPolicy.map { "\($0.name) (\($0 == store.persistent.assignedPolicy ? "persistent" : "local"))" }
            })
            return .success
        } catch {
            if !storeState.wasRead { storeState = .corrupt(error.message) }
            return .failure(error.message)
        }
    }

    /// Compiles the in-memory store and dynamic state and applies them in one transaction.
    @discardableResult
    func applyCurrent(reason: String) -> Result<Void, NetlinkError> {
        apply(.policy(compiler.compile(store, dynamic: dynamic, addresses: addresses, at: wallNow)), reason: reason)
    }

    /// The wall clock, for schedules (tests fake it through the environment).
    var wallNow: Date { Date(timeIntervalSince1970: environment.wallClock()) }

    /// After a policy is in force: wake at the next change of a schedule it uses (at least once a
    /// minute while any is used, so a wall-clock step — NTP, a resumed VM — is caught too).
    /// `instant` is what the ruleset in force was compiled for; unknown, a second back covers the
    /// time since its compile, so an edge that passed in between is never slept over.
    func planScheduleCheck(after instant: Date? = nil) {
        let now = wallNow
        guard case .policy = enforcement, let delay = scheduleWatch.plan(store, after: instant ?? now.addingTimeInterval(-1), now: now) else {
            cancelTimer(.scheduleCheck)
            return
        }
        schedule(.scheduleCheck, after: delay)
    }

    /// A schedule may have opened or closed a window: compile for the change the timer was armed
    /// for (a wake a moment early stands for it) and apply when the rules differ; re-arm from there.
    func checkSchedules() {
        guard case .policy(let current) = enforcement else { return }
        let instant = scheduleWatch.instant(wokenAt: wallNow)
        let fresh = compiler.compile(store, dynamic: dynamic, addresses: addresses, at: instant)
        for line in scheduleWatch.edges(store, at: instant) { logger.notice("\(line)") }
        if fresh.chains != current.chains || fresh.filterSets != current.filterSets {
            if case .failure(let e) = apply(.policy(fresh), reason: "schedule change", scheduleInstant: instant) {
                report(.apply, "a schedule changed but the new ruleset was refused; the previous one stays in force: \(e.message)")
            }
        }
        planScheduleCheck(after: instant)
    }

    /// Commits `target`'s ruleset; on success it is what is enforced, on failure nothing changes.
    func apply(_ target: Enforcement, reason: String, scheduleInstant: Date? = nil) -> Result<Void, NetlinkError> {
        defer { planScheduleCheck(after: scheduleInstant) }
        guard let ruleset = target.ruleset else { return .success(()) }
        let clock = ContinuousClock.now
        // Only set elements differ (an address group changed): flush and refill those sets in one
        // transaction; rules and counters stay. If that fails (the table was removed behind our
        // back), the full apply below puts everything back.
        if case .policy(let current) = enforcement, case .policy = target, let changed = ruleset.setChanges(from: current), !changed.isEmpty {
            do {
                let report = try client.replaceElements(of: changed)
                ownGeneration = try? client.generation()
                let elapsed = Self.ms(ContinuousClock.now - clock)
                enforcement = target
                lastApply = ApplyRecord(at: Date(), milliseconds: elapsed, result: "set-only: \(changed.count) sets, \(report.setElements) elements", ok: true)
                totals.applies += 1
                totals.applySeconds += elapsed / 1000
                logger.info("updated \(changed.map(\.name).joined(separator: ", ")) set-only (\(reason)): \(report.setElements) elements in \(Self.fmt(elapsed)) ms")
                syncIPsec()
                return .success(())
            } catch {
                logger.warning("set-only update failed (\(error.message)); replacing the table instead")
            }
        }
        do {
            let report = try client.apply(ruleset)
            ownGeneration = try? client.generation()
            if let refusal = report.defragmentationMissing {
                logger.warning("the kernel refused the defrag chain (no nft_tproxy?), applied without it: fragmented datagrams to permitted ports may be dropped unless ipsecdiagnostics bit 4 is set (\(refusal))")
            }
            rulesReplaced()
            bootDeferred = false
            let elapsed = Self.ms(ContinuousClock.now - clock)
            enforcement = target
            lastApply = ApplyRecord(at: Date(), milliseconds: elapsed, result: "\(report.rules) rules, \(ruleset.setCount) sets", ok: true)
            totals.applies += 1
            totals.applySeconds += elapsed / 1000
            logger.info("applied the \(target) (\(reason)): \(report.rules) rules, \(ruleset.setCount) sets, \(report.messages) messages in \(Self.fmt(elapsed)) ms")
            if case .policy = target { syncIPsec() }
            return .success(())
        } catch {
            lastApply = ApplyRecord(at: Date(), milliseconds: Self.ms(ContinuousClock.now - clock), result: error.message, ok: false)
            totals.applyFailures += 1
            totals.applySeconds += lastApply!.milliseconds / 1000
            logger.error("applying the \(target) failed (\(reason)); the previous ruleset stays in force: \(error.message)")
            return .failure(error)
        }
    }

    // MARK: reload and self-healing

    /// SIGHUP: re-read the configuration and the store, recompile, apply atomically. On any error
    /// the running ruleset stays and the error shows in the log and the status. Returns that
    /// error, nil on success. During startup it is remembered and runs once ready.
    @discardableResult
    public func reload() -> String? {
        guard phase == .running || phase == .boot, readyMilliseconds != nil else {
            reloadAfterStartup = true
            return nil
        }
        logger.notice("reloading")
        notify("RELOADING=1")
        defer { notify("READY=1\nSTATUS=\(statusLine())") }
        if let configPath {
            do {
                if let text = try environment.readConfig(configPath) {
                    var fresh = try DaemonConfig.parse(text, file: configPath)
                    fresh.store = overrides.store ?? fresh.store
                    fresh.socket = overrides.socket ?? fresh.socket
                    if fresh.socket != config.socket { logger.warning("socket path changes take effect on restart") }
                    fresh.socket = config.socket
                    config = fresh
                }
                // No file: the defaults, as at startup.
            } catch let error as Diagnostic {
                return failed(.config, "reload: \(error); the running configuration and ruleset stay")
            } catch {
                return failed(.config, "reload: cannot read \(configPath): \(error)")
            }
        }
        clearProblem(.config)
        startMetricsFile()
        // A journal with no change pending in memory was left by a daemon that stopped: as at startup.
        if pendingConfirm == nil, !rollBackOrphanedChange() { return problems[.confirm] }
        let previous = (store, storeState)
        switch loadStore() {
        case .failure(let message):
            store = previous.0
            storeState = .previousKept(vanished: !storeFile.exists, reason: message)
            return failed(.store, "reload: \(message); the running ruleset stays in force")
        case .success:
            break
        }
        // The sources again: their paths, or how they are read (gateway_from_router_advertisements), may have changed.
        for type in ServerType.allCases { refreshAddresses(type, apply: false) }
        // Renewed certificates and keys, a charon restarted: loaded again even if the plan is the same.
        ipsecReloadPending = true
        if case .failure(let e) = applyCurrent(reason: "reload") {
            return failed(.apply, "reload: the kernel rejected the new ruleset; the running ruleset stays: \(e)")
        }
        for area in [ProblemArea.boot, .store, .apply] { clearProblem(area) }
        phase = .running
        resolveNames()
        logger.notice("reloaded: \(statusLine())")
        return nil
    }

    /// Someone else changed our table: put ours back at once. If that fails (another process
    /// holds the table with the owner flag, say) the daemon is degraded and retries with backoff
    /// until the table is ours again.
    public func tableChanged(_ change: TableChange) {
        guard applied != nil else { return }
        // Notifications lost (our own large commit floods the socket): if no transaction of
        // anyone's came after ours, the table is as we left it, and restoring it would flood the
        // socket again (issue 29, item 6).
        if change.overrun, let ours = ownGeneration, let now = try? client.generation(), now == ours {
            logger.info("nftables notifications were lost, but no transaction came after ours: table inet rampart is as applied")
            return
        }
        logger.warning("table inet rampart was changed by \(change); restoring the \(enforcement)")
        guard restoreRetryDelay == nil else { return }
        restore()
    }

    /// Reads the kernel's counters for a query. A table found missing (deleted a moment ago, its
    /// notification not yet handled: the soak test's `monitor --once` failed there) is restored
    /// first and read again, so the answer is never "no such table" while rampartd enforces one.
    func readingTable<T>(_ read: () throws -> T) throws -> T {
        do {
            return try read()
        } catch let error as NetlinkError where error.errno == ENOENT && applied != nil {
            logger.warning("table inet rampart is missing; restoring the \(enforcement) before answering")
            restore()
            return try read()
        }
    }

    func restore() {
        guard applied != nil else { return }
        switch apply(enforcement, reason: "restore after a foreign change") {
        case .success:
            restores += 1
            restoreRetryDelay = nil
            cancelTimer(.restoreRetry)
            if problems[.restore] != nil { logger.notice("table inet rampart is ours again: the \(enforcement) is enforced") }
            clearProblem(.restore)
        case .failure(let error):
            let delay = min((restoreRetryDelay ?? .milliseconds(50)) * 2, .seconds(5))
            restoreRetryDelay = delay
            report(.restore, "table inet rampart could not be restored (\(error.message)); the \(enforcement) is NOT enforced; retrying every \(delay) at most")
            schedule(.restoreRetry, after: delay)
        }
    }

    // MARK: timers

    func schedule(_ kind: TimerKind, after delay: Duration) {
        timers[kind] = .now + delay
        timerBell.ring()
    }

    func cancelTimer(_ kind: TimerKind) {
        timers[kind] = nil
    }

    /// The earliest timer, for the timer service.
    public func nextDeadline() -> ContinuousClock.Instant? { timers.values.min() }

    /// Runs every timer due at `now` (tests pass a later instant to let time pass).
    public func fireDueTimers(now: ContinuousClock.Instant = .now) {
        let due = timers.filter { $0.value <= now }.sorted { $0.value < $1.value }.map(\.key)
        for kind in due {
            timers[kind] = nil
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

    public func shutdown(signal: String) {
        phase = .stopping
        logger.notice("\(signal): stopping; the \(enforcement) ruleset stays in force ('rampart flush' removes it)")
        notify("STOPPING=1")
        // Only our own socket: a path that now holds another file is left alone.
        if let socket = socketFile {
            var info = stat()
            if lstat(socket.path, &info) == 0, UInt64(info.st_ino) == socket.inode { unlink(socket.path) }
        }
    }

    /// The control socket listens (`warning`: group members cannot use it).
    public func controlSocketListening(path: String, inode: UInt64, warning: String?) {
        socketFile = (path, inode)
        if let warning { report(.socket, warning) } else { clearProblem(.socket) }
    }

    /// The policy stays enforced without a control socket, but nobody can change or query it.
    public func controlSocketFailed(_ message: String) {
        report(.socket, "control socket \(config.socket) unavailable: \(message); the policy stays enforced but cannot be changed or queried")
    }

    public func watchdog() { notify("WATCHDOG=1") }
}
