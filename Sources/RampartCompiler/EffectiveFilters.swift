import FoundationEssentials
import RampartPolicy

/// Where an active filter came from, for `show active`, counters and error messages.
public struct FilterOrigin: Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case store(StoreLocation)
        case domain(group: String)
        case dynamic
    }

    public var source: Source
    public var policy: String?
    public var rule: String?
    public var filterList: String?
    /// 1-based position of the filter in its list.
    public var position: Int?

    public var description: String {
        switch source {
        case .dynamic: return "dynamic"
        case .domain(let group):
            return "domain:\(group)/\(policy ?? "?")/\(rule ?? "?")/\(filterList ?? "?")/#\(position ?? 0)"
        case .store(let l):
            return "\(l.rawValue)/\(policy ?? "?")/\(rule ?? "?")/\(filterList ?? "?")/#\(position ?? 0)"
        }
    }
}

/// One direction of one filter (a mirrored filter gives two), with its actions for each chain.
public struct ActiveFilter: Sendable, Equatable {
    /// `F12`, `F12m` (the mirror half), `D3`, `D3m`; `G7` for a filter of the domain policy.
    public var id: String
    public var proto: IPProtocolSpec
    /// The packet's source and destination: the filter's, swapped in a mirror half.
    public var source: AddressSpec
    public var destination: AddressSpec
    public var sourcePort: PortMatch
    public var destinationPort: PortMatch
    public var tcpFlags: TCPFlagMatch?
    public var inbound: FilterActionKind
    public var outbound: FilterActionKind
    /// Negotiate without an SA: accept clear inbound traffic (`inpass`) or any clear traffic (`soft`).
    public var inpass: Bool
    public var soft: Bool
    public var origin: FilterOrigin
    /// 0 for stored filters, 1 for dynamic ones: static wins a full tie.
    public var group: Int
    public var seq: Int
    public var isMirror: Bool
    /// The mirror half of a `mirrored=stateful` filter: it matches only packets of established or
    /// related connections (`ct state established,related`).
    public var repliesOnly = false
    /// The rule's `conntype=`: the interfaces the filter applies on (`ConnectionType.includes`).
    public var connection: ConnectionType = .all
    /// The rule's tunnel endpoint (`tunnel=`): a negotiate filter's SA runs to it, not to the
    /// filter's remote side, so its ESP and IKE come from there (`NegotiationTransport`).
    public var tunnel: AddressSpec?

    public var weight: Weight { Weight(self) }

    public func action(for hook: Chain.Hook) -> FilterActionKind { hook == .input ? inbound : outbound }
}

/// Collects the active filters: the assigned policy of the persistent and of the local store
/// (merged into one list, as the Project decisions say), then the dynamic rules. An assigned
/// domain policy takes the local store's place (Group Policy's precedence: docs/fleet.md).
public enum EffectiveFilters {
    /// `time` decides which scheduled rules are in force (an extension); a rule without a
    /// schedule is in force whenever it is active.
    public static func collect(_ store: Store, dynamic: DynamicState? = nil, at time: Date = Date()) -> [ActiveFilter] {
        var out: [ActiveFilter] = []
        for (s, policy, source, prefix) in assignedPolicies(store) {
            for rule in policy.rules where rule.active && inForce(rule, s, at: time) {
                guard let li = s.filterListIndex(rule.filterList), let ai = s.filterActionIndex(rule.filterAction)
                else { continue }
                let list = s.filterLists[li]
                let action = s.filterActions[ai]
                for (position, filter) in list.filters.enumerated() {
                    let origin = FilterOrigin(
                        source: source, policy: policy.name, rule: rule.name,
                        filterList: list.name, position: position + 1)
                    appendHalves(
                        of: filter, id: "\(prefix)\(filter.seq)", inbound: action.action, outbound: action.action,
                        inpass: action.inpass, soft: action.soft, origin: origin, group: 0,
                        connection: rule.connectionType, tunnel: rule.tunnel, to: &out)
                }
            }
        }
        for rule in dynamic?.rules ?? [] {
            let soft = dynamic?.quickModePolicies.first { $0.name == rule.qmpolicy }?.soft ?? false
            appendHalves(
                of: rule.filter, id: "D\(rule.seq)", inbound: rule.inbound, outbound: rule.outbound,
                inpass: false, soft: soft, origin: FilterOrigin(source: .dynamic), group: 1,
                connection: rule.connectionType, tunnel: rule.tunnelDestination, to: &out)
        }
        return out
    }

    /// The assigned policy of the persistent store, then of the local one or the domain policy
    /// that takes its place (Group Policy's precedence), with where their filters come from and
    /// the letter of their IDs.
    static func assignedPolicies(
        _ store: Store
    ) -> [(store: PolicyStore, policy: Policy, source: FilterOrigin.Source, prefix: String)] {
        var out: [(PolicyStore, Policy, FilterOrigin.Source, String)] = []
        for location in [StoreLocation.persistent, .local] {
            var s = store[location]
            var source = FilterOrigin.Source.store(location)
            var prefix = "F"
            if location == .local, store.domainDecides, let domain = store.domain {
                s = domain.store
                source = .domain(group: domain.group)
                prefix = "G"
            }
            if let policy = s.assignedPolicy { out.append((s, policy, source, prefix)) }
        }
        return out
    }

    /// The host names the filters in force use (what `collect` would give, without building the
    /// filters: rampartd asks after every change), sorted.
    public static func hostNames(_ store: Store, dynamic: DynamicState? = nil, at time: Date = Date()) -> [String] {
        var names = Set<String>()
        func note(_ f: Filter) {
            if case .dnsName(let n, _) = f.source { names.insert(n) }
            if case .dnsName(let n, _) = f.destination { names.insert(n) }
        }
        for (s, policy, _, _) in assignedPolicies(store) {
            for rule in policy.rules where rule.active && inForce(rule, s, at: time) {
                guard let li = s.filterListIndex(rule.filterList), s.filterActionIndex(rule.filterAction) != nil
                else { continue }
                s.filterLists[li].filters.forEach(note)
            }
        }
        dynamic?.rules.forEach { note($0.filter) }
        return names.sorted()
    }

    public static func inForce(_ rule: Rule, _ store: PolicyStore, at time: Date) -> Bool {
        guard let name = rule.schedule else { return true }
        // A rule naming a schedule its store lacks (refused by the store's checks) is not in force.
        guard let i = store.scheduleIndex(name) else { return false }
        return store.schedules[i].isActive(at: time)
    }

    /// The schedules the assigned policies' active rules use (persistent first, then local or
    /// the domain policy in force), each once.
    public static func schedulesInUse(_ store: Store) -> [Schedule] {
        var out: [Schedule] = []
        for location in [StoreLocation.persistent, .local] {
            let s = location == .local && store.domainDecides ? store.domain!.store : store[location]
            guard let policy = s.assignedPolicy else { continue }
            let names = Set(policy.rules.filter(\.active).compactMap { $0.schedule?.lowercased() })
            out += s.schedules.filter { names.contains($0.name.lowercased()) && !out.contains($0) }
        }
        return out
    }

    /// The earliest instant after `time` at which a schedule in use changes: when rampartd must
    /// compile again.
    public static func nextScheduleChange(_ store: Store, after time: Date) -> Date? {
        schedulesInUse(store).compactMap { $0.nextChange(after: time) }.min()
    }

    /// A mirrored filter swaps addresses (with their masks) and ports in its second half; TCP
    /// flags are not directional and stay as they are. Appended in place (no array per filter).
    static func appendHalves(
        of f: Filter, id: String, inbound: FilterActionKind, outbound: FilterActionKind,
        inpass: Bool, soft: Bool, origin: FilterOrigin, group: Int, connection: ConnectionType,
        tunnel: AddressSpec? = nil, to out: inout [ActiveFilter]
    ) {
        var first = ActiveFilter(
            id: id, proto: f.proto, source: f.source, destination: f.destination,
            sourcePort: f.sourcePort, destinationPort: f.destinationPort, tcpFlags: f.tcpFlags,
            inbound: inbound, outbound: outbound, inpass: inpass, soft: soft,
            origin: origin, group: group, seq: f.seq, isMirror: false)
        first.connection = connection
        first.tunnel = tunnel
        guard f.mirrored else { return out.append(first) }
        var mirror = first
        mirror.id = id + "m"
        mirror.source = f.destination
        mirror.destination = f.source
        mirror.sourcePort = f.destinationPort
        mirror.destinationPort = f.sourcePort
        mirror.isMirror = true
        mirror.repliesOnly = f.statefulMirror
        out.append(first)
        // A mirror identical to its original (any<->any, same ports) would only repeat it.
        if mirror.source != first.source || mirror.sourcePort != first.sourcePort { out.append(mirror) }
    }
}
