import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// `rampart counters`: every rule with its counters and the filter it comes from.
public enum CounterListing {
    public static func origins(_ store: Store, dynamic: DynamicState? = nil) -> [String: String] {
        var out: [String: String] = [:]
        for f in EffectiveFilters.collect(store, dynamic: dynamic) { out[f.id] = f.origin.description }
        return out
    }

    public static func json(_ counters: [RuleCounter], origins: [String: String]) -> JSONValue {
        .array(
            counters.map { c in
                .object([
                    ("chain", .string(c.chain)), ("handle", .int(Int(c.handle))), ("id", .string(c.id)),
                    ("origin", origins[c.id].map { .string($0) } ?? .null),
                    ("packets", .int(Int(c.packets))), ("bytes", .int(Int(c.bytes)))
                ])
            })
    }

    public static func text(_ counters: [RuleCounter], origins: [String: String]) -> String {
        var rows = [["CHAIN", "HANDLE", "ID", "PACKETS", "BYTES", "ORIGIN"]]
        for c in counters {
            rows.append([c.chain, String(c.handle), c.id, String(c.packets), String(c.bytes), origins[c.id] ?? ""])
        }
        return TextTable.render(rows)
    }
}
