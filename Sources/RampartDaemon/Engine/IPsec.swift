import Logging
import FoundationEssentials
import RampartCompiler
import RampartIPsec
import RampartPolicy
import RampartReport

/// What charon reported since rampartd started (`rampart status`).
struct IPsecStats: Sendable {
    var ikeUp = 0, ikeDown = 0, ikeRekeys = 0
    var childUp = 0, childDown = 0, childRekeys = 0
    var failures = 0
    /// Failures not written because the same reason was written less than 10 s before.
    var failuresSuppressed = 0
    var lastFailure: (at: Date, peer: String?, reason: String)?
}

extension PolicyEngine {
    /// MESSAGE_ID of an IKE negotiation failure (`journalctl MESSAGE_ID=…`).
    public static let ikeFailureID = "8e2a5f4c1b9d4d0f9b7e3c6a2d1f0e57"

    /// Whether the policy in force has negotiate filters charon holds (the event service waits for it).
    var negotiates: Bool { !(ipsecLoaded?.isEmpty ?? true) }

    /// The status line: what charon holds for us, and the counts of its events since start.
    func ipsecLine() -> String? {
        guard let plan = ipsecLoaded, !plan.isEmpty || ipsecStats.failures > 0 else { return nil }
        let st = ipsecStats
        var line = "\(plan.connections.count) connections, \(plan.connections.reduce(0) { $0 + $1.children.count }) CHILD_SAs in charon; "
            + "IKE_SAs up \(st.ikeUp), down \(st.ikeDown), rekeyed \(st.ikeRekeys); CHILD_SAs up \(st.childUp), down \(st.childDown), rekeyed \(st.childRekeys); "
            + "negotiation failures \(st.failures)"
        if let last = st.lastFailure {
            line += " (last \(StatusReport.iso(last.at))\(last.peer.map { " with \($0)" } ?? ""): \(last.reason))"
        }
        return line
    }

    /// rampartd's event counts for `show stats` and the monitor.
    func ipsecCounts() -> (counts: [IPsecView.Count], lastFailure: String?) {
        let st = ipsecStats
        let counts = [("IKE_SAs established", st.ikeUp), ("IKE_SAs closed", st.ikeDown), ("IKE_SAs rekeyed", st.ikeRekeys),
                      ("CHILD_SAs installed", st.childUp), ("CHILD_SAs removed", st.childDown), ("CHILD_SAs rekeyed", st.childRekeys),
                      ("Negotiation failures", st.failures), ("Negotiation failures not logged again", st.failuresSuppressed)]
            .map { IPsecView.Count(name: $0.0, value: $0.1) }
        let last = st.lastFailure.map { "\(StatusReport.iso($0.at))\($0.peer.map { " with \($0)" } ?? ""): \($0.reason)" }
        return (counts, last)
    }

    /// A closure that gathers the IPsec views off the engine, with this engine's counts.
    func ipsecGatherer() -> @Sendable () -> IPsecView {
        let (counts, last) = ipsecCounts()
        let socket = config.ipsecViciSocket
        let gather = environment.ipsecView
        return {
            var v = gather(socket)
            v.daemon = counts
            v.lastFailure = last
            return v
        }
    }

    /// The event service (re)connected to charon: a charon that restarted has forgotten our
    /// connections, so they are loaded again.
    func ipsecEventsConnected() {
        guard negotiates else { return }
        ipsecLoaded = nil
        syncIPsec()
    }

    func ipsecEvent(_ event: IPsecEvent) {
        switch event {
        case .ikeUp(let c, let peer):
            ipsecStats.ikeUp += 1
            logger.info("IKE_SA \(c) with \(peer) established")
        case .ikeDown(let c, let peer):
            ipsecStats.ikeDown += 1
            logger.info("IKE_SA \(c) with \(peer) closed")
        case .ikeRekey:
            ipsecStats.ikeRekeys += 1
        case .childUp(let c, let child):
            ipsecStats.childUp += 1
            logger.info("CHILD_SA \(c)/\(child) installed")
        case .childDown(let c, let child):
            ipsecStats.childDown += 1
            logger.info("CHILD_SA \(c)/\(child) removed")
        case .childRekey:
            ipsecStats.childRekeys += 1
        case .failure(let c, let named, let reason):
            ipsecStats.failures += 1
            let connection = c.flatMap { name in ipsecLoaded?.connections.first { $0.name == name } }
            let onlyAddress = connection.flatMap { $0.remoteAddresses.count == 1 && $0.remoteAddresses[0] != "%any" ? $0.remoteAddresses[0] : nil }
            let peer = named ?? connection?.remoteID ?? onlyAddress
            let now = Date()
            if let last = lastIKEFailureLogged[reason], now.timeIntervalSince(last) < 10 {
                ipsecStats.failuresSuppressed += 1
                return
            }
            lastIKEFailureLogged[reason] = now
            if lastIKEFailureLogged.count > 256 { lastIKEFailureLogged = [reason: now] }
            ipsecStats.lastFailure = (now, peer, reason)
            let origin = connection?.origin
            var fields: Logger.Metadata = ["MESSAGE_ID": "\(Self.ikeFailureID)", "RAMPART_REASON": "\(reason)"]
            if let peer { fields["RAMPART_PEER"] = "\(peer)" }
            if let c { fields["RAMPART_CONNECTION"] = "\(c)" }
            logger.warning("IKE security association negotiation failed\(peer.map { " with \($0)" } ?? "")\(origin.map { " (\($0))" } ?? ""): \(reason)", metadata: fields)
        }
    }

    /// After every policy apply: charon gets the negotiate filters' CHILD_SAs. The nftables rules
    /// are already in force and drop clear traffic a negotiate filter covers, so a charon that is
    /// missing or refuses opens nothing: it is a problem, retried with backoff (docs/ipsec.md).
    func syncIPsec() {
        var plan = IPsecPlan.make(store, dynamic: dynamic, ikeVersion: config.ipsecIKEVersion, childless: config.ipsecChildless, at: wallNow)
        if plan.needsCertificates {
            plan.credentials = IPsecPlan.Credentials(certificate: config.ipsecCertificate, privateKey: config.ipsecPrivateKey,
                                                     caDirectory: config.ipsecCADirectory)
        }
        let again = ipsecReloadPending
        ipsecReloadPending = false
        // A host that does not negotiate (and loaded nothing this run) needs no charon.
        if plan.isEmpty && (ipsecLoaded?.isEmpty ?? true) {
            ipsecLoaded = plan
            ipsecRetryDelay = nil
            cancelTimer(.ipsecRetry)
            clearProblem(.ipsec)
            return
        }
        if !again, let loaded = ipsecLoaded, loaded == plan, problems[.ipsec] == nil { return }
        for line in plan.refused where ipsecLoaded?.refused.contains(line) != true {
            logger.warning("negotiate: \(line); its clear traffic stays dropped")
        }
        switch environment.ipsec(plan, config.ipsecViciSocket) {
        case .success(let report):
            ipsecLoaded = plan
            ipsecRetryDelay = nil
            cancelTimer(.ipsecRetry)
            clearProblem(.ipsec)
            ipsecBell.ring()
            logger.info("IPsec: \(report.loaded.count) connections, \(report.children) CHILD_SAs loaded into charon\(report.unloaded.isEmpty ? "" : ", unloaded \(report.unloaded.joined(separator: ", "))")")
        case .failure(let error):
            let delay = min((ipsecRetryDelay ?? .milliseconds(500)) * 2, .seconds(30))
            ipsecRetryDelay = delay
            let what = error.kind == .credentials ? "IPsec credentials" : "charon at \(config.ipsecViciSocket)"
            report(.ipsec, "\(what): \(error); negotiate filters keep dropping clear traffic, retrying")
            schedule(.ipsecRetry, after: delay)
        }
    }
}
