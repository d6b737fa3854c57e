import FoundationEssentials
import RampartCompiler
import RampartIPsec
import RampartPolicy

extension PolicyEngine {
    /// After every policy apply: charon gets the negotiate filters' CHILD_SAs. The nftables rules
    /// are already in force and drop clear traffic a negotiate filter covers, so a charon that is
    /// missing or refuses opens nothing: it is a problem, retried with backoff (docs/ipsec.md).
    func syncIPsec() {
        let plan = IPsecPlan.make(store, ikeVersion: config.ipsecIKEVersion, childless: config.ipsecChildless, at: wallNow)
        // A host that does not negotiate (and loaded nothing this run) needs no charon.
        if plan.isEmpty && (ipsecLoaded?.isEmpty ?? true) {
            ipsecLoaded = plan
            ipsecRetryDelay = nil
            cancelTimer(.ipsecRetry)
            clearProblem(.ipsec)
            return
        }
        if let loaded = ipsecLoaded, loaded == plan, problems[.ipsec] == nil { return }
        for line in plan.refused where ipsecLoaded?.refused.contains(line) != true {
            logger.warning("negotiate: \(line); its clear traffic stays dropped")
        }
        switch environment.ipsec(plan, config.ipsecViciSocket) {
        case .success(let report):
            ipsecLoaded = plan
            ipsecRetryDelay = nil
            cancelTimer(.ipsecRetry)
            clearProblem(.ipsec)
            logger.info("IPsec: \(report.loaded.count) connections, \(report.children) CHILD_SAs loaded into charon\(report.unloaded.isEmpty ? "" : ", unloaded \(report.unloaded.joined(separator: ", "))")")
        case .failure(let error):
            let delay = min((ipsecRetryDelay ?? .milliseconds(500)) * 2, .seconds(30))
            ipsecRetryDelay = delay
            report(.ipsec, "charon at \(config.ipsecViciSocket): \(error); negotiate filters keep dropping clear traffic, retrying")
            schedule(.ipsecRetry, after: delay)
        }
    }
}
