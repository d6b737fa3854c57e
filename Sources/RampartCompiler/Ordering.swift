import RampartPolicy

/// A filter half's specificity (Project decisions #1, reference §7.2, §7.5). Smaller sorts first:
/// (a) address-pair class S,S > R,S > S,R > R,R > A,S > S,A > A,R > R,A > A,A;
/// (b) fewer open host bits, destination before source;
/// (c) protocol/port sub-rank ① proto+both ports … ⑤ any protocol.
/// The action (d) and creation order (e) complete the order in `Ordering.sorted`.
public struct Weight: Comparable, Sendable, Hashable {
    public var pairClass: Int
    public var destinationWildcardBits: Int
    public var sourceWildcardBits: Int
    public var protocolRank: Int

    static let pairOrder: [String] = ["SS", "RS", "SR", "RR", "AS", "SA", "AR", "RA", "AA"]

    public init(_ f: ActiveFilter) {
        let pair = f.source.specificity.rawValue + f.destination.specificity.rawValue
        pairClass = Weight.pairOrder.firstIndex(of: pair)!
        destinationWildcardBits = f.destination.wildcardBits
        sourceWildcardBits = f.source.wildcardBits
        switch (f.proto.isAny, f.sourcePort != 0, f.destinationPort != 0) {
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
        (a.pairClass, a.destinationWildcardBits, a.sourceWildcardBits, a.protocolRank)
            < (b.pairClass, b.destinationWildcardBits, b.sourceWildcardBits, b.protocolRank)
    }
}

public enum Ordering {
    /// Most specific first; ties broken by the chain's action (block > negotiate > permit),
    /// then stored before dynamic, then creation order, then original half before mirror half.
    public static func sorted(_ filters: [ActiveFilter], for hook: Chain.Hook) -> [ActiveFilter] {
        filters.map { ($0, $0.weight) }.sorted { lhs, rhs in
            let (a, wa) = lhs, (b, wb) = rhs
            if wa != wb { return wa < wb }
            let ra = a.action(for: hook).restrictiveness, rb = b.action(for: hook).restrictiveness
            if ra != rb { return ra < rb }
            return (a.group, a.seq, a.isMirror ? 1 : 0) < (b.group, b.seq, b.isMirror ? 1 : 0)
        }.map(\.0)
    }

    /// The order shown by `show active`: by weight, then the more restrictive of the two actions.
    public static func display(_ filters: [ActiveFilter]) -> [ActiveFilter] {
        filters.map { ($0, $0.weight) }.sorted { lhs, rhs in
            let (a, wa) = lhs, (b, wb) = rhs
            if wa != wb { return wa < wb }
            let ra = min(a.inbound.restrictiveness, a.outbound.restrictiveness)
            let rb = min(b.inbound.restrictiveness, b.outbound.restrictiveness)
            if ra != rb { return ra < rb }
            return (a.group, a.seq, a.isMirror ? 1 : 0) < (b.group, b.seq, b.isMirror ? 1 : 0)
        }.map(\.0)
    }
}
