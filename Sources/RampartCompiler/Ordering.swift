import RampartPolicy

/// A filter half's specificity (Project decisions #1, reference §7.2, §7.5). Smaller sorts first:
/// (a) address-pair class S,S > R,S > S,R > R,R > A,S > S,A > A,R > R,A > A,A;
/// (b) fewer open host bits, destination before source;
/// (c) protocol/port sub-rank ① proto+both ports … ⑤ any protocol, where a range or list of
/// ports counts as given; within a sub-rank (c') fewer destination ports, then fewer source ports
/// (a single port before a range, a narrower range before a wider one), then (c'') a TCP-flags test
/// before none (docs/extensions.md, "Ordering").
/// The action (d) and creation order (e) complete the order in `Ordering.sorted`.
public struct Weight: Comparable, Sendable, Hashable {
    public var pairClass: Int
    public var destinationWildcardBits: Int
    public var sourceWildcardBits: Int
    public var protocolRank: Int
    /// How many ports each side matches (65,536 for any): only ranges and lists make these differ
    /// within a sub-rank.
    public var destinationPortCount: Int
    public var sourcePortCount: Int
    /// 0 with a TCP-flags test, 1 without.
    public var flagsRank: Int

    static let pairOrder: [String] = ["SS", "RS", "SR", "RR", "AS", "SA", "AR", "RA", "AA"]

    /// The index of source + destination specificity in `pairOrder`.
    static func pairIndex(_ source: AddressSpec.Specificity, _ destination: AddressSpec.Specificity) -> Int {
        switch (source, destination) {
        case (.single, .single): return 0
        case (.range, .single): return 1
        case (.single, .range): return 2
        case (.range, .range): return 3
        case (.any, .single): return 4
        case (.single, .any): return 5
        case (.any, .range): return 6
        case (.range, .any): return 7
        case (.any, .any): return 8
        }
    }

    public init(_ f: ActiveFilter) {
        pairClass = Weight.pairIndex(f.source.specificity, f.destination.specificity)
        destinationWildcardBits = f.destination.wildcardBits
        sourceWildcardBits = f.source.wildcardBits
        destinationPortCount = f.destinationPort.count
        sourcePortCount = f.sourcePort.count
        flagsRank = f.tcpFlags == nil ? 1 : 0
        switch (f.proto.isAny, !f.sourcePort.isAny, !f.destinationPort.isAny) {
        case (true, _, _): protocolRank = 4
        case (false, true, true): protocolRank = 0
        case (false, false, true): protocolRank = 1
        case (false, true, false): protocolRank = 2
        case (false, false, false): protocolRank = 3
        }
    }

    /// Fossen's rank, 1 (S,S with protocol and both ports) to 45 (A,A any protocol).
    public var fossenRank: Int { pairClass * 5 + protocolRank + 1 }

    /// `S,S` style label of the address-pair class.
    public var pairLabel: String {
        let p = Weight.pairOrder[pairClass]
        return "\(p.first!),\(p.last!)"
    }

    public static func < (a: Weight, b: Weight) -> Bool {
        if (a.pairClass, a.destinationWildcardBits, a.sourceWildcardBits, a.protocolRank)
            != (b.pairClass, b.destinationWildcardBits, b.sourceWildcardBits, b.protocolRank)
        {
            return (a.pairClass, a.destinationWildcardBits, a.sourceWildcardBits, a.protocolRank)
                < (b.pairClass, b.destinationWildcardBits, b.sourceWildcardBits, b.protocolRank)
        }
        return (a.destinationPortCount, a.sourcePortCount, a.flagsRank) < (
            b.destinationPortCount, b.sourcePortCount, b.flagsRank
        )
    }
}

public enum Ordering {
    /// Most specific first; ties broken by the chain's action (block > negotiate > permit),
    /// then stored before dynamic, then creation order, then original half before mirror half.
    public static func sorted(_ filters: [ActiveFilter], for hook: Chain.Hook) -> [ActiveFilter] {
        order(filters) { $0.action(for: hook).restrictiveness }
    }

    /// The full sort key of a filter half, as plain integers: the filters themselves are large
    /// values, so the sort moves indices and compares these.
    struct Key: Comparable {
        var weight: Weight
        var restrictiveness: Int
        var group: Int
        var seq: Int
        var mirror: Int
        var index: Int

        static func < (a: Key, b: Key) -> Bool {
            if a.weight != b.weight { return a.weight < b.weight }
            return (a.restrictiveness, a.group, a.seq, a.mirror, a.index) < (
                b.restrictiveness, b.group, b.seq, b.mirror, b.index
            )
        }
    }

    static func order(_ filters: [ActiveFilter], restrictiveness: (ActiveFilter) -> Int) -> [ActiveFilter] {
        var keys = filters.enumerated().map { i, f in
            Key(
                weight: f.weight, restrictiveness: restrictiveness(f), group: f.group, seq: f.seq,
                mirror: f.isMirror ? 1 : 0, index: i)
        }
        keys.sort()
        return keys.map { filters[$0.index] }
    }

    /// The order shown by `show active`: by weight, then the more restrictive of the two actions.
    public static func display(_ filters: [ActiveFilter]) -> [ActiveFilter] {
        order(filters) { min($0.inbound.restrictiveness, $0.outbound.restrictiveness) }
    }
}
