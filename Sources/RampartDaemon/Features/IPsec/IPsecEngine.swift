import FoundationEssentials
import Logging
import RampartCompiler
import RampartIPsec
import RampartPolicy
import RampartReport
import RampartSystem
import RampartVici

/// The IPsec feature's side effects (its state is `IPsecState`): charon over VICI, off no thread
/// but the engine's, and the gatherer for the IPsec views.
extension PolicyEngine {
    /// MESSAGE_ID of an IKE negotiation failure (`journalctl MESSAGE_ID=…`).
    public static let ikeFailureID = IPsecState.failureMessageID

    /// Whether the policy in force has negotiate filters charon holds (the event service waits for it).
    var negotiates: Bool { ipsec.negotiates }

    /// A closure that gathers the IPsec views off the engine, with this engine's counts.
    func ipsecGatherer() -> @Sendable () -> IPsecView {
        let (counts, last) = ipsec.counts
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
    func ipsecEventsConnected() { perform(ipsec.eventsConnected()) }

    func ipsecEvent(_ event: IPsecEvent) { perform(ipsec.event(event, at: Date())) }

    /// After every policy apply: charon gets the negotiate filters' CHILD_SAs. The nftables rules
    /// are already in force and drop clear traffic a negotiate filter covers, so a charon that is
    /// missing or refuses opens nothing: it is a problem, retried with backoff (docs/ipsec.md).
    func syncIPsec() {
        var plan = IPsecPlan.make(
            store, dynamic: dynamic, ikeVersion: config.ipsecIKEVersion, childless: config.ipsecChildless,
            localAddresses: LocalAddresses.current(), at: wallNow)
        if plan.needsCertificates {
            plan.credentials = IPsecPlan.Credentials(
                certificate: config.ipsecCertificate, privateKey: config.ipsecPrivateKey,
                caDirectory: config.ipsecCADirectory)
        }
        switch ipsec.sync(plan, failing: health.problems[.ipsec] != nil) {
        case .done(let effects):
            perform(effects)
        case .load(let warnings):
            perform(warnings)
            switch environment.ipsec(plan, config.ipsecViciSocket) {
            case .success(let report): perform(ipsec.loadSucceeded(plan, report))
            case .failure(let error): perform(ipsec.loadFailed(error, socket: config.ipsecViciSocket))
            }
        }
    }
}
