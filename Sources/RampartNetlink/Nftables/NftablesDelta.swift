import CNetfilter
import RampartCompiler
import RampartPolicy

extension NftablesClient {
    /// What a delta transaction changed.
    public struct DeltaReport: Sendable, Equatable {
        public var messages: Int
        public var rulesInserted: Int
        public var rulesDeleted: Int
        public var elementsAdded: Int
        public var elementsRemoved: Int
        /// Sets created, deleted or refilled.
        public var sets: Int
    }

    /// Turns table `inet rampart` from `current` (what is in force) into what `delta` leads to, in one
    /// transaction: rules that stay keep their handles and counters, and so do the elements of
    /// filter sets that stay. Each edited chain is read first to find its rules' handles; a chain
    /// that is not as `current` says (someone else's change) fails the call before anything is
    /// sent, and a kernel that disagrees fails the transaction: either way nothing changed, and the
    /// caller replaces the table instead.
    @discardableResult
    public func applyDelta(_ delta: RulesetDelta, from current: Ruleset) throws(NetlinkError) -> DeltaReport {
        var handles: [String: [UInt64]] = [:]
        var seeds = CounterSeeds()
        for edit in delta.chains {
            guard let chain = current.chains.first(where: { $0.name == edit.chain }) else {
                throw NetlinkError("chain \(edit.chain) is not in the ruleset in force")
            }
            let inForce = try ruleCounters(chain: edit.chain)
            guard inForce.count == chain.rules.count, zip(inForce, chain.rules).allSatisfy({ $0.id == $1.id }) else {
                throw NetlinkError("chain \(edit.chain) is not as rampartd left it: \(inForce.count) rules in force")
            }
            handles[edit.chain] = inForce.map(\.handle)
            let deleted = Set(edit.deleted)
            seeds.add(inForce, keeping: { deleted.contains($0) })
        }
        try seedFromElements(delta, current: current, into: &seeds)
        let batch = Batch(numbers: numbers)
        for edit in delta.chains {
            for index in edit.deleted {
                let object = RuleObject(table: table, chain: edit.chain, handle: handles[edit.chain]![index])
                // delete rule inet rampart CHAIN handle H
                batch.add(NFT_MSG_DELRULE, flags: 0, label: "delete rule \(index + 1) of chain \(edit.chain)") {
                    object.build($0)
                }
            }
        }
        for edit in delta.elements where !edit.removed.isEmpty {
            removeElements(edit, from: batch)
        }
        for name in delta.removedSets {
            let object = SetObject(table: table, name: name)
            // delete set inet rampart NAME
            batch.add(NFT_MSG_DELSET, flags: 0, label: "delete set \(name)") { object.build($0) }
        }
        let ids = addSets(of: delta, seeds: &seeds, to: batch)
        for edit in delta.elements where !edit.added.isEmpty {
            let set = FilterSet(name: edit.set, key: edit.key, elements: edit.added)
            // add element inet rampart NAME { KEY comment "F12", … }
            _ = addElements(set, id: nil, seeds: &seeds, to: batch)
        }
        for edit in delta.chains {
            try insertRules(edit, handles: handles[edit.chain]!, setIDs: ids, seeds: &seeds, to: batch)
        }
        batch.finish()
        try commit(batch)
        return DeltaReport(
            messages: batch.messageCount, rulesInserted: delta.rulesInserted, rulesDeleted: delta.rulesDeleted,
            elementsAdded: delta.elementsAdded, elementsRemoved: delta.elementsRemoved,
            sets: delta.removedSets.count + delta.addedSets.count + delta.addedFilterSets.count
                + delta.addedPortSets.count + delta.refilledSets.count + delta.refilledPortSets.count)
    }

    /// delete element inet rampart NAME { KEY, … }: filter sets are hash sets, an element is its key.
    private func removeElements(_ edit: RulesetDelta.ElementEdit, from batch: Batch) {
        let chunk = NftablesClient.elementsPerMessage[edit.key.address?.family ?? .ipv4]!
        var start = 0
        while start < edit.removed.count {
            let object = SetObject(table: table, name: edit.set)
            let end = min(start + chunk, edit.removed.count)
            for e in edit.removed[start..<end] { object.add(key: SetObject.key(e, edit.key), end: false) }
            batch.add(NFT_MSG_DELSETELEM, flags: 0, label: "delete elements \(start + 1)-\(end) of set \(edit.set)") {
                object.buildElements($0)
            }
            start = end
        }
    }

    /// The counts of the filter-set elements the delta removes (with their sets or alone) whose
    /// filters come back as another rule or element: read from the kernel only when there are such.
    private func seedFromElements(
        _ delta: RulesetDelta, current: Ruleset, into seeds: inout CounterSeeds
    )
        throws(NetlinkError)
    {
        var comingBack = Set<String>()
        for edit in delta.chains {
            for insertion in edit.inserted { for rule in insertion.rules { comingBack.insert(rule.id) } }
        }
        for edit in delta.elements { for e in edit.added { comingBack.insert(e.id) } }
        for set in delta.addedFilterSets { for e in set.elements { comingBack.insert(e.id) } }
        guard !comingBack.isEmpty else { return }
        let removedSets = Set(delta.removedSets)
        var sets: [String] = delta.elements.filter { $0.removed.contains { comingBack.contains($0.id) } }.map(\.set)
        sets += current.filterSets.filter {
            removedSets.contains($0.name) && $0.elements.contains { comingBack.contains($0.id) }
        }.map(\.name)
        for name in sets {
            seeds.add(try elementCounters(ofSet: name).filter { comingBack.contains($0.id) }, keeping: { _ in true })
        }
    }

    /// The new sets with their elements, and the refilled ones; the new sets' batch-local ids.
    private func addSets(of delta: RulesetDelta, seeds: inout CounterSeeds, to batch: Batch) -> [String: UInt32] {
        var ids: [String: UInt32] = [:]
        func nextID(_ name: String) -> UInt32 {
            let id = UInt32(ids.count + 1)
            ids[name] = id
            return id
        }
        for set in delta.addedSets {
            let object = SetObject(table: table, name: set.name, family: set.family, id: nextID(set.name))
            // set NAME { type ipv4_addr|ipv6_addr; flags interval; }
            batch.add(NFT_MSG_NEWSET, flags: NLM_F_CREATE, label: "set \(set.name)") { object.build($0) }
            _ = addElements(set, id: ids[set.name], to: batch)
        }
        for set in delta.addedFilterSets {
            let object = SetObject(table: table, filterSet: set, id: nextID(set.name))
            // set NAME { type KEY . KEY; counter; }
            batch.add(NFT_MSG_NEWSET, flags: NLM_F_CREATE, label: "set \(set.name)") { object.build($0) }
            _ = addElements(set, id: ids[set.name], seeds: &seeds, to: batch)
        }
        for set in delta.addedPortSets {
            let object = SetObject(table: table, portSet: set.name, id: nextID(set.name))
            // set NAME { type inet_service; flags interval; }
            batch.add(NFT_MSG_NEWSET, flags: NLM_F_CREATE, label: "set \(set.name)") { object.build($0) }
            addPortElements(set, id: ids[set.name], to: batch)
        }
        for set in delta.refilledSets {
            flush(set.name, in: batch)
            _ = addElements(set, id: nil, to: batch)
        }
        for set in delta.refilledPortSets {
            flush(set.name, in: batch)
            addPortElements(set, id: nil, to: batch)
        }
        return ids
    }

    func addPortElements(_ set: PortSet, id: UInt32?, to batch: Batch) {
        let keys = Linearizer.intervalElements(set.ranges).map { ElementSpec(key: $0.key, end: $0.end) }
        addChunks(of: set.name, id: id, keys, chunk: NftablesClient.elementsPerMessage[.ipv4]!, to: batch)
    }

    /// flush set inet rampart NAME: DELSETELEM naming the set without an element list
    func flush(_ name: String, in batch: Batch) {
        batch.add(NFT_MSG_DELSETELEM, flags: 0, label: "flush set \(name)") { nlh in
            mnl_attr_put_strz(nlh, UInt16(NFTA_SET_ELEM_LIST_TABLE.rawValue), self.table)
            mnl_attr_put_strz(nlh, UInt16(NFTA_SET_ELEM_LIST_SET.rawValue), name)
        }
    }

    /// One chain's new rules in their places. A run after rule H goes in last first, each right
    /// after H; a run before rule H (the head of the chain) goes in first first, each right before H.
    private func insertRules(
        _ edit: RulesetDelta.ChainEdit, handles: [UInt64], setIDs: [String: UInt32], seeds: inout CounterSeeds,
        to batch: Batch
    ) throws(NetlinkError) {
        var linearizer = self.linearizer
        linearizer.setIDs = setIDs
        for insertion in edit.inserted {
            let (position, after): (UInt64?, Bool) =
                switch insertion.place {
                case .after(let i): (handles[i], true)
                case .before(let i): (handles[i], false)
                case .end: (nil, true)
                }
            var built: [(rule: RuleSpec, expressions: [Expr], seed: CounterSeeds.Counts?)] = []
            for (i, rule) in insertion.rules.enumerated() {
                let (expressions, seed) = try Self.build(
                    rule, after: i > 0 ? insertion.rules[i - 1] : nil, chain: edit.chain, linearizer, seeds: &seeds)
                built.append((rule, expressions, seed))
            }
            if position != nil && after { built.reverse() }
            for (rule, expressions, seed) in built {
                let object = RuleObject(
                    table: table, chain: edit.chain, comment: rule.id, expressions: expressions, position: position,
                    seed: seed)
                let label = "rule \(rule.id) (chain \(edit.chain)\(rule.origin.isEmpty ? "" : ", \(rule.origin)"))"
                // add|insert rule inet rampart CHAIN [position H] MATCHES STATEMENTS comment "ID"
                batch.add(
                    NFT_MSG_NEWRULE, flags: NLM_F_CREATE | (after ? NLM_F_APPEND : 0), label: label,
                    expressions: expressions
                ) { object.build($0) }
            }
        }
    }
}
