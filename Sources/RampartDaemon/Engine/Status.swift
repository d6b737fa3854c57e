import FoundationEssentials
import Glibc
import RampartCompiler
import RampartPolicy
import RampartReport

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
        s.storeState = storeState.description
        s.socket = config.socket
        s.bootMode = store.config.bootMode.rawValue
        s.assignedPolicies = StoreLocation.allCases.map { ($0.rawValue, store[$0].assignedPolicy?.name) }
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
