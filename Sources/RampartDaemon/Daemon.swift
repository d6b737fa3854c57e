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
        case starting, boot, running, degraded
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
    let started: ContinuousClock.Instant
    let startedAt = Date()
    var config: DaemonConfig
    let configPath: String?
    let overrides: Overrides
    let client: NftablesClient
    /// The port id of our netlink socket: notifications carrying it are our own changes.
    public nonisolated let portID: UInt32

    var phase = Phase.starting
    var problems: [String] = []
    var store = Store()
    var storeState = "not loaded"
    var dynamic = DynamicState()
    var applied: Ruleset?
    var enforcing = "nothing"
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

    // MARK: startup

    /// Step 1: the boot mode, from the small boot file, before anything slow. If even that cannot
    /// be read, the default boot mode (stateful) is enforced: never nothing.
    public func enforceBootMode() throws(NetlinkError) {
        let clock = ContinuousClock.now
        var bootConfig = DynamicConfig()
        do {
            bootConfig = try storeFile.loadBootConfig()
        } catch {
            problems.append("boot settings unreadable (\(error.message)); enforcing the default boot mode, stateful")
            logger.error("boot settings unreadable: \(error.message); enforcing the default boot mode (stateful)")
        }
        let ruleset = compiler.compileBoot(bootConfig)
        try client.apply(ruleset)
        applied = ruleset
        enforcing = "boot mode \(bootConfig.bootMode.rawValue)"
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
        switch loadStore() {
        case .failure(let message):
            phase = .degraded
            problems.append(message)
            logger.critical("\(message); the boot ruleset stays in force")
        case .success:
            logger.info("store \(config.store): \(storeState) in \(Self.fmt(Self.ms(ContinuousClock.now - loadStart))) ms")
            if case .failure(let e) = applyCurrent(reason: "startup") {
                phase = .degraded
                problems.append("the policy could not be applied: \(e); the boot ruleset stays in force")
            } else {
                phase = .running
            }
        }
    }

    /// Step 4: READY=1, once a ruleset is committed and the control socket listens.
    public func announceReady() {
        // Host names resolve only now: boot never waits on DNS, which the boot mode may block.
        resolveNames()
        readyMilliseconds = sinceStart()
        notifier.notify("READY=1\nSTATUS=\(statusLine())")
        logger.notice("ready in \(Self.fmt(readyMilliseconds!)) ms: \(statusLine())")
    }

    enum LoadResult {
        case success
        case failure(String)
    }

    func loadStore() -> LoadResult {
        let file = storeFile
        guard file.exists else {
            store = Store()
            storeState = "missing: no policy is assigned, traffic is not filtered"
            logger.warning("no store at \(config.store): no policy is assigned and traffic is not filtered (Windows semantics); create one with 'rampart exec'")
            return .success
        }
        do {
            store = try file.load()
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
        apply(compiler.compile(store, dynamic: dynamic, addresses: addresses), what: "policy", reason: reason)
    }

    func apply(_ ruleset: Ruleset, what: String, reason: String) -> Result<Void, NetlinkError> {
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
    /// the running ruleset stays and the error shows in the log and the status.
    public func reload() {
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
                fail("reload: \(error); the running configuration and ruleset stay")
                return
            } catch where (error as NSError).code == NSFileReadNoSuchFileError {
                // A missing configuration file means the defaults, as at startup.
            } catch {
                fail("reload: cannot read \(configPath): \(error.localizedDescription)")
                return
            }
        }
        let previous = (store, storeState)
        switch loadStore() {
        case .failure(let message):
            (store, storeState) = previous
            fail("reload: \(message); the running ruleset stays in force")
            storeState = "corrupt on disk (running the previous policy): \(message)"
            return
        case .success:
            break
        }
        if case .failure(let e) = applyCurrent(reason: "reload") {
            fail("reload: the kernel rejected the new ruleset; the running ruleset stays: \(e)")
            return
        }
        problems = []
        phase = .running
        resolveNames()
        logger.notice("reloaded: \(statusLine())")
    }

    func fail(_ message: String) {
        problems = [message]
        phase = .degraded
        logger.error("\(message)")
    }

    /// Someone else changed our table: put ours back at once.
    public func tableChanged(_ change: TableChange) {
        guard let ruleset = applied else { return }
        logger.warning("table inet rampart was changed by \(change); restoring the \(enforcing)")
        if case .success = apply(ruleset, what: enforcing, reason: "restore after a foreign change") {
            restores += 1
        }
    }

    public func shutdown(signal: String) {
        logger.notice("\(signal): stopping; the \(enforcing) ruleset stays in force ('rampart flush' removes it)")
        notifier.notify("STOPPING=1")
    }

    public func watchdog() { notifier.notify("WATCHDOG=1") }

    // MARK: status

    func statusLine() -> String {
        var parts = ["\(phase.rawValue): enforcing the \(enforcing)", "store \(storeState)"]
        if !dynamic.rules.isEmpty { parts.append("\(dynamic.rules.count) dynamic rules") }
        if let p = problems.last { parts.append(p) }
        return parts.joined(separator: "; ")
    }

    func statusJSON() -> JSONValue {
        let filters = EffectiveFilters.collect(store, dynamic: dynamic)
        var members: [(String, JSONValue)] = [
            ("state", .string(phase.rawValue)),
            ("pid", .int(Int(getpid()))),
            ("enforcing", .string(enforcing)),
            ("bootMode", .string(store.config.bootMode.rawValue)),
            ("store", .object([("path", .string(config.store)), ("state", .string(storeState))])),
            ("socket", .string(config.socket)),
            ("assignedPolicies", .object(StoreLocation.allCases.map { ($0.rawValue, store[$0].assignedPolicy.map { .string($0.name) } ?? .null) })),
            ("activeFilters", .int(filters.count)),
            ("rules", .int(applied?.ruleCount ?? 0)),
            ("sets", .int(applied?.sets.count ?? 0)),
            ("dynamicRules", .int(dynamic.rules.count)),
            ("restores", .int(restores)),
            ("problems", .array(problems.map { .string($0) })),
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
            "rampartd \(phase.rawValue) (pid \(getpid()), up since \(ISO8601DateFormatter().string(from: startedAt)))",
            "  enforcing:   the \(enforcing) (\(applied?.ruleCount ?? 0) rules, \(applied?.sets.count ?? 0) sets)",
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
        if let p = pendingConfirm { lines.append("  PENDING:     unconfirmed change; rolls back at \(ISO8601DateFormatter().string(from: p.deadline)) unless 'rampart confirm'") }
        for p in problems { lines.append("  PROBLEM:     \(p)") }
        for (name, r) in nameResolution.sorted(by: { $0.key < $1.key }) {
            if let error = r.error { lines.append("  LOOKUP:      \(name) failed (\(error)); its set keeps the last known addresses") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
