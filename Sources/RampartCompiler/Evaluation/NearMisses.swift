import RampartPolicy

/// The brief `explain` (issue 31, item 8): of the filters considered before the deciding one,
/// those nearest to matching — the fewest parts that differ — with every part that differs, and
/// a server type or host name with no addresses named as the reason its filter matched nothing.
extension ReferenceEvaluator {
    public struct NearMiss: Sendable {
        public var filter: ActiveFilter
        public var rank: Int
        /// Every part of the filter the packet does not match, in the filter's order.
        public var mismatches: [Mismatch]
        /// "DNS has no addresses here", "www.example.com has no addresses (not resolved)".
        public var empty: [String]
        /// Smaller is nearer: 2 a differing part, 3 an address of the other family; 0 when only
        /// addresses of empty sets differ (then those sets are why the filter did not match).
        public var distance: Int
    }

    /// Every part of `f` that `p` does not match (the first is `mismatch`'s answer).
    public func nearMiss(_ f: ActiveFilter, rank: Int, _ p: Packet, _ hook: Chain.Hook) -> NearMiss {
        var miss = NearMiss(filter: f, rank: rank, mismatches: [], empty: [], distance: 0)
        if !f.connection.includes(linkType: p.linkType) { miss.mismatches.append(.connectionType(f.connection)) }
        let sides: [(AddressSpec, IPAddress, Mismatch, Bool)] = [
            (f.source, p.source, .source, false), (f.destination, p.destination, .destination, hook == .input)
        ]
        for (spec, address, side, receiving) in sides where !matches(spec, address, f.origin, receiving: receiving) {
            miss.mismatches.append(side)
            if let reason = emptyReason(spec) { miss.empty.append(reason) }
            miss.distance += spec.family.map { $0 != p.family } == true ? 3 : 2
        }
        switch f.proto {
        case .any: break
        case .icmp:
            if p.proto != (p.family == .ipv4 ? 1 : 58) { miss.mismatches.append(.proto) }
        case .number(let n):
            if p.proto != n {
                miss.mismatches.append(.proto)
                break
            }
            if f.sourcePort != 0, !(p.hasPorts && f.sourcePort.contains(p.sourcePort)) {
                miss.mismatches.append(.sourcePort)
            }
            if f.destinationPort != 0, !(p.hasPorts && f.destinationPort.contains(p.destinationPort)) {
                miss.mismatches.append(.destinationPort)
            }
            if let flags = f.tcpFlags, !flags.matches(p.tcpFlags) { miss.mismatches.append(.tcpFlags) }
        }
        if f.repliesOnly, p.conntrack != .established, p.conntrack != .related {
            miss.mismatches.append(.connectionState)
        }
        miss.distance += 2 * miss.mismatches.filter { $0 != .source && $0 != .destination }.count
        if miss.empty.count == miss.mismatches.count { miss.distance = 0 }
        return miss
    }

    /// Why an address part matches nothing at all here: a server type or host name with no addresses.
    func emptyReason(_ spec: AddressSpec) -> String? {
        switch spec {
        case .server(let type) where addresses.addresses(for: type).isEmpty:
            return "\(type.rawValue) has no addresses here"
        case .dnsName(let name, _) where (addresses.names[name] ?? []).isEmpty:
            return "\(name) has no addresses (not resolved)"
        default: return nil
        }
    }

    /// The `limit` nearest of the filters considered before the decision (in rank order), and how
    /// many were considered in all.
    public func nearest(_ e: Explanation, _ p: Packet, _ hook: Chain.Hook, limit: Int) -> [NearMiss] {
        let misses = e.considered.map { nearMiss($0.filter, rank: $0.rank, p, hook) }
        return misses.sorted { ($0.distance, -$0.rank) < ($1.distance, -$1.rank) }.prefix(limit).sorted {
            $0.rank < $1.rank
        }
    }
}
