/// Stable filter IDs (rampart(8), "Filter IDs"): a filter's ID (`F12`) follows its store location,
/// its filter list and what it matches, not the moment it was made. A filter deleted and added
/// again — `delete all` and the same script re-run — gets its old number back, so drop records,
/// metric labels and yesterday's logs keep naming the same filter. The numbers of deleted filters
/// are kept in the store (`Store.retiredFilterIDs`) for that.
public enum FilterIdentity {
    /// How many retired numbers a store keeps at most (the oldest go first).
    public static let retiredLimit = 100_000

    /// The place: store location and filter list (names compare case-insensitively).
    static func listKey(_ location: StoreLocation, _ list: String) -> String {
        "\(location.rawValue)|\(list.lowercased())"
    }

    /// What the filter matches (its description aside), as a 64-bit FNV-1a hash in hex: stable
    /// across runs and versions, unlike Swift's seeded `Hasher`.
    static func contentKey(_ filter: Filter) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ScriptWriter.filterArguments(filter).joined(separator: " ").utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The numbers a filter added to `list` may take back: those of the same list's filters when
    /// the transaction began (deleted since, or not), and the retired ones.
    static func known(in store: Store, location: StoreLocation, list: String) -> [String: [Int]] {
        let key = listKey(location, list)
        var known = store.retiredFilterIDs[key] ?? [:]
        if let old = store[location].filterLists.first(where: { $0.name.caseInsensitiveEquals(list) }) {
            for f in old.filters { known[contentKey(f), default: []].append(f.seq) }
        }
        return known
    }

    /// After a transaction: the numbers of the filters it deleted are retired, the ones it took
    /// back are not any more.
    static func retire(before: Store, after: inout Store) {
        var inUse = Set<Int>()
        for location in StoreLocation.allCases {
            for list in after[location].filterLists { for f in list.filters { inUse.insert(f.seq) } }
        }
        var retired = after.retiredFilterIDs
        for location in StoreLocation.allCases {
            for list in before[location].filterLists {
                let key = listKey(location, list.name)
                for f in list.filters where !inUse.contains(f.seq) {
                    retired[key, default: [:]][contentKey(f), default: []].append(f.seq)
                }
            }
        }
        for (list, byContent) in retired {
            var kept: [String: [Int]] = [:]
            for (content, seqs) in byContent {
                let free = Array(Set(seqs.filter { !inUse.contains($0) })).sorted()
                if !free.isEmpty { kept[content] = free }
            }
            retired[list] = kept.isEmpty ? nil : kept
        }
        after.retiredFilterIDs = capped(retired)
    }

    static func capped(_ retired: [String: [String: [Int]]]) -> [String: [String: [Int]]] {
        let count = retired.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
        guard count > retiredLimit else { return retired }
        let all = retired.values.flatMap { $0.values.flatMap { $0 } }.sorted()
        let floor = all[count - retiredLimit]
        var out: [String: [String: [Int]]] = [:]
        for (list, byContent) in retired {
            for (content, seqs) in byContent where seqs.contains(where: { $0 >= floor }) {
                out[list, default: [:]][content] = seqs.filter { $0 >= floor }
            }
        }
        return out
    }
}
