import FoundationEssentials
import Glibc
import RampartCompiler
import RampartPolicy
import RampartNetlink
import RampartReport
import RampartSystem

extension PolicyEngine {
    /// The status as data, in one step on the engine; rendered by `StatusReport` elsewhere.
    public func status() -> DaemonStatus {
        var s = DaemonStatus()
        s.state = stateWord
        s.pid = getpid()
        s.startedAt = startedAt
        s.enforcing = enforcement.description
        s.restoreFailing = problems[.restore] != nil
        s.rules = applied?.ruleCount ?? 0
        s.sets = applied?.setCount ?? 0
        s.storePath = config.store
        // A domain policy in force is what filters traffic, whatever the local store says.
        if case .absent = storeState, store.domainDecides, let line = domainLine() {
            s.storeState = "missing: no local policy; the domain policy is enforced (\(line))"
        } else {
            s.storeState = storeState.description
        }
        s.socket = config.socket
        s.bootMode = store.config.bootMode.rawValue
        s.assignedPolicies = StoreLocation.allCases.map { location in
            let name = store[location].assignedPolicy?.name
            // Group Policy's precedence: the domain policy takes the local one's place.
            if location == .local, store.domainDecides, let name { return (location.rawValue, "\(name) (replaced by the domain policy)") }
            return (location.rawValue, name)
        }
        if let d = domain, let name = d.store.assignedPolicy?.name {
            let arrived = StatusReport.iso(Date(timeIntervalSince1970: d.arrived))
            s.assignedPolicies.append(("domain", "\(name) (group \(d.group), revision \(d.revision), arrived \(arrived)\(d.cached ? ", cached" : ""))"))
        }
        s.domain = domainLine()
        s.ipsec = ipsecLine()
        s.fleet = fleetGroup.map { group in "group '\(group)': " + (fleetConnection ?? "not connected yet") }
        s.activeFilters = EffectiveFilters.collect(store, dynamic: dynamic).count
        s.dynamicRules = dynamic.rules.count
        s.lastApply = lastApply.map { DaemonStatus.LastApply(at: $0.at, milliseconds: $0.milliseconds, ok: $0.ok, result: $0.result) }
        s.bootMilliseconds = bootMilliseconds
        s.readyMilliseconds = readyMilliseconds
        s.restores = restores
        s.pendingDeadline = pendingConfirm?.deadline
        s.problems = problemList().map(\.message)
        s.services = services.sorted { $0.key < $1.key }.map { name, state in
            var service = DaemonStatus.Service(name: name, state: state.description, failed: state.isFailed)
            if let f = serviceFailures[name] { (service.failures, service.lastFailure) = (f.count, f.last) }
            return service
        }
        s.failedLookups = nameResolution.sorted { $0.key < $1.key }.compactMap { name, r in r.error.map { (name, $0) } }
        return s
    }

    func statusLine() -> String { StatusReport.line(status()) }

    public func addressBook() -> AddressBookReport {
        AddressBookReport(
            types: ServerType.allCases.map { type in
                AddressBookReport.TypeRow(type: type.rawValue, addresses: addresses.addresses(for: type).map(\.description),
                                          source: provenance[type]?.source, changed: provenance[type]?.changed)
            },
            names: hostNames().map { name in
                AddressBookReport.NameRow(name: name, addresses: (addresses.names[name] ?? []).map(\.description),
                                          resolved: nameResolution[name]?.at, error: nameResolution[name]?.error)
            })
    }
}

extension PolicyEngine {
    /// Where each active filter comes from, by id: what drop records, metrics and the monitor name.
    func filterOrigins() -> [String: FilterOrigin] {
        var origins: [String: FilterOrigin] = [:]
        for f in EffectiveFilters.collect(store, dynamic: dynamic) { origins[f.id] = f.origin }
        return origins
    }

    /// The metrics, in one step on the engine (the counters are one netlink dump of the table).
    func metrics() throws(NetlinkError) -> MetricsSnapshot {
        var m = MetricsSnapshot()
        let problemCount = problemList().count
        m.healthy = problemCount == 0 && enforcement.ruleset != nil
        m.problems = problemCount
        switch enforcement {
        case .policy: m.enforcing = "policy"
        case .boot: m.enforcing = "boot"
        default: m.enforcing = "nothing"
        }
        m.bootMode = store.config.bootMode.rawValue
        m.startedAt = startedAt.timeIntervalSince1970
        m.rules = applied?.ruleCount ?? 0
        let origins = filterOrigins()
        if applied != nil {
            m.filters = MetricsSnapshot.filterCounts(try client.ruleCounters() + client.elementCounters(), origins: origins)
        }
        var live = totals
        if let current = drops?.current(at: Date().timeIntervalSince1970) { Self.add(current, to: &live) }
        m.dropsLogged = live.drops
        (m.itemised, m.notItemised, m.lost) = (live.itemised, live.notItemised, live.lost)
        for set in applied?.sets ?? [] { m.setElements[set.name] = set.elements.count }
        m.filterSetElements = applied?.filterSets.reduce(0) { $0 + $1.elements.count } ?? 0
        (m.applies, m.applyFailures, m.applySeconds) = (totals.applies, totals.applyFailures, totals.applySeconds)
        m.lastApplyTimestamp = lastApply?.at.timeIntervalSince1970
        m.restores = restores
        return m
    }

    /// The metrics file's first write, once configured (at READY, or by a reload that adds it).
    func startMetricsFile() {
        if config.metricsTextfile != nil, timers[.metricsFile] == nil { writeMetricsFile() }
        if config.metricsTextfile == nil { clearProblem(.metricsFile) }
    }

    /// `metrics_textfile`: the Prometheus text for node_exporter's textfile collector, replaced
    /// atomically (a temporary file in the same directory, renamed) every `metrics_interval_seconds`.
    func writeMetricsFile() {
        guard let path = config.metricsTextfile else { return }
        defer { schedule(.metricsFile, after: .seconds(config.metricsIntervalSeconds)) }
        let text: String
        do {
            text = try metrics().render(.prometheus)
        } catch {
            return report(.metricsFile, "the metrics for \(path) cannot be gathered (\(error))")
        }
        let queued = fileWriter.submit(bytes: text.utf8.count) { [self] in
            var failure: String?
            do {
                try OwnedFile.checkDirectory(OwnedFile.directory(of: path), purpose: "metrics textfile")
                // 0644 whatever the unit's UMask=0077: node_exporter reads it as another user.
                try writeAtomically(Data(text.utf8), to: path) { fd throws(StoreError) in
                    guard fchmod(fd, 0o644) == 0 else { throw StoreError("cannot set the mode of \(path): \(String(cString: strerror(errno)))") }
                }
            } catch {
                failure = "\(error)"
            }
            Task { [failure] in await self.metricsFileWritten(path, failure: failure) }
        }
        if !queued { report(.metricsFile, "the metrics file \(path) is not being written (the writer is behind: a slow disk?)") }
    }

    /// The background writer's word on one replacement of `metrics_textfile`.
    func metricsFileWritten(_ path: String, failure: String?) {
        if let failure {
            report(.metricsFile, "the metrics file \(path) cannot be written (\(failure))")
        } else {
            clearProblem(.metricsFile)
        }
    }
}

extension PolicyEngine {
    /// What a monitor frame is made of, taken on the engine in one step: copies of the state and
    /// one read of the kernel's counters. The frame itself is built off the engine
    /// (`MonitorFrame.build`), so a 100,000-filter policy never holds root's requests up.
    func monitorInputs() throws(NetlinkError) -> MonitorFrame.Inputs {
        let s = status()
        let counters = applied == nil ? [] : try client.ruleCounters() + client.elementCounters()
        var info = stat()
        let modified = stat(config.store, &info) == 0 ? Double(info.st_mtim.tv_sec) : nil
        let now = Date().timeIntervalSince1970
        var summaries: [DropAggregator.Summary] = []
        if let current = drops?.current(at: now) { summaries.append(current) }
        if let last = lastDropSummary { summaries.append(last) }
        return MonitorFrame.Inputs(time: now, status: s, store: store, dynamic: dynamic, addresses: addresses, counters: counters,
                                   storePath: config.store, storeModified: modified, drops: summaries, book: addressBook())
    }
}

/// `rampart monitor`'s frame, built from `MonitorFrame.Inputs` off the engine, with at most
/// `MonitorSnapshot.rowLimit` rows per view (and the totals).
enum MonitorFrame {
    struct Inputs: Sendable {
        var time: Double
        var status: DaemonStatus
        var store: Store
        var dynamic: DynamicState
        var addresses: DynamicAddresses
        var counters: [NftablesClient.RuleCounter]
        var storePath: String
        var storeModified: Double?
        var drops: [DropAggregator.Summary]
        var book: AddressBookReport
    }

    static func build(_ i: Inputs) -> MonitorSnapshot {
        var origins: [String: FilterOrigin] = [:]
        for f in EffectiveFilters.collect(i.store, dynamic: i.dynamic) { origins[f.id] = f.origin }
        let counts = MetricsSnapshot.filterCounts(i.counters, origins: origins)
        let views = MonitorSnapshot.filters(i.store, dynamic: i.dynamic, addresses: i.addresses)
        var records: [DropLog.Entry] = []
        for summary in i.drops { records += DropLog.entries(summary, origins: origins) }
        let drops = records.compactMap { e -> DropLog.Record? in if case .record(let r) = e { return r } else { return nil } }
            .sorted { $0.last > $1.last }.prefix(10)
        let sets = i.book.types.map { MonitorSnapshot.AddressSet(name: $0.type, addresses: $0.addresses, source: $0.source, changed: $0.changed?.timeIntervalSince1970) }
            + i.book.names.map { MonitorSnapshot.AddressSet(name: $0.name, addresses: $0.addresses, source: "DNS", changed: $0.resolved?.timeIntervalSince1970, error: $0.error) }
        let s = i.status
        let shown = Set(views.generic.map(\.id) + views.specific.map(\.id))
        var snapshot = MonitorSnapshot(time: i.time, state: s.state, problems: s.problems, enforcing: s.enforcing, bootMode: s.bootMode,
                                       policies: s.assignedPolicies.map { MonitorSnapshot.Policy(location: $0.0, name: $0.1) },
                                       store: i.storePath, storeModified: i.storeModified,
                                       lastApply: s.lastApply.map { "\($0.ok ? "" : "FAILED ")\(DropLog.timestamp($0.at.timeIntervalSince1970.rounded(.down))), \($0.result)" },
                                       generic: views.generic, specific: views.specific,
                                       counters: MonitorSnapshot.counters(counts, shown: shown), drops: Array(drops), sets: sets)
        snapshot.totals = MonitorSnapshot.Totals(generic: views.genericTotal, specific: views.specificTotal,
                                                 counters: Set(counts.map(\.filter)).count)
        return snapshot
    }
}
