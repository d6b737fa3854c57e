import Foundation
import Logging
import RampartCompiler
import RampartControl
import RampartNetlink
import RampartPolicy

/// rampartd's state and every change to it. One actor: the kernel socket, the store, the runtime-only
/// dynamic rules and the status all live here, so requests, signals and self-healing never race.
public actor Daemon {
    public enum Phase: String, Sendable {
        case starting, boot, running
    }

    /// What is wrong, by area: each area has at most one current problem, cleared when that
    /// area works again. Any problem makes the daemon degraded.
    enum ProblemArea: String, Sendable, CaseIterable, Comparable {
        case boot, config, store, apply, restore, confirm, socket, sets, dns, gateway, dhcp, wins

        static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
    }

    /// Which ruleset is in the kernel.
    enum Enforcing: Sendable, Equatable, CustomStringConvertible {
        case nothing
        case boot(DynamicConfig.BootMode)
        case policy

        var description: String {
            switch self {
            case .nothing: return "nothing"
            case .boot(let mode): return "boot mode \(mode.rawValue)"
            case .policy: return "policy"
            }
        }
    }

    public struct ApplyRecord: Sendable {
        var at: Date
        var milliseconds: Double
        var result: String
        var ok: Bool
    }

    struct PendingConfirm {
        var token: Int
        var deadline: Date
        var previousStore: Store
        var previousDynamic: DynamicState
    }

    let logger: Logger
    let notifier: SystemdNotifier
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

    var phase = Phase.starting
    var problems: [ProblemArea: String] = [:]
    var store = Store()
    var storeState = "not loaded"
    /// True once a store file was read: a store that vanishes after that is a fault, not "no policy".
    var storeWasLoaded = false
    var dynamic = DynamicState()
    var applied: Ruleset?
    var enforcing = Enforcing.nothing
    /// A failed restore is retried with this delay, doubling to 5 s.
    var restoreRetryDelay: Duration?
    var socketFile: (path: String, inode: UInt64)?
    var lastApply: ApplyRecord?
    var bootMilliseconds: Double?
    var readyMilliseconds: Double?
    var restores = 0
    var pendingConfirm: PendingConfirm?
    var confirmTokens = 0
    /// The addresses the server types stand for now, and where each list came from.
    var addresses = DynamicAddresses()
    var provenance: [ServerType: (source: String, changed: Date)] = [:]
    var refreshPending: Set<ServerType> = []
    /// Host names in filters: when each was last resolved, and the last failure.
    var nameResolution: [String: (at: Date, error: String?)] = [:]
    var resolving = false
    var resolveGeneration = 0

    /// Command-line and environment overrides, which win over the configuration file on reload too.
    public struct Overrides: Sendable {
        public var store: String?
        public var socket: String?
        public init(store: String?, socket: String?) {
            self.store = store
            self.socket = socket
        }
    }

    public init(config: DaemonConfig, configPath: String?, overrides: Overrides, logger: Logger,
                started: ContinuousClock.Instant) throws(NetlinkError) {
        self.config = config
        self.configPath = configPath
        self.overrides = overrides
        self.logger = logger
        self.started = started
        controlGroup = config.controlGroup
        notifier = SystemdNotifier()
        client = try NftablesClient()
        portID = client.portID
    }

    var storeFile: StoreFile { StoreFile(path: config.store) }
    var compiler: RulesetCompiler { RulesetCompiler(options: CompileOptions(logGroup: config.logGroup)) }

    func sinceStart() -> Double { Self.ms(ContinuousClock.now - started) }

    static func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

    static func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

    func status(_ text: String) {
        notifier.notify("STATUS=\(text)")
    }

    /// running, or degraded while any problem stands (boot and starting say where startup is).
    var state: String { problems.isEmpty || phase != .running ? phase.rawValue : "degraded" }

    func problemList() -> [String] { problems.sorted { $0.key < $1.key }.map(\.value) }

    func report(_ area: ProblemArea, _ message: String) {
        if problems[area] != message { logger.error("\(message)") }
        problems[area] = message
    }

    func clearProblem(_ area: ProblemArea) {
        problems[area] = nil
    }

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
        try client.apply(ruleset)
        applied = ruleset
        enforcing = .boot(bootConfig.bootMode)
        phase = .boot
        bootMilliseconds = sinceStart()
        logger.notice("boot mode \(bootConfig.bootMode.rawValue) enforced in \(Self.fmt(Self.ms(ContinuousClock.now - clock))) ms (\(Self.fmt(bootMilliseconds!)) ms after exec)")
        status("boot mode \(bootConfig.bootMode.rawValue) enforced; loading the policy")
    }

    /// Steps 2–4: load the store, apply the policy in one transaction replacing the boot ruleset,
    /// then tell systemd we are ready — only once a ruleset is committed.
    public func loadPolicy() {
        // Local reads only (a file and the routing table): boot never waits on the network.
        refreshAddresses(.dns, apply: false)
        refreshAddresses(.gateway, apply: false)
        refreshAddresses(.dhcp, apply: false)
        refreshAddresses(.wins, apply: false)
        let loadStart = ContinuousClock.now
        phase = .running
        guard rollBackOrphanedChange() else { return }
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

    /// A change made with --confirm and not confirmed before rampartd stopped (kill, crash,
    /// reboot: the usual ways out of a lockout) is rolled back before the policy loads, whatever
    /// time is left in its window. A damaged journal keeps the boot ruleset: fail closed.
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
            logger.warning("an unconfirmed change (by \(pending.requestedBy), due \(ISO8601DateFormatter().string(from: pending.deadline))) was pending when rampartd stopped: rolled back to the previous store")
            clearProblem(.confirm)
            return true
        } catch {
            report(.confirm, "an unconfirmed change is pending but the previous store could not be restored (\(error)); the boot ruleset stays in force")
            return false
        }
    }

    /// Step 4: READY=1, once a ruleset is committed and the control socket listens.
    public func announceReady() {
        // Host names resolve only now: boot never waits on DNS, which the boot mode may block.
        resolveNames()
        readyMilliseconds = sinceStart()
        notifier.notify("READY=1\nSTATUS=\(statusLine())")
        if !problems.isEmpty { logger.warning("ready but degraded: \(problemList().joined(separator: "; "))") }
        logger.notice("ready in \(Self.fmt(readyMilliseconds!)) ms: \(statusLine())")
    }

    enum LoadResult {
        case success
        case failure(String)
    }

    func loadStore() -> LoadResult {
        let file = storeFile
        guard file.exists else {
            if storeWasLoaded {
                return .failure("the store \(config.store) has vanished (deleted, or the configuration names another path); the running ruleset stays in force")
            }
            store = Store()
            storeState = "missing: no policy is assigned, traffic is not filtered"
            logger.warning("no store at \(config.store): no policy is assigned and traffic is not filtered (Windows semantics); create one with 'rampart exec'")
            return .success
        }
        do {
            store = try file.load()
            storeWasLoaded = true
            do {
                if try file.repairBootFile(for: store) { logger.notice("the boot file did not match the store (a writer stopped between them): rewritten") }
            } catch {
                logger.error("cannot rewrite the boot file to match the store: \(error)")
            }
            let assigned = StoreLocation.allCases.compactMap { store[$0].assignedPolicy.map { "\($0.name) (\($0 == store.persistent.assignedPolicy ? "persistent" : "local"))" } }
            storeState = assigned.isEmpty ? "loaded; no policy assigned" : "loaded; assigned: \(assigned.joined(separator: ", "))"
            return .success
        } catch {
            storeState = "corrupt: \(error.message)"
            return .failure(error.message)
        }
    }

    /// Compiles the in-memory store and dynamic state and applies them in one transaction.
    @discardableResult
    func applyCurrent(reason: String) -> Result<Void, NetlinkError> {
        apply(compiler.compile(store, dynamic: dynamic, addresses: addresses), what: .policy, reason: reason)
    }

    func apply(_ ruleset: Ruleset, what: Enforcing, reason: String) -> Result<Void, NetlinkError> {
        let clock = ContinuousClock.now
        do {
            let report = try client.apply(ruleset)
            let elapsed = Self.ms(ContinuousClock.now - clock)
            applied = ruleset
            enforcing = what
            lastApply = ApplyRecord(at: Date(), milliseconds: elapsed, result: "\(report.rules) rules, \(ruleset.sets.count) sets", ok: true)
            logger.info("applied the \(what) (\(reason)): \(report.rules) rules, \(ruleset.sets.count) sets, \(report.messages) messages in \(Self.fmt(elapsed)) ms")
            return .success(())
        } catch {
            lastApply = ApplyRecord(at: Date(), milliseconds: Self.ms(ContinuousClock.now - clock), result: error.message, ok: false)
            logger.error("applying the \(what) failed (\(reason)); the previous ruleset stays in force: \(error.message)")
            return .failure(error)
        }
    }

    // MARK: reload and self-healing

    /// SIGHUP: re-read the configuration and the store, recompile, apply atomically. On any error
    /// the running ruleset stays and the error shows in the log and the status. Returns that error, nil on success.
    @discardableResult
    public func reload() -> String? {
        logger.notice("reloading")
        notifier.notify("RELOADING=1")
        defer { notifier.notify("READY=1\nSTATUS=\(statusLine())") }
        if let configPath {
            do {
                var fresh = try DaemonConfig.parse(String(contentsOfFile: configPath, encoding: .utf8), file: configPath)
                fresh.store = overrides.store ?? fresh.store
                fresh.socket = overrides.socket ?? fresh.socket
                if fresh.socket != config.socket { logger.warning("socket path changes take effect on restart") }
                fresh.socket = config.socket
                config = fresh
            } catch let error as Diagnostic {
                return failed(.config, "reload: \(error); the running configuration and ruleset stay")
            } catch where (error as NSError).code == NSFileReadNoSuchFileError {
                // A missing configuration file means the defaults, as at startup.
            } catch {
                return failed(.config, "reload: cannot read \(configPath): \(error.localizedDescription)")
            }
        }
        clearProblem(.config)
        // A journal with no change pending in memory was left by a daemon that stopped: as at startup.
        if pendingConfirm == nil, !rollBackOrphanedChange() { return problems[.confirm] }
        let previous = (store, storeState)
        switch loadStore() {
        case .failure(let message):
            (store, storeState) = previous
            storeState = (storeFile.exists ? "corrupt on disk" : "vanished from disk") + " (running the previous policy): \(message)"
            return failed(.store, "reload: \(message); the running ruleset stays in force")
        case .success:
            break
        }
        if case .failure(let e) = applyCurrent(reason: "reload") {
            return failed(.apply, "reload: the kernel rejected the new ruleset; the running ruleset stays: \(e)")
        }
        for area in [ProblemArea.boot, .store, .apply] { clearProblem(area) }
        phase = .running
        resolveNames()
        logger.notice("reloaded: \(statusLine())")
        return nil
    }

    func failed(_ area: ProblemArea, _ message: String) -> String {
        report(area, message)
        return message
    }

    /// Someone else changed our table: put ours back at once. If that fails (another process
    /// holds the table with the owner flag, say) the daemon is degraded and retries with backoff
    /// until the table is ours again.
    public func tableChanged(_ change: TableChange) {
        guard applied != nil else { return }
        logger.warning("table inet rampart was changed by \(change); restoring the \(enforcing)")
        guard restoreRetryDelay == nil else { return }
        restore()
    }

    func restore() {
        guard let ruleset = applied else { return }
        switch apply(ruleset, what: enforcing, reason: "restore after a foreign change") {
        case .success:
            restores += 1
            restoreRetryDelay = nil
            if problems[.restore] != nil { logger.notice("table inet rampart is ours again: the \(enforcing) is enforced") }
            clearProblem(.restore)
        case .failure(let error):
            let delay = min((restoreRetryDelay ?? .milliseconds(50)) * 2, .seconds(5))
            restoreRetryDelay = delay
            report(.restore, "table inet rampart could not be restored (\(error.message)); the \(enforcing) is NOT enforced; retrying every \(delay) at most")
            Task { [weak self] in
                try? await Task.sleep(for: delay)
                await self?.restore()
            }
        }
    }

    public func shutdown(signal: String) {
        logger.notice("\(signal): stopping; the \(enforcing) ruleset stays in force ('rampart flush' removes it)")
        notifier.notify("STOPPING=1")
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

    public func watchdog() { notifier.notify("WATCHDOG=1") }

    // MARK: status

    func statusLine() -> String {
        var parts = ["\(state): enforcing the \(enforcing)", "store \(storeState)"]
        if !dynamic.rules.isEmpty { parts.append("\(dynamic.rules.count) dynamic rules") }
        parts += problemList()
        return parts.joined(separator: "; ")
    }

    func statusJSON() -> JSONValue {
        let filters = EffectiveFilters.collect(store, dynamic: dynamic)
        var members: [(String, JSONValue)] = [
            ("state", .string(state)),
            ("pid", .int(Int(getpid()))),
            ("enforcing", .string(enforcing.description)),
            ("bootMode", .string(store.config.bootMode.rawValue)),
            ("store", .object([("path", .string(config.store)), ("state", .string(storeState))])),
            ("socket", .string(config.socket)),
            ("assignedPolicies", .object(StoreLocation.allCases.map { ($0.rawValue, store[$0].assignedPolicy.map { .string($0.name) } ?? .null) })),
            ("activeFilters", .int(filters.count)),
            ("rules", .int(applied?.ruleCount ?? 0)),
            ("sets", .int(applied?.sets.count ?? 0)),
            ("dynamicRules", .int(dynamic.rules.count)),
            ("restores", .int(restores)),
            ("problems", .array(problemList().map { .string($0) })),
            ("bootEnforcedMs", bootMilliseconds.map { .string(Self.fmt($0)) } ?? .null),
            ("readyMs", readyMilliseconds.map { .string(Self.fmt($0)) } ?? .null),
        ]
        if let a = lastApply {
            members.append(("lastApply", .object([("at", .string(ISO8601DateFormatter().string(from: a.at))), ("ms", .string(Self.fmt(a.milliseconds))),
                                                  ("ok", .bool(a.ok)), ("result", .string(a.result))])))
        } else {
            members.append(("lastApply", .null))
        }
        if let p = pendingConfirm {
            members.append(("pendingConfirm", .object([("deadline", .string(ISO8601DateFormatter().string(from: p.deadline)))])))
        }
        return .object(members)
    }

    func statusText() -> String {
        var lines = [
            "rampartd \(state) (pid \(getpid()), up since \(ISO8601DateFormatter().string(from: startedAt)))",
            problems[.restore] == nil ? "  enforcing:   the \(enforcing) (\(applied?.ruleCount ?? 0) rules, \(applied?.sets.count ?? 0) sets)"
                : "  enforcing:   NOTHING: the \(enforcing) could not be restored (see PROBLEM)",
            "  store:       \(config.store): \(storeState)",
            "  boot mode:   \(store.config.bootMode.rawValue)",
            "  filters:     \(EffectiveFilters.collect(store, dynamic: dynamic).count) active, \(dynamic.rules.count) dynamic rules",
        ]
        if let a = lastApply {
            lines.append("  last apply:  \(ISO8601DateFormatter().string(from: a.at)), \(Self.fmt(a.milliseconds)) ms, \(a.ok ? "ok" : "FAILED"): \(a.result)")
        }
        if let b = bootMilliseconds, let r = readyMilliseconds {
            lines.append("  startup:     boot mode enforced \(Self.fmt(b)) ms after exec, ready after \(Self.fmt(r)) ms")
        }
        if restores > 0 { lines.append("  restored:    \(restores) time(s) after foreign changes to the table") }
        if let p = pendingConfirm { lines.append("  PENDING:     unconfirmed change; rolls back at \(ISO8601DateFormatter().string(from: p.deadline)) unless 'rampart confirm' (or at once if rampartd restarts)") }
        for p in problemList() { lines.append("  PROBLEM:     \(p)") }
        for (name, r) in nameResolution.sorted(by: { $0.key < $1.key }) {
            if let error = r.error { lines.append("  LOOKUP:      \(name) failed (\(error)); its set keeps the last known addresses") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
