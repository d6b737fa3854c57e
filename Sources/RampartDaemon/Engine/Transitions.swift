import FoundationEssentials
import Glibc
import Logging
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartReport
import RampartSystem
import RampartConfig

/// The engine's transitions: enforce the boot mode, load, apply, reload, restore after
/// tampering, follow the schedules. Each looks at the state and changes it through the state's
/// own types; what features must do after is their effects.
extension PolicyEngine {
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
            table.deferBoot(.boot(bootConfig.bootMode, ruleset))
            timeline.booted(after: sinceStart())
            logger.notice(
                "table inet rampart is in force from before (a restart): it stays until the policy replaces it; boot mode \(bootConfig.bootMode.rawValue) only if the policy cannot be applied"
            )
            notify("STATUS=the previous ruleset stays in force; loading the policy")
            return
        }
        try client.apply(ruleset)
        let elapsed = Self.ms(ContinuousClock.now - clock)
        drops.rulesReplaced()
        table.enforced(.boot(bootConfig.bootMode, ruleset), generation: try? client.generation())
        timeline.booted(after: sinceStart())
        logger.notice(
            "boot mode \(bootConfig.bootMode.rawValue) enforced in \(Self.fmt(elapsed)) ms (\(Self.fmt(sinceStart())) ms after exec)"
        )
        notify("STATUS=boot mode \(bootConfig.bootMode.rawValue) enforced; loading the policy")
    }

    /// Steps 2–3: load the store and apply the policy in one transaction replacing the boot ruleset.
    public func loadPolicy() {
        // Local reads only (a file and the routing table): boot never waits on the network.
        for type in ServerType.allCases { refreshAddresses(type, apply: false) }
        let loadStart = ContinuousClock.now
        timeline.enter(.running)
        defer { if table.bootDeferred { enforceDeferredBootMode() } }
        guard rollBackOrphanedChange() else { return }
        loadDomainCache()
        switch loadStore() {
        case .failure(let message):
            report(.store, "\(message); the boot ruleset stays in force")
        case .success:
            logger.info(
                "store \(config.store): \(storeState) in \(Self.fmt(Self.ms(ContinuousClock.now - loadStart))) ms")
            if case .failure(let e) = applyCurrent(reason: "startup") {
                report(.apply, "the policy could not be applied: \(e); the boot ruleset stays in force")
            }
        }
    }

    /// The policy could not be applied over the previous rampartd's table: the boot mode, as at boot.
    func enforceDeferredBootMode() {
        if case .failure(let error) = apply(enforcement, reason: "the policy could not be applied") {
            report(
                .boot,
                "the boot mode could not be enforced either (\(error.message)); the previous rampartd's ruleset stays in force"
            )
        }
        table.bootNoLongerDeferred()
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
            report(
                .confirm,
                "\(error.message): the store may hold an unconfirmed change; the ruleset in force stays until the journal \(file.pendingPath) is removed (then 'systemctl reload rampartd')"
            )
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
            logger.warning(
                "an unconfirmed change (by \(pending.requestedBy), due \(StatusReport.iso(pending.deadline))) was pending when rampartd stopped: rolled back to the previous store"
            )
            clearProblem(.confirm)
            return true
        } catch {
            report(
                .confirm,
                "an unconfirmed change is pending but the previous store could not be restored (\(error)); the boot ruleset stays in force"
            )
            return false
        }
    }

    /// Step 4: READY=1, once a ruleset is committed and the control socket listens (or failed).
    public func announceReady() {
        // Host names resolve only now: boot never waits on DNS, which the boot mode may block.
        resolveNames()
        let ready = sinceStart()
        timeline.ready(after: ready)
        notify("READY=1\nSTATUS=\(statusLine())")
        if case .degraded(let list) = health.verdict {
            logger.warning("ready but degraded: \(list.map(\.message).joined(separator: "; "))")
        }
        logger.notice("ready in \(Self.fmt(ready)) ms: \(statusLine())")
        if timeline.takeDeferredReload() { reload() }
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
                return .failure(
                    "the store \(config.store) has vanished (deleted, or the configuration names another path)"
                )
            }
            policy.replace(Store(), .absent)
            logger.warning(
                "no store at \(config.store): no policy is assigned and traffic is not filtered (Windows semantics); create one with 'rampart exec'"
            )
            return .success
        }
        do {
            let loaded = try file.load()
            do {
                if try file.repairBootFile(for: loaded) {
                    logger.notice("the boot file did not match the store (a writer stopped between them): rewritten")
                }
            } catch {
                logger.error("cannot rewrite the boot file to match the store: \(error)")
            }
            policy.replace(
                loaded,
                .loaded(
                    assigned: StoreLocation.allCases.compactMap { location in
                        loaded[location].assignedPolicy.map {
                            "\($0.name) (\($0 == loaded.persistent.assignedPolicy ? "persistent" : "local"))"
                        }
                    }))
            return .success
        } catch {
            if !storeState.wasRead { policy.mark(.corrupt(error.message)) }
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
        guard case .policy = enforcement,
            let delay = scheduleWatch.plan(store, after: instant ?? now.addingTimeInterval(-1), now: now)
        else {
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
                report(
                    .apply,
                    "a schedule changed but the new ruleset was refused; the previous one stays in force: \(e.message)")
            }
        }
        planScheduleCheck(after: instant)
    }

    /// Commits `target`'s ruleset; on success it is what is enforced, on failure nothing changes.
    /// `whole`: replace the table even where a delta would do (a restore: the table in the kernel
    /// is not the one in force).
    func apply(
        _ target: Enforcement, reason: String, scheduleInstant: Date? = nil, whole: Bool = false
    ) -> Result<
        Void, NetlinkError
    > {
        defer { planScheduleCheck(after: scheduleInstant) }
        guard let ruleset = target.ruleset else { return .success(()) }
        // Policy to policy: only what differs goes to the kernel, and every rule and element that
        // stays keeps its counter. If the delta fails (the table was changed behind our back), the
        // full replacement below puts everything back.
        if !whole, case .policy(let current) = enforcement, case .policy = target,
            let delta = RulesetDelta.between(current, ruleset)
        {
            switch applyDelta(target, delta, from: current, reason: reason) {
            case .applied: return .success(())
            case .refused(let error): return .failure(error)
            case .tableDiffers: break
            }
        }
        let clock = ContinuousClock.now
        do {
            // A replacement of one policy by another carries every filter's count over.
            var seeds = CounterSeeds()
            if !whole, case .policy = enforcement, case .policy = target {
                seeds = (try? client.counterSeeds()) ?? seeds
            }
            let report = try client.apply(ruleset, seeds: seeds)
            let generation = try? client.generation()
            if let refusal = report.defragmentationMissing {
                logger.warning(
                    "the kernel refused the defrag chain (no nft_tproxy?), applied without it: fragmented datagrams to permitted ports may be dropped unless ipsecdiagnostics bit 4 is set (\(refusal))"
                )
            }
            // Every rule was replaced: the log rules' counters start again from 0.
            drops.rulesReplaced()
            let elapsed = Self.ms(ContinuousClock.now - clock)
            table.committed(
                target, generation: generation, at: Date(), milliseconds: elapsed,
                result: "\(report.rules) rules, \(ruleset.setCount) sets", whole: true)
            logger.info(
                "applied the \(target) (\(reason)): \(report.rules) rules, \(ruleset.setCount) sets, \(report.messages) messages in \(Self.fmt(elapsed)) ms"
            )
            if case .policy = target { syncIPsec() }
            return .success(())
        } catch {
            table.failed(at: Date(), milliseconds: Self.ms(ContinuousClock.now - clock), error: error.message)
            logger.error(
                "applying the \(target) failed (\(reason)); the previous ruleset stays in force: \(error.message)")
            return .failure(error)
        }
    }

    enum DeltaOutcome {
        case applied
        /// The kernel refused the new rules themselves: a replacement would be refused too.
        case refused(NetlinkError)
        /// The table is not as rampartd left it (a rule, set or element missing or extra): replace it.
        case tableDiffers
    }

    /// The delta transaction.
    private func applyDelta(
        _ target: Enforcement, _ delta: RulesetDelta, from current: Ruleset, reason: String
    )
        -> DeltaOutcome
    {
        guard !delta.isEmpty else {
            table.committed(
                target, generation: table.generation, at: Date(), milliseconds: 0, result: "unchanged", whole: false)
            // The rules are the same, but a reload may have changed what charon is given (a key, a
            // main-mode offer): it is synced as after any apply.
            syncIPsec()
            return .applied
        }
        let clock = ContinuousClock.now
        do {
            let report = try client.applyDelta(delta, from: current)
            let generation = try? client.generation()
            let elapsed = Self.ms(ContinuousClock.now - clock)
            let summary =
                "delta: +\(report.rulesInserted) −\(report.rulesDeleted) rules, +\(report.elementsAdded) −\(report.elementsRemoved) elements, \(report.sets) sets"
            table.committed(
                target, generation: generation, at: Date(), milliseconds: elapsed, result: summary, whole: false)
            if delta.changesLogRules(in: current) { drops.rulesChanged(kernel: kernelLoggedCount() ?? 0) }
            logger.info(
                "applied the \(target) (\(reason)) as a \(summary), \(report.messages) messages in \(Self.fmt(elapsed)) ms"
            )
            syncIPsec()
            return .applied
        } catch  where error.errno == nil || error.errno == ENOENT || error.errno == EEXIST {
            logger.warning("the table is not as rampartd left it (\(error.message)); replacing it whole")
            return .tableDiffers
        } catch {
            table.failed(at: Date(), milliseconds: Self.ms(ContinuousClock.now - clock), error: error.message)
            logger.error(
                "applying the \(target) failed (\(reason)); the previous ruleset stays in force: \(error.message)")
            return .refused(error)
        }
    }

    // MARK: reload and self-healing

    /// SIGHUP: re-read the configuration and the store, recompile, apply atomically. On any error
    /// the running ruleset stays and the error shows in the log and the status. Returns that
    /// error, nil on success. During startup it is remembered and runs once ready.
    @discardableResult
    public func reload() -> String? {
        guard timeline.mayReload() else { return nil }
        logger.notice("reloading")
        notify("RELOADING=1")
        defer { notify("READY=1\nSTATUS=\(statusLine())") }
        if let configPath = launch.configPath {
            do {
                if let text = try environment.readConfig(configPath) {
                    var fresh = try DaemonConfig.parse(text, file: configPath)
                    fresh.store = launch.overrides.store ?? fresh.store
                    fresh.socket = launch.overrides.socket ?? fresh.socket
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
        if confirmation.pending == nil, !rollBackOrphanedChange() { return health.problems[.confirm] }
        switch loadStore() {
        case .failure(let message):
            policy.mark(.previousKept(vanished: !storeFile.exists, reason: message))
            return failed(.store, "reload: \(message); the running ruleset stays in force")
        case .success:
            break
        }
        // The sources again: their paths, or how they are read (gateway_from_router_advertisements), may have changed.
        for type in ServerType.allCases { refreshAddresses(type, apply: false) }
        // Renewed certificates and keys, a charon restarted: loaded again even if the plan is the same.
        ipsec.reloadRequested()
        if case .failure(let e) = applyCurrent(reason: "reload") {
            return failed(.apply, "reload: the kernel rejected the new ruleset; the running ruleset stays: \(e)")
        }
        for area in [ProblemArea.boot, .store, .apply] { clearProblem(area) }
        timeline.enter(.running)
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
        if change.overrun, table.generation != nil, table.isAsLeft(generationNow: try? client.generation()) {
            logger.info(
                "nftables notifications were lost, but no transaction came after ours: table inet rampart is as applied"
            )
            return
        }
        logger.warning("table inet rampart was changed by \(change); restoring the \(enforcement)")
        guard table.restoreRetryDelay == nil else { return }
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
        switch apply(enforcement, reason: "restore after a foreign change", whole: true) {
        case .success:
            perform(table.restored())
            if health.problems[.restore] != nil {
                logger.notice("table inet rampart is ours again: the \(enforcement) is enforced")
            }
            clearProblem(.restore)
            // An address change whose set update found the table gone is in the book but not in
            // the ruleset just restored: it goes in now.
            if case .policy(let ruleset) = enforcement {
                updateSets(sources: Set(ruleset.sets.map(\.source)), onlyChanged: true)
            }
        case .failure(let error):
            perform(table.restoreFailed(error.message))
        }
    }

}
