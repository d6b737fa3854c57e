import RampartCompiler
import RampartPolicy

/// Counts carried from the rules and elements a transaction removes to those it adds for the same
/// filter, so a filter's counter keeps counting when its rule moves (a set of two shrinks to a
/// rule, a rule joins a set, the table is replaced): keyed by chain, filter id (the comment) and
/// address family, taken in chain order. Rules that log, and the drop rule an uncounted log rule
/// stands for, start from zero: drop logging reconciles the kernel's count of logged packets with
/// what it read since the rules were made.
public struct CounterSeeds: Sendable, Equatable {
    public struct Counts: Sendable, Equatable {
        public var packets: UInt64
        public var bytes: UInt64
    }

    struct Key: Hashable {
        var chain: String
        var id: String
        var family: UInt8?
    }

    private var counts: [Key: [Counts]] = [:]

    public init() {}

    /// From counters read back (`ruleCounters` in chain order, `elementCounters`).
    public init(_ counters: [RuleCounter]) {
        add(counters, keeping: { _ in true })
    }

    /// Adds the counts of `counters` at the indices `keeping` accepts (the rules a delta deletes).
    mutating func add(_ counters: [RuleCounter], keeping: (Int) -> Bool) {
        var previous: RuleCounter?
        for (index, c) in counters.enumerated() {
            defer { previous = c }
            guard keeping(index) else { continue }
            guard c.counted, c.logGroup == nil, c.packets > 0 || c.bytes > 0 else { continue }
            if c.set == nil, let p = previous, p.chain == c.chain, p.logGroup != nil, !p.counted { continue }
            let family: UInt8? = c.set.map { $0.hasSuffix("_v6") ? 6 : ($0.hasSuffix("_v4") ? 4 : nil) } ?? c.family
            counts[Key(chain: c.chain, id: c.id, family: family), default: []].append(
                Counts(packets: c.packets, bytes: c.bytes))
        }
    }

    public var isEmpty: Bool { counts.isEmpty }

    /// The next count for a rule of `chain` with comment `id` and these instructions; nil when it
    /// starts from zero. `afterUncountedLog`: the rule before it is its uncounted log rule.
    mutating func take(chain: String, id: String, expressions: [Expr], afterUncountedLog: Bool) -> Counts? {
        guard !counts.isEmpty, !afterUncountedLog,
            !expressions.contains(where: { if case .log = $0 { return true } else { return false } })
        else { return nil }
        return take(Key(chain: chain, id: id, family: Self.family(expressions)))
    }

    /// The next count for an element of filter set `set` (in `chain`) for filter `id`.
    mutating func take(chain: String, set: FilterSet, id: String) -> Counts? {
        guard !counts.isEmpty else { return nil }
        let family: UInt8? = set.key.address.map { $0.family == .ipv4 ? 4 : 6 }
        return take(Key(chain: chain, id: id, family: family))
    }

    private mutating func take(_ key: Key) -> Counts? {
        guard var list = counts[key], !list.isEmpty else { return nil }
        let first = list.removeFirst()
        counts[key] = list.isEmpty ? nil : list
        return first
    }

    /// Whether `previous` is the uncounted log rule that `rule` (its drop rule) counts for.
    public static func isUncountedLog(_ previous: RuleSpec, of rule: RuleSpec) -> Bool {
        previous.id == rule.id && !previous.statements.contains(.counter)
            && previous.statements.contains { if case .log = $0 { return true } else { return false } }
    }

    /// The family a rule matches, as `ruleCounters` reads it back: its first 4- or 16-byte load from
    /// the network header, else a `meta nfproto` comparison.
    static func family(_ expressions: [Expr]) -> UInt8? {
        var nfproto = false
        for e in expressions {
            switch e {
            case .payload(.network, _, 4, _): return 4
            case .payload(.network, _, 16, _): return 6
            case .meta(.nfproto):
                nfproto = true
                continue
            case .cmp(_, let data) where nfproto && data.count == 1:
                if data[0] == 2 { return 4 }
                if data[0] == 10 { return 6 }
            default: break
            }
            nfproto = false
        }
        return nil
    }
}
