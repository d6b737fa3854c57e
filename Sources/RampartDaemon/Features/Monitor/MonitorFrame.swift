import FoundationEssentials
import Glibc
import RampartCompiler
import RampartControl
import RampartNetlink
import RampartPolicy
import RampartReport

extension PolicyEngine {
    func setMonitorFrameLifetime(_ lifetime: Duration) { monitor.setLifetime(lifetime) }

    /// One monitor frame per second for every client (issue 29, item 5: eight members' monitors
    /// on 100,000 filters starved root): a frame built or being built in the last second is
    /// shared; the building happens off the engine.
    func sharedMonitorFrame() async -> ControlResponse {
        if let shared = monitor.shared(at: .now) { return await shared.value }
        let inputs: MonitorFrame.Inputs
        do {
            inputs = try readingTable { try monitorInputs() }
        } catch {
            return .failure(.kernel, "cannot read the counters: \(error)")
        }
        let gather = negotiates || health.problems[.ipsec] != nil ? ipsecGatherer() : nil
        let reply = Task { [self] in
            await offEngine {
                var snapshot = MonitorFrame.build(inputs)
                snapshot.ipsec = gather?()
                return ControlResponse(ok: true, text: "", json: snapshot.json())
            }
        }
        monitor.started(reply, at: .now)
        return await reply.value
    }

    /// What a monitor frame is made of, taken on the engine in one step: copies of the state and
    /// one read of the kernel's counters. The frame itself is built off the engine
    /// (`MonitorFrame.build`), so a 100,000-filter policy never holds root's requests up.
    func monitorInputs() throws(NetlinkError) -> MonitorFrame.Inputs {
        let s = status()
        let counters = applied == nil ? [] : try client.ruleCounters() + client.elementCounters()
        var info = stat()
        let modified = stat(config.store, &info) == 0 ? Double(info.st_mtim.tv_sec) : nil
        let now = Date().timeIntervalSince1970
        let summaries = drops.recentSummaries(at: Date(timeIntervalSince1970: now))
        return MonitorFrame.Inputs(
            time: now, status: s, store: store, dynamic: dynamic, addresses: addresses, counters: counters,
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
        let drops = records.compactMap { e -> DropLog.Record? in
            if case .record(let r) = e { return r } else { return nil }
        }
        .sorted { $0.last > $1.last }.prefix(10)
        let sets =
            i.book.types.map {
                MonitorSnapshot.AddressSet(
                    name: $0.type, addresses: $0.addresses, source: $0.source,
                    changed: $0.changed?.timeIntervalSince1970)
            }
            + i.book.names.map {
                MonitorSnapshot.AddressSet(
                    name: $0.name, addresses: $0.addresses, source: "DNS", changed: $0.resolved?.timeIntervalSince1970,
                    error: $0.error)
            }
        let s = i.status
        let shown = Set(views.generic.map(\.id) + views.specific.map(\.id))
        var snapshot = MonitorSnapshot(
            time: i.time, state: s.state, problems: s.problems, enforcing: s.enforcing, bootMode: s.bootMode,
            policies: s.assignedPolicies.map { MonitorSnapshot.Policy(location: $0.0, name: $0.1) },
            store: i.storePath, storeModified: i.storeModified,
            lastApply: s.lastApply.map {
                "\($0.ok ? "" : "FAILED ")\(DropLog.timestamp($0.at.timeIntervalSince1970.rounded(.down))), \($0.result)"
            },
            generic: views.generic, specific: views.specific,
            counters: MonitorSnapshot.counters(counts, shown: shown), drops: Array(drops), sets: sets)
        snapshot.totals = MonitorSnapshot.Totals(
            generic: views.genericTotal, specific: views.specificTotal,
            counters: Set(counts.map(\.filter)).count)
        return snapshot
    }
}
