/// Where static commands read and write: netsh's `set store location=`.
public enum StoreLocation: String, Codable, Sendable, CaseIterable {
    case local, persistent
}

/// The objects of one store location. Names are unique per kind, compared case-insensitively.
public struct PolicyStore: Hashable, Sendable, Codable {
    public var policies: [Policy] = []
    public var filterLists: [FilterList] = []
    public var filterActions: [FilterAction] = []
    /// An extension: written only when there is one, so a store without groups reads the same.
    public var addressGroups: [AddressGroup] = []
    /// An extension, written only when there is one.
    public var schedules: [Schedule] = []

    public init() {}

    enum CodingKeys: String, CodingKey { case policies, filterLists, filterActions, addressGroups, schedules }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policies = try c.decode([Policy].self, forKey: .policies)
        filterLists = try c.decode([FilterList].self, forKey: .filterLists)
        filterActions = try c.decode([FilterAction].self, forKey: .filterActions)
        addressGroups = try c.decodeIfPresent([AddressGroup].self, forKey: .addressGroups) ?? []
        schedules = try c.decodeIfPresent([Schedule].self, forKey: .schedules) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(policies, forKey: .policies)
        try c.encode(filterLists, forKey: .filterLists)
        try c.encode(filterActions, forKey: .filterActions)
        if !addressGroups.isEmpty { try c.encode(addressGroups, forKey: .addressGroups) }
        if !schedules.isEmpty { try c.encode(schedules, forKey: .schedules) }
    }

    public var isEmpty: Bool {
        policies.isEmpty && filterLists.isEmpty && filterActions.isEmpty && addressGroups.isEmpty && schedules.isEmpty
    }

    public func scheduleIndex(_ name: String) -> Int? { schedules.firstIndex { $0.name.caseInsensitiveEquals(name) } }

    /// Rules (with their policy) that use a schedule.
    public func rules(usingSchedule name: String) -> [(policy: String, rule: String)] {
        policies.flatMap { p in
            p.rules.filter { $0.schedule?.caseInsensitiveEquals(name) == true }.map { (p.name, $0.name) }
        }
    }

    public func addressGroupIndex(_ name: String) -> Int? {
        addressGroups.firstIndex { $0.name.caseInsensitiveEquals(name) }
    }

    /// Filters (as `list #position`) that use an address group.
    public func filters(usingGroup name: String) -> [String] {
        filterLists.flatMap { l in
            l.filters.enumerated().filter { _, f in
                [f.source, f.destination].contains {
                    if case .group(let g) = $0 { return g.caseInsensitiveEquals(name) } else { return false }
                }
            }.map { "\(l.name) #\($0.offset + 1)" }
        }
    }

    public func policyIndex(_ name: String) -> Int? { policies.firstIndex { $0.name.caseInsensitiveEquals(name) } }
    public func filterListIndex(_ name: String) -> Int? {
        filterLists.firstIndex { $0.name.caseInsensitiveEquals(name) }
    }
    public func filterActionIndex(_ name: String) -> Int? {
        filterActions.firstIndex { $0.name.caseInsensitiveEquals(name) }
    }

    public var assignedPolicy: Policy? { policies.first { $0.assigned } }

    /// Rules (with their policy) that use a filter list or filter action.
    public func rules(usingFilterList name: String) -> [(policy: String, rule: String)] {
        policies.flatMap { p in p.rules.filter { $0.filterList.caseInsensitiveEquals(name) }.map { (p.name, $0.name) } }
    }

    public func rules(usingFilterAction name: String) -> [(policy: String, rule: String)] {
        policies.flatMap { p in p.rules.filter { $0.filterAction.caseInsensitiveEquals(name) }.map { (p.name, $0.name) }
        }
    }
}

/// Everything rampart persists: both store locations and the dynamic configuration.
/// A value type: a script runs against a copy and the copy is written only if every command succeeded.
public struct Store: Hashable, Sendable, Codable {
    public var local = PolicyStore()
    public var persistent = PolicyStore()
    public var config = DynamicConfig()
    /// The last creation number handed out; every object and filter gets the next one.
    public var sequence: Int = 0
    /// The numbers of deleted filters, by store location and list, then by what they matched: a
    /// filter added again takes its number back (`FilterIdentity`).
    public var retiredFilterIDs: [String: [String: [Int]]] = [:]
    /// The domain policy in force (rampartd only), never written to the store file: while it is
    /// here, its assigned policy replaces the local store's (docs/fleet.md).
    public var domain: DomainLayer? = nil

    enum CodingKeys: String, CodingKey {
        case local, persistent, config, sequence
    }

    public init() {}

    /// True when a domain policy replaces the local store's assigned policy.
    public var domainDecides: Bool { domain?.store.assignedPolicy != nil }

    public subscript(location: StoreLocation) -> PolicyStore {
        get { location == .local ? local : persistent }
        set {
            if location == .local { local = newValue } else { persistent = newValue }
        }
        // In-place access: scripts of thousands of filters must not copy the store per command.
        _modify {
            if location == .local { yield &local } else { yield &persistent }
        }
    }

    public mutating func nextSequence() -> Int {
        sequence += 1
        return sequence
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        count == other.count && lowercased() == other.lowercased()
    }
}
