import FoundationEssentials
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartReport
import RampartSystem

/// The address book's state: the addresses the server types stand for now and where each list
/// came from, the host names' lookups, and the default routers learned from router
/// advertisements (logged once each). Reading the sources is the engine's (`AddressEngine`).
struct AddressBook: Sendable {
    private(set) var addresses = DynamicAddresses()
    private(set) var provenance: [ServerType: (source: String, changed: Date)] = [:]
    private(set) var advertisedRouters: [IPAddress] = []
    /// Host names in filters: when each was last resolved, and the last failure.
    private(set) var lookups: [String: (at: Date, error: String?)] = [:]
    /// A round of lookups is out (at most one at a time), and the names the lookup service takes next.
    private(set) var resolving = false
    private var queue: [String]?

    /// What a source read gave for `type`; true when the set's addresses changed.
    mutating func record(_ type: ServerType, _ found: [IPAddress], source: String, at time: Date) -> Bool {
        let before = addresses.addresses(for: type)
        guard found != before || provenance[type] == nil else { return false }
        switch type {
        case .dns: addresses.dns = found
        case .gateway: addresses.gateway = found
        case .dhcp: addresses.dhcp = found
        case .wins: addresses.wins = found
        }
        provenance[type] = (source.isEmpty ? "no lease names one" : source, time)
        return before != found
    }

    /// The routers of the default routes, less those learned from router advertisements unless
    /// `trustAdvertised`; either way each such router is logged once.
    mutating func trustedGateways(_ gateways: [DefaultGateway], trustAdvertised: Bool) -> ([IPAddress], [Effect]) {
        let advertised = gateways.filter(\.fromRouterAdvertisement).map(\.address)
        var effects: [Effect] = []
        if advertised != advertisedRouters {
            advertisedRouters = advertised
            effects = advertised.map { router in
                trustAdvertised
                    ? .log(
                        .notice,
                        "GATEWAY: \(router) is a default router by a router advertisement; taken (gateway_from_router_advertisements = yes)"
                    )
                    : .log(
                        .warning,
                        "GATEWAY: \(router) is a default router by a router advertisement, which anyone on the link can send; not taken as a GATEWAY (set gateway_from_router_advertisements = yes to trust them)"
                    )
            }
        }
        return (Self.unique(gateways.filter { !$0.fromRouterAdvertisement || trustAdvertised }.map(\.address)), effects)
    }

    /// Hands `names` to the lookup service, unless a round is out already.
    mutating func resolve(_ names: [String]) -> [Effect] {
        guard !names.isEmpty, !resolving else { return [] }
        resolving = true
        queue = names
        return [.cancel(.resolveNames), .ringLookup]
    }

    /// For the lookup service: the names to resolve now, if any.
    mutating func takeLookups() -> [String]? {
        defer { queue = nil }
        return queue
    }

    /// A round's results: the names whose addresses changed get their sets refilled; a failed
    /// lookup keeps the last known addresses. The next round comes `refresh` later.
    mutating func resolved(
        _ results: [String: Result<[IPAddress], HostLookupError>], at time: Date, refresh: Duration
    ) -> [Effect] {
        resolving = false
        var changed = Set<String>()
        var effects: [Effect] = []
        for (name, result) in results.sorted(by: { $0.key < $1.key }) {
            switch result {
            case .success(let found):
                lookups[name] = (time, nil)
                if addresses.names[name] != found {
                    addresses.names[name] = found
                    changed.insert(name)
                    effects.append(
                        .log(.notice, "\(name) now resolves to \(found.map(\.description).joined(separator: ", "))"))
                }
            case .failure(let error):
                lookups[name] = (time, error.message)
                let kept = (addresses.names[name] ?? []).map(\.description).joined(separator: ", ")
                effects.append(.log(.warning, "\(name): lookup failed (\(error.message)); keeping \(kept)"))
            }
        }
        if !changed.isEmpty { effects.append(.updateSets(changed)) }
        return effects + [.schedule(.resolveNames, after: refresh)]
    }

    /// The lookups that failed last, by name.
    var failedLookups: [(String, String)] {
        lookups.sorted { $0.key < $1.key }.compactMap { name, r in r.error.map { (name, $0) } }
    }

    func report(names: [String]) -> AddressBookReport {
        AddressBookReport(
            types: ServerType.allCases.map { type in
                AddressBookReport.TypeRow(
                    type: type.rawValue, addresses: addresses.addresses(for: type).map(\.description),
                    source: provenance[type]?.source, changed: provenance[type]?.changed)
            },
            names: names.map { name in
                AddressBookReport.NameRow(
                    name: name, addresses: (addresses.names[name] ?? []).map(\.description),
                    resolved: lookups[name]?.at, error: lookups[name]?.error)
            })
    }

    static func unique(_ list: [IPAddress]) -> [IPAddress] {
        var out: [IPAddress] = []
        for a in list where !out.contains(a) { out.append(a) }
        return out
    }
}
