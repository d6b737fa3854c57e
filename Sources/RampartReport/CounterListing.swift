import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// `rampart counters`: one row per filter (as `show active` lists them, by rank), its kernel
/// rules and set elements summed, with their IPv4 and IPv6 parts as columns and whether drops
/// are logged; the fixed rules (loopback, exemptions, invalid) first. A grouped filter's set rule
/// is not a row of its own: its elements are the filters' rows.
public enum CounterListing {
    public struct Options: Sendable, Equatable {
        public var nonzero = false
        /// Filter ids (`F12`, `F12m`, `loopback`), compared case-insensitively; empty: all.
        public var filters: Set<String> = []
        public var top: Int?

        public init(nonzero: Bool = false, filters: Set<String> = [], top: Int? = nil) {
            self.nonzero = nonzero
            self.filters = Set(filters.map { $0.lowercased() })
            self.top = top
        }

        /// As the control request carries them: `nonzero`, `filter=F3,F4`, `top=10`.
        public init(words: [String]) {
            self.init()
            for w in words {
                if w == "nonzero" { nonzero = true }
                if w.hasPrefix("filter=") {
                    filters.formUnion(w.dropFirst(7).split(separator: ",").map { $0.lowercased() })
                }
                if w.hasPrefix("top="), let n = Int(w.dropFirst(4)), n > 0 { top = n }
            }
        }

        public var words: [String] {
            (nonzero ? ["nonzero"] : [])
                + (filters.isEmpty ? [] : ["filter=" + filters.sorted().joined(separator: ",")])
                + (top.map { ["top=\($0)"] } ?? [])
        }
    }

    public struct Row: Sendable, Equatable {
        public var rank: Int?
        public var id: String
        public var packets: UInt64 = 0
        public var bytes: UInt64 = 0
        public var ipv4: UInt64?
        public var ipv6: UInt64?
        public var logged = false
        public var origin: String?
        public var parts: [RuleCounter] = []
    }

    /// Each filter's rank in the match order (`show active`) and origin.
    public static func ranks(_ store: Store, dynamic: DynamicState? = nil) -> [String: (rank: Int, origin: String)] {
        var out: [String: (rank: Int, origin: String)] = [:]
        for (i, f) in Ordering.display(EffectiveFilters.collect(store, dynamic: dynamic)).enumerated() {
            out[f.id] = (i + 1, f.origin.description)
        }
        return out
    }

    public static func rows(
        _ counters: [RuleCounter], ranks: [String: (rank: Int, origin: String)], options: Options = Options()
    ) -> [Row] {
        let setRules = Set(counters.compactMap { c in c.set.map { "\(c.chain) \($0)" } })
        var familyOfSet: [String: UInt8] = [:]
        for c in counters where c.set == nil && setRules.contains("\(c.chain) \(c.id)") {
            if let family = c.family { familyOfSet["\(c.chain) \(c.id)"] = family }
        }
        var rows: [Row] = []
        var index: [String: Int] = [:]
        for c in counters where !(c.set == nil && setRules.contains("\(c.chain) \(c.id)")) {
            let i =
                index[c.id]
                ?? {
                    rows.append(Row(rank: ranks[c.id]?.rank, id: c.id, origin: ranks[c.id]?.origin))
                    index[c.id] = rows.count - 1
                    return rows.count - 1
                }()
            rows[i].parts.append(c)
            if c.logGroup != nil { rows[i].logged = true }
            guard c.counted else { continue }
            rows[i].packets &+= c.packets
            rows[i].bytes &+= c.bytes
            switch c.family ?? c.set.flatMap({ familyOfSet["\(c.chain) \($0)"] }) {
            case 4: rows[i].ipv4 = (rows[i].ipv4 ?? 0) &+ c.packets
            case 6: rows[i].ipv6 = (rows[i].ipv6 ?? 0) &+ c.packets
            default: break
            }
        }
        // The fixed rules first, as the chains meet them; then the filters by rank.
        var ordered = rows.enumerated().sorted { a, b in
            (a.element.rank ?? 0, a.offset) < (b.element.rank ?? 0, b.offset)
        }.map(\.element)
        if options.nonzero { ordered = ordered.filter { $0.packets > 0 } }
        if !options.filters.isEmpty { ordered = ordered.filter { options.filters.contains($0.id.lowercased()) } }
        if let top = options.top {
            ordered = Array(
                ordered.enumerated().sorted { ($1.element.packets, $0.offset) < ($0.element.packets, $1.offset) }
                    .prefix(top).map(\.element))
        }
        return ordered
    }

    public static func json(_ rows: [Row]) -> JSONValue {
        func count(_ v: UInt64?) -> JSONValue { v.map { .int(Int($0)) } ?? .null }
        return .array(
            rows.map { r in
                .object([
                    ("rank", r.rank.map { .int($0) } ?? .null), ("id", .string(r.id)), ("packets", count(r.packets)),
                    ("bytes", count(r.bytes)), ("ipv4", count(r.ipv4)), ("ipv6", count(r.ipv6)),
                    ("logged", .bool(r.logged)), ("origin", r.origin.map { .string($0) } ?? .null),
                    (
                        "parts",
                        .array(
                            r.parts.map { p in
                                .object([
                                    ("chain", .string(p.chain)), ("handle", .int(Int(p.handle))),
                                    ("set", p.set.map { .string($0) } ?? .null),
                                    ("family", p.family.map { .string("ipv\($0)") } ?? .null),
                                    ("log", .bool(p.logGroup != nil)),
                                    ("packets", p.counted ? count(p.packets) : .null),
                                    ("bytes", p.counted ? count(p.bytes) : .null)
                                ])
                            })
                    )
                ])
            })
    }

    public static func text(_ rows: [Row]) -> String {
        var lines = [["RANK", "ID", "PACKETS", "BYTES", "IPV4", "IPV6", "LOG", "ORIGIN"]]
        for r in rows {
            lines.append([
                r.rank.map(String.init) ?? "-", r.id, String(r.packets), String(r.bytes),
                r.ipv4.map(String.init) ?? "-",
                r.ipv6.map(String.init) ?? "-", r.logged ? "yes" : "-", r.origin ?? "-"
            ])
        }
        return TextTable.render(lines)
    }
}
