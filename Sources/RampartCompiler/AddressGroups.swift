import RampartPolicy

/// The address groups filters can name, per store: a filter's `group:NAME` is the group of the
/// store it came from (its origin), so the local and persistent stores may each have an `Admins`.
public struct GroupTable: Sendable, Equatable {
    struct Key: Hashable {
        var scope: String
        var name: String
    }

    var groups: [Key: AddressGroup] = [:]

    public init() {}

    /// The persistent and local stores' groups; the domain policy's replace the local ones when
    /// it decides (as its policy replaces the local one, `EffectiveFilters`).
    public init(_ store: Store) {
        for g in store.persistent.addressGroups { groups[Key(scope: "p", name: g.name.lowercased())] = g }
        let local = store.domainDecides ? store.domain!.store : store.local
        let scope = store.domainDecides ? "d" : "l"
        for g in local.addressGroups { groups[Key(scope: scope, name: g.name.lowercased())] = g }
    }

    /// `p`, `l` or `d`; nil for dynamic rules (they cannot name groups).
    public static func scope(_ origin: FilterOrigin) -> String? {
        switch origin.source {
        case .store(let location): return location == .persistent ? "p" : "l"
        case .domain: return "d"
        case .dynamic: return nil
        }
    }

    public func group(_ name: String, for origin: FilterOrigin) -> AddressGroup? {
        guard let scope = GroupTable.scope(origin) else { return nil }
        return groups[Key(scope: scope, name: name.lowercased())]
    }

    /// `group_l_Admins_v4`: the group's own spelling, unique per store (names are unique there
    /// regardless of case, and a valid name is a valid nft identifier).
    public static func setName(_ group: AddressGroup, scope: String, _ family: IPAddress.Family) -> String {
        "group_\(scope)_\(group.name)_\(SetNaming.suffix(family))"
    }

    public func contains(_ name: String, for origin: FilterOrigin, _ a: IPAddress) -> Bool {
        guard let g = group(name, for: origin) else { return false }
        return g.members.contains {
            $0.family == a.family && $0.first.numeric <= a.numeric && a.numeric <= $0.last.numeric
        }
    }
}
