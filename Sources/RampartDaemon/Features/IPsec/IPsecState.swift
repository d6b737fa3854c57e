import FoundationEssentials
import RampartIPsec
import RampartReport
import RampartVici

/// What charon reported since rampartd started (`rampart status`).
struct IPsecStats: Sendable {
    var ikeUp = 0, ikeDown = 0, ikeRekeys = 0
    var childUp = 0, childDown = 0, childRekeys = 0
    var failures = 0
    /// Failures not written because the same reason was written less than 10 s before.
    var failuresSuppressed = 0
    var lastFailure: (at: Date, peer: String?, reason: String)?
}

/// The negotiate filters' side (docs/ipsec.md): what charon was last given, the retry after a
/// failure, and charon's events since start. The nftables rules drop the clear traffic a
/// negotiate filter covers whatever charon does, so a failure here opens nothing.
struct IPsecState: Sendable {
    /// MESSAGE_ID of an IKE negotiation failure (`journalctl MESSAGE_ID=…`).
    static let failureMessageID = "8e2a5f4c1b9d4d0f9b7e3c6a2d1f0e57"

    /// What charon was last given (nil: nothing yet this run, or a charon that restarted).
    private(set) var loaded: IPsecPlan?
    private(set) var retryDelay: Duration?
    private(set) var stats = IPsecStats()
    /// A reload asks for the plan to be loaded again even if it did not change.
    private(set) var reloadPending = false
    private var lastFailureLogged: [String: Date] = [:]

    /// Whether the policy in force has negotiate filters charon holds.
    var negotiates: Bool { !(loaded?.isEmpty ?? true) }

    /// Renewed certificates and keys, a charon restarted: the next sync loads even an unchanged plan.
    mutating func reloadRequested() { reloadPending = true }

    /// The event service (re)connected: a charon that restarted has forgotten our connections.
    mutating func eventsConnected() -> [Effect] {
        guard negotiates else { return [] }
        loaded = nil
        return [.syncIPsec]
    }

    /// What to do with the plan of the policy in force: nothing, or load it (after `warnings`).
    enum SyncStep: Equatable {
        case done([Effect])
        case load(warnings: [Effect])
    }

    mutating func sync(_ plan: IPsecPlan, failing: Bool) -> SyncStep {
        let again = reloadPending
        reloadPending = false
        // A host that does not negotiate (and loaded nothing this run) needs no charon.
        if plan.isEmpty && (loaded?.isEmpty ?? true) {
            loaded = plan
            retryDelay = nil
            return .done([.cancel(.ipsecRetry), .clear(.ipsec)])
        }
        if !again, let loaded, loaded == plan, !failing { return .done([]) }
        let warnings = plan.refused.filter { loaded?.refused.contains($0) != true }
            .map { Effect.log(.warning, "negotiate: \($0); its clear traffic stays dropped") }
        return .load(warnings: warnings)
    }

    mutating func loadSucceeded(_ plan: IPsecPlan, _ report: IPsecSync.Report) -> [Effect] {
        loaded = plan
        retryDelay = nil
        let unloaded = report.unloaded.isEmpty ? "" : ", unloaded \(report.unloaded.joined(separator: ", "))"
        return [
            .cancel(.ipsecRetry), .clear(.ipsec), .ringIPsec,
            .log(
                .info,
                "IPsec: \(report.loaded.count) connections, \(report.children) CHILD_SAs loaded into charon\(unloaded)")
        ]
    }

    /// Retried with backoff from 1 s, doubling to 30 s.
    mutating func loadFailed(_ error: ViciError, socket: String) -> [Effect] {
        let delay = min((retryDelay ?? .milliseconds(500)) * 2, .seconds(30))
        retryDelay = delay
        let what = error.kind == .credentials ? "IPsec credentials" : "charon at \(socket)"
        return [
            .report(.ipsec, "\(what): \(error); negotiate filters keep dropping clear traffic, retrying"),
            .schedule(.ipsecRetry, after: delay)
        ]
    }

    /// One of charon's events: counted, and logged (a failure with the same reason at most once in 10 s).
    mutating func event(_ event: IPsecEvent, at now: Date) -> [Effect] {
        switch event {
        case .ikeUp(let c, let peer):
            stats.ikeUp += 1
            return [.log(.info, "IKE_SA \(c) with \(peer) established")]
        case .ikeDown(let c, let peer):
            stats.ikeDown += 1
            return [.log(.info, "IKE_SA \(c) with \(peer) closed")]
        case .ikeRekey:
            stats.ikeRekeys += 1
        case .childUp(let c, let child):
            stats.childUp += 1
            return [.log(.info, "CHILD_SA \(c)/\(child) installed")]
        case .childDown(let c, let child):
            stats.childDown += 1
            return [.log(.info, "CHILD_SA \(c)/\(child) removed")]
        case .childRekey:
            stats.childRekeys += 1
        case .failure(let c, let named, let reason):
            return failure(connection: c, peer: named, reason: reason, at: now)
        }
        return []
    }

    private mutating func failure(connection c: String?, peer named: String?, reason: String, at now: Date) -> [Effect]
    {
        stats.failures += 1
        let connection = c.flatMap { name in loaded?.connections.first { $0.name == name } }
        let onlyAddress = connection.flatMap {
            $0.remoteAddresses.count == 1 && $0.remoteAddresses[0] != "%any" ? $0.remoteAddresses[0] : nil
        }
        let peer = named ?? connection?.remoteID ?? onlyAddress
        if let last = lastFailureLogged[reason], now.timeIntervalSince(last) < 10 {
            stats.failuresSuppressed += 1
            return []
        }
        lastFailureLogged[reason] = now
        if lastFailureLogged.count > 256 { lastFailureLogged = [reason: now] }
        stats.lastFailure = (now, peer, reason)
        var fields = ["MESSAGE_ID": Self.failureMessageID, "RAMPART_REASON": reason]
        if let peer { fields["RAMPART_PEER"] = peer }
        if let c { fields["RAMPART_CONNECTION"] = c }
        let origin = (connection?.origin).map { " (\($0))" } ?? ""
        return [
            .log(
                .warning,
                "IKE security association negotiation failed\(peer.map { " with \($0)" } ?? "")\(origin): \(reason)",
                fields: fields)
        ]
    }

    /// The status line: what charon holds for us, and the counts of its events since start.
    var line: String? {
        guard let plan = loaded, !plan.isEmpty || stats.failures > 0 else { return nil }
        let st = stats
        var line =
            "\(plan.connections.count) connections, \(plan.connections.reduce(0) { $0 + $1.children.count }) CHILD_SAs in charon; "
            + "IKE_SAs up \(st.ikeUp), down \(st.ikeDown), rekeyed \(st.ikeRekeys); CHILD_SAs up \(st.childUp), down \(st.childDown), rekeyed \(st.childRekeys); "
            + "negotiation failures \(st.failures)"
        if let last = st.lastFailure {
            line += " (last \(StatusReport.iso(last.at))\(last.peer.map { " with \($0)" } ?? ""): \(last.reason))"
        }
        return line
    }

    /// rampartd's event counts for `show stats` and the monitor.
    var counts: (counts: [IPsecView.Count], lastFailure: String?) {
        let st = stats
        let counts = [
            ("IKE_SAs established", st.ikeUp), ("IKE_SAs closed", st.ikeDown), ("IKE_SAs rekeyed", st.ikeRekeys),
            ("CHILD_SAs installed", st.childUp), ("CHILD_SAs removed", st.childDown),
            ("CHILD_SAs rekeyed", st.childRekeys),
            ("Negotiation failures", st.failures), ("Negotiation failures not logged again", st.failuresSuppressed)
        ]
        .map { IPsecView.Count(name: $0.0, value: $0.1) }
        let last = st.lastFailure.map {
            "\(StatusReport.iso($0.at))\($0.peer.map { " with \($0)" } ?? ""): \($0.reason)"
        }
        return (counts, last)
    }
}
