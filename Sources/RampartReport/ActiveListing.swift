import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// `show active`: the effective filter list in match order.
public enum ActiveListing {
    static func matchText(_ f: ActiveFilter) -> String {
        var s = "\(f.source.display) -> \(f.destination.display) \(f.proto)"
        if f.sourcePort != 0 || f.destinationPort != 0 { s += " \(f.sourcePort)->\(f.destinationPort)" }
        if let flags = f.tcpFlags { s += " flags \(flags)" }
        return s
    }

    public static func text(_ filters: [ActiveFilter]) -> String {
        if filters.isEmpty {
            return "No active filters: no policy is assigned (or its rules have no filters); all traffic is permitted.\n"
        }
        var rows = [["RANK", "WEIGHT", "IN", "OUT", "ID", "ORIGIN", "MATCH"]]
        for (i, f) in filters.enumerated() {
            let w = f.weight
            rows.append([String(i + 1), "\(w.pairLabel) #\(w.fossenRank)", f.inbound.rawValue, f.outbound.rawValue, f.id, f.origin.description, matchText(f)])
        }
        return TextTable.render(rows)
    }

    public static func json(_ filters: [ActiveFilter]) -> JSONValue {
        .array(filters.enumerated().map { i, f in
            .object([
                ("rank", .int(i + 1)), ("id", .string(f.id)), ("class", .string(f.weight.pairLabel)),
                ("fossenRank", .int(f.weight.fossenRank)), ("inbound", .string(f.inbound.rawValue)),
                ("outbound", .string(f.outbound.rawValue)), ("origin", .string(f.origin.description)),
                ("srcaddr", .string(f.source.display)), ("dstaddr", .string(f.destination.display)),
                ("protocol", .string(f.proto.description)), ("srcport", ShowRenderer.portJSON(f.sourcePort)),
                ("dstport", ShowRenderer.portJSON(f.destinationPort)), ("tcpflags", f.tcpFlags.map { .string($0.description) } ?? .null),
                ("mirrorHalf", .bool(f.isMirror)),
            ])
        })
    }
}
