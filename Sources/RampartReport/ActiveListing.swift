import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// `show active`: the effective filter list in match order.
public enum ActiveListing {
    static func matchText(_ f: ActiveFilter) -> String {
        var s = "\(f.source.display) -> \(f.destination.display) \(f.proto)"
        if f.sourcePort != 0 || f.destinationPort != 0 { s += " \(f.sourcePort)->\(f.destinationPort)" }
        if let flags = f.tcpFlags { s += " flags \(flags)" }
        if f.repliesOnly { s += " (replies only)" }
        if admitsAnyLocalPort(f) { s += " !" }
        return s
    }

    /// A permitting mirror half from a fixed remote port to every local port (the reply half of
    /// "HTTP out"): anyone sending from that port reaches any local service, as with Windows'
    /// stateless mirrors. `mirrored=stateful` limits it to replies (docs/extensions.md).
    public static func admitsAnyLocalPort(_ f: ActiveFilter) -> Bool {
        f.isMirror && !f.repliesOnly && f.inbound == .permit && f.sourcePort != 0 && f.destinationPort == 0
            && (f.proto == .tcp || f.proto == .udp) && f.destination.isMe
    }

    /// The note under a listing that has such halves (marked `!`).
    static func note(_ filters: [ActiveFilter]) -> String {
        let open = filters.filter(admitsAnyLocalPort).map(\.id)
        guard !open.isEmpty else { return "" }
        return
            "! \(open.joined(separator: ", ")): reply halves that admit any source on \(open.count == 1 ? "that" : "their") port to every local port; "
            + "mirrored=stateful admits only replies to connections this host opened\n"
    }

    /// `filters` is a page whose first row has rank `firstRank`.
    public static func text(_ filters: some Collection<ActiveFilter>, firstRank: Int = 1) -> String {
        if filters.isEmpty && firstRank == 1 {
            return
                "No active filters: no policy is assigned (or its rules have no filters); all traffic is permitted.\n"
        }
        var rows = [["RANK", "WEIGHT", "IN", "OUT", "ID", "ORIGIN", "MATCH"]]
        for (i, f) in filters.enumerated() {
            let w = f.weight
            rows.append([
                String(i + firstRank), "\(w.pairLabel) #\(w.fossenRank)", f.inbound.rawValue, f.outbound.rawValue, f.id,
                f.origin.description, matchText(f)
            ])
        }
        return TextTable.render(rows) + note(Array(filters))
    }

    public static func json(_ filters: some Collection<ActiveFilter>, firstRank: Int = 1) -> JSONValue {
        .array(
            filters.enumerated().map { i, f in
                .object([
                    ("rank", .int(i + firstRank)), ("id", .string(f.id)), ("class", .string(f.weight.pairLabel)),
                    ("fossenRank", .int(f.weight.fossenRank)), ("inbound", .string(f.inbound.rawValue)),
                    ("outbound", .string(f.outbound.rawValue)), ("origin", .string(f.origin.description)),
                    ("srcaddr", .string(f.source.display)), ("dstaddr", .string(f.destination.display)),
                    ("protocol", .string(f.proto.description)), ("srcport", ShowRenderer.portJSON(f.sourcePort)),
                    ("dstport", ShowRenderer.portJSON(f.destinationPort)),
                    ("tcpflags", f.tcpFlags.map { .string($0.description) } ?? .null),
                    ("mirrorHalf", .bool(f.isMirror)), ("repliesOnly", .bool(f.repliesOnly)),
                    ("admitsAnyLocalPort", .bool(admitsAnyLocalPort(f)))
                ])
            })
    }
}
