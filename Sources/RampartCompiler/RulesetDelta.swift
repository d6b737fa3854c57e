/// What turns the ruleset in force into another one without replacing what did not change: rules
/// deleted and inserted in place, filter-set elements added and removed, sets created, deleted or
/// refilled. Rules and elements that are not named here keep their kernel handles and counters.
/// Pure: `NftablesClient.applyDelta` sends it, addressing the rules in force by their handles.
public struct RulesetDelta: Sendable, Equatable {
    /// One chain's rule changes, by position in the chain in force.
    public struct ChainEdit: Sendable, Equatable {
        public var chain: String
        /// Indices of the rules in force to delete.
        public var deleted: [Int] = []
        public var inserted: [Insertion] = []
    }

    /// New rules that go together, in chain order, next to a rule that stays.
    public struct Insertion: Sendable, Equatable {
        public enum Place: Sendable, Equatable {
            /// After the rule in force at this index.
            case after(Int)
            /// Before the rule in force at this index (new rules at the head of the chain).
            case before(Int)
            /// At the end: no rule of the chain stays.
            case end
        }

        public var place: Place
        public var rules: [RuleSpec]
    }

    /// The elements of a filter set that exists before and after.
    public struct ElementEdit: Sendable, Equatable {
        public var set: String
        public var key: FilterSet.Key
        public var added: [FilterSet.Element] = []
        public var removed: [FilterSet.Element] = []
    }

    public var chains: [ChainEdit] = []
    /// Sets to delete (after the rules that use them).
    public var removedSets: [String] = []
    public var addedSets: [NamedSet] = []
    public var addedFilterSets: [FilterSet] = []
    public var addedPortSets: [PortSet] = []
    /// Address sets whose elements changed: flushed and filled again (they count nothing).
    public var refilledSets: [NamedSet] = []
    public var refilledPortSets: [PortSet] = []
    public var elements: [ElementEdit] = []

    public var isEmpty: Bool { operations == 0 }

    /// Rules and elements sent or deleted: what the transaction costs, to compare with a replacement.
    public var operations: Int {
        chains.reduce(0) { $0 + $1.deleted.count + $1.inserted.reduce(0) { $0 + $1.rules.count } }
            + removedSets.count + addedSets.reduce(0) { $0 + 1 + $1.elements.count }
            + addedFilterSets.reduce(0) { $0 + 1 + $1.elements.count }
            + addedPortSets.reduce(0) { $0 + 1 + $1.ranges.count }
            + refilledSets.reduce(0) { $0 + 1 + $1.elements.count }
            + refilledPortSets.reduce(0) { $0 + 1 + $1.ranges.count }
            + elements.reduce(0) { $0 + $1.added.count + $1.removed.count }
    }

    public var rulesInserted: Int { chains.reduce(0) { $0 + $1.inserted.reduce(0) { $0 + $1.rules.count } } }
    public var rulesDeleted: Int { chains.reduce(0) { $0 + $1.deleted.count } }
    public var elementsAdded: Int {
        elements.reduce(0) { $0 + $1.added.count } + addedFilterSets.reduce(0) { $0 + $1.elements.count }
    }
    public var elementsRemoved: Int { elements.reduce(0) { $0 + $1.removed.count } }

    /// Whether a rule with a log statement is inserted or deleted (from `current`, the ruleset in force).
    public func changesLogRules(in current: Ruleset) -> Bool {
        func logs(_ rule: RuleSpec) -> Bool {
            rule.statements.contains { if case .log = $0 { return true } else { return false } }
        }
        for edit in chains {
            if edit.inserted.contains(where: { $0.rules.contains(where: logs) }) { return true }
            guard let chain = current.chains.first(where: { $0.name == edit.chain }) else { continue }
            if edit.deleted.contains(where: { logs(chain.rules[$0]) }) { return true }
        }
        return false
    }

    /// The difference from `old` (in force) to `new`; nil when it cannot be said as a delta (the
    /// chains themselves differ, a set changes its type under one name, the rule changes are too
    /// scattered to find cheaply) or would cost more than replacing the table.
    public static func between(_ old: Ruleset, _ new: Ruleset) -> RulesetDelta? {
        guard old.chains.count == new.chains.count else { return nil }
        var delta = RulesetDelta()
        for (o, n) in zip(old.chains, new.chains) {
            guard o.name == n.name, o.hook == n.hook, o.priority == n.priority, o.policy == n.policy,
                let edit = ChainDiff.edit(o.rules, n.rules, chain: n.name)
            else { return nil }
            if !edit.deleted.isEmpty || !edit.inserted.isEmpty { delta.chains.append(edit) }
        }
        guard delta.diffSets(old, new) else { return nil }
        let replacement =
            new.ruleCount + new.setCount + new.sets.reduce(0) { $0 + $1.elements.count }
            + new.filterSets.reduce(0) { $0 + $1.elements.count } + new.portSets.reduce(0) { $0 + $1.ranges.count }
        return delta.operations <= replacement ? delta : nil
    }

    /// The set part; false when a set keeps its name but not its type.
    private mutating func diffSets(_ old: Ruleset, _ new: Ruleset) -> Bool {
        let oldNamed = Dictionary(old.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let oldFilter = Dictionary(old.filterSets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let oldPorts = Dictionary(old.portSets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(new.sets.map(\.name) + new.filterSets.map(\.name) + new.portSets.map(\.name))
        for name in old.sets.map(\.name) + old.filterSets.map(\.name) + old.portSets.map(\.name)
        where !newNames.contains(name) {
            removedSets.append(name)
        }
        for set in new.sets {
            if oldFilter[set.name] != nil || oldPorts[set.name] != nil { return false }
            guard let was = oldNamed[set.name] else {
                addedSets.append(set)
                continue
            }
            guard was.family == set.family else { return false }
            if was.elements != set.elements { refilledSets.append(set) }
        }
        for set in new.portSets {
            if oldFilter[set.name] != nil || oldNamed[set.name] != nil { return false }
            guard let was = oldPorts[set.name] else {
                addedPortSets.append(set)
                continue
            }
            if was.ranges != set.ranges { refilledPortSets.append(set) }
        }
        for set in new.filterSets {
            if oldNamed[set.name] != nil || oldPorts[set.name] != nil { return false }
            guard let was = oldFilter[set.name] else {
                addedFilterSets.append(set)
                continue
            }
            guard was.key == set.key else { return false }
            if was.elements != set.elements { elements.append(Self.elementEdit(was, set)) }
        }
        return true
    }

    /// Both element lists are sorted (`FilterSet.init`): one merge finds what went and what came.
    static func elementEdit(_ old: FilterSet, _ new: FilterSet) -> ElementEdit {
        var edit = ElementEdit(set: new.name, key: new.key)
        var i = 0, j = 0
        while i < old.elements.count || j < new.elements.count {
            if j == new.elements.count || (i < old.elements.count && old.elements[i] < new.elements[j]) {
                edit.removed.append(old.elements[i])
                i += 1
            } else if i == old.elements.count || new.elements[j] < old.elements[i] {
                edit.added.append(new.elements[j])
                j += 1
            } else {
                i += 1
                j += 1
            }
        }
        // An element whose key stays but whose filter changes is one key: deleted, then added.
        return edit
    }
}

/// The rule difference of one chain: the common head and tail are kept as they are, and what lies
/// between is compared with Myers' algorithm, bounded so that a wholesale change costs no more
/// than replacing the table would.
enum ChainDiff {
    /// Past this many deletions and insertions in one chain's middle, a replacement is cheaper.
    static let maximumEdits = 256

    /// Rules compare as the kernel holds them: matches, statements, comment (not the origin).
    static func same(_ a: RuleSpec, _ b: RuleSpec) -> Bool {
        a.id == b.id && a.statements == b.statements && a.matches == b.matches
    }

    static func edit(_ old: [RuleSpec], _ new: [RuleSpec], chain: String) -> RulesetDelta.ChainEdit? {
        var head = 0
        while head < old.count, head < new.count, same(old[head], new[head]) { head += 1 }
        var tail = 0
        while tail < old.count - head, tail < new.count - head,
            same(old[old.count - 1 - tail], new[new.count - 1 - tail])
        {
            tail += 1
        }
        let a = Array(old[head..<(old.count - tail)]), b = Array(new[head..<(new.count - tail)])
        guard let kept = keptPairs(a, b) else { return nil }
        var edit = RulesetDelta.ChainEdit(chain: chain)
        var keptOld = Set<Int>()
        for (i, _) in kept { keptOld.insert(i) }
        edit.deleted = a.indices.filter { !keptOld.contains($0) }.map { $0 + head }
        edit.inserted = insertions(b, kept: kept, head: head, tailStart: old.count - tail, oldCount: old.count)
        return edit
    }

    /// The new rules between kept ones, each run placed after the kept rule before it (or, at the
    /// head of the chain, before the kept rule after it). Indices of `b` and `kept` are relative to
    /// `head`; the kept tail starts at `tailStart` in force.
    static func insertions(
        _ b: [RuleSpec], kept: [(Int, Int)], head: Int, tailStart: Int, oldCount: Int
    )
        -> [RulesetDelta.Insertion]
    {
        var out: [RulesetDelta.Insertion] = []
        var previous: Int? = head > 0 ? head - 1 : nil
        var run: [RuleSpec] = []
        func close(next: Int?) {
            guard !run.isEmpty else { return }
            let place: RulesetDelta.Insertion.Place =
                if let p = previous { .after(p) } else if let n = next { .before(n) } else { .end }
            out.append(RulesetDelta.Insertion(place: place, rules: run))
            run = []
        }
        var k = 0
        for j in b.indices {
            if k < kept.count, kept[k].1 == j {
                close(next: kept[k].0 + head)
                previous = kept[k].0 + head
                k += 1
            } else {
                run.append(b[j])
            }
        }
        close(next: tailStart < oldCount ? tailStart : nil)
        return out
    }

    /// The longest common subsequence of `a` and `b` as (index in a, index in b) pairs, by Myers'
    /// greedy algorithm; nil past `maximumEdits`.
    static func keptPairs(_ a: [RuleSpec], _ b: [RuleSpec]) -> [(Int, Int)]? {
        let n = a.count, m = b.count
        if n == 0 || m == 0 { return [] }
        let limit = min(n + m, maximumEdits)
        let offset = limit + 1
        var v = [Int](repeating: 0, count: 2 * limit + 3)
        var trace: [[Int]] = []
        for d in 0...limit {
            trace.append(v)
            for k in stride(from: -d, through: d, by: 2) {
                var x =
                    (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]))
                    ? v[offset + k + 1] : v[offset + k - 1] + 1
                var y = x - k
                while x < n, y < m, same(a[x], b[y]) {
                    x += 1
                    y += 1
                }
                v[offset + k] = x
                if x >= n, y >= m { return backtrack(trace, v: v, d: d, n: n, m: m, offset: offset) }
            }
        }
        return nil
    }

    /// Walks the recorded frontiers back from (n, m), collecting the diagonal moves.
    private static func backtrack(_ trace: [[Int]], v last: [Int], d: Int, n: Int, m: Int, offset: Int) -> [(Int, Int)]
    {
        var pairs: [(Int, Int)] = []
        var x = n, y = m
        for step in stride(from: d, through: 1, by: -1) {
            let v = trace[step]
            let k = x - y
            let prevK = (k == -step || (k != step && v[offset + k - 1] < v[offset + k + 1])) ? k + 1 : k - 1
            let prevX = v[offset + prevK]
            let prevY = prevX - prevK
            while x > prevX, y > prevY {
                x -= 1
                y -= 1
                pairs.append((x, y))
            }
            x = prevX
            y = prevY
        }
        while x > 0, y > 0 {
            x -= 1
            y -= 1
            pairs.append((x, y))
        }
        return pairs.reversed()
    }
}
