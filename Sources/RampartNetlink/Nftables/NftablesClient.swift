import CNetfilter
import RampartCompiler
import RampartPolicy

/// The one door to nf_tables. Everything rampart does to the kernel's packet filter goes
/// through these methods, each one atomic transaction on table `inet rampart` and nothing else.
/// Not Sendable: it owns its transport; the daemon keeps it inside one actor.
public final class NftablesClient {
    public let table: String
    let transport: any NetlinkTransport
    let numbers = SequenceNumbers()
    var linearizer: Linearizer

    /// Elements per NEWSETELEM message. One message carries its elements in one attribute whose
    /// length is 16 bits: past 64 KiB it wraps and the kernel silently gets a truncated set.
    static let elementsPerMessage: [IPAddress.Family: Int] = [.ipv4: 2000, .ipv6: 1000]

    /// The port id of our socket: nf_tables notifications caused by our own changes carry it.
    public var portID: UInt32 { transport.portID }

    /// A client on a new nf_tables netlink socket.
    public convenience init(table: String = Ruleset.tableName) throws(NetlinkError) {
        self.init(table: table, transport: try NetlinkSocket())
    }

    /// `interfaceIndex` names interfaces for `iif`/`oif` matches (the kernel's, by default).
    public init(
        table: String = Ruleset.tableName, transport: any NetlinkTransport,
        interfaceIndex: @escaping @Sendable (String) -> UInt32? = { name in
            let index = if_nametoindex(name)
            return index == 0 ? nil : index
        }
    ) {
        self.table = table
        self.transport = transport
        linearizer = Linearizer(interfaceIndex: interfaceIndex)
    }

    public struct Report: Sendable, Equatable {
        public var messages: Int
        public var bytes: Int
        public var rules: Int
        public var setElements: Int
        /// Set when the kernel refused the `defrag` chain and the ruleset went in without it.
        public var defragmentationMissing: String?
    }

    // MARK: apply

    /// Replaces table `inet rampart` with `ruleset` in one transaction: create it if absent,
    /// delete it, create it anew with its sets, chains and rules. Either all of it is in force
    /// afterwards, or — on any error — the previous table is untouched.
    @discardableResult
    /// `seeds`: where the counters of the new rules and elements start (those of the table being
    /// replaced, read just before: `counterSeeds()`), so a replacement does not reset them.
    public func apply(_ ruleset: Ruleset, seeds: CounterSeeds = CounterSeeds()) throws(NetlinkError) -> Report {
        do {
            return try replace(with: ruleset, seeds: seeds)
        } catch  where error.message.contains("rule defrag (chain defrag)") && ruleset.chains.contains(.defrag) {
            // A kernel without nft_tproxy: the policy without the defrag chain beats no policy;
            // the report says so (fragments to permitted ports may then be dropped).
            var without = ruleset
            without.chains.removeAll { $0 == .defrag }
            var report = try replace(with: without, seeds: seeds)
            report.defragmentationMissing = error.message
            return report
        }
    }

    private func replace(with ruleset: Ruleset, seeds: CounterSeeds) throws(NetlinkError) -> Report {
        var seeds = seeds
        if let problem = RulesetLimits.problem(ruleset) { throw NetlinkError(problem + "; nothing was changed") }
        let batch = Batch(numbers: numbers)
        let tableObject = TableObject(name: table)
        tableObject.setFlags(0)
        // table inet rampart (a no-op when it exists, so the delete below cannot fail)
        batch.add(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, label: "table inet \(table)") { tableObject.build($0) }
        // delete table inet rampart
        batch.add(NFT_MSG_DELTABLE, flags: 0, label: "delete table inet \(table)") { tableObject.build($0) }
        batch.add(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, label: "table inet \(table)") { tableObject.build($0) }

        let (ids, elements) = addSets(ruleset, seeds: &seeds, to: batch)
        for chain in ruleset.chains {
            let object = ChainObject(table: table, chain: chain)
            batch.add(NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE, label: "chain \(chain.name)") { object.build($0) }
        }
        let rules = try addRules(ruleset, setIDs: ids, seeds: &seeds, to: batch)
        batch.finish()
        try commit(batch)
        return Report(messages: batch.messageCount, bytes: batch.bytes.count, rules: rules, setElements: elements)
    }

    /// Every set of the ruleset with its elements; each set's batch-local id by name, and the
    /// number of elements.
    private func addSets(
        _ ruleset: Ruleset, seeds: inout CounterSeeds, to batch: Batch
    ) -> (
        ids: [String: UInt32], elements: Int
    ) {
        var ids: [String: UInt32] = [:]
        var elements = 0
        for (i, set) in ruleset.sets.enumerated() {
            let id = UInt32(i + 1)
            ids[set.name] = id
            let object = SetObject(table: table, name: set.name, family: set.family, id: id)
            // set NAME { type ipv4_addr|ipv6_addr; flags interval; }
            batch.add(NFT_MSG_NEWSET, flags: NLM_F_CREATE, label: "set \(set.name)") { object.build($0) }
            elements += addElements(set, id: id, to: batch)
        }
        for (i, set) in ruleset.filterSets.enumerated() {
            let id = UInt32(ruleset.sets.count + i + 1)
            ids[set.name] = id
            let object = SetObject(table: table, filterSet: set, id: id)
            // set NAME { type KEY . KEY; flags interval; }: a grouped filter's key
            batch.add(NFT_MSG_NEWSET, flags: NLM_F_CREATE, label: "set \(set.name)") { object.build($0) }
            elements += addElements(set, id: id, seeds: &seeds, to: batch)
        }
        for (i, set) in ruleset.portSets.enumerated() {
            let id = UInt32(ruleset.sets.count + ruleset.filterSets.count + i + 1)
            ids[set.name] = id
            let object = SetObject(table: table, portSet: set.name, id: id)
            // set NAME { type inet_service; flags interval; elements = { A-B, … } }
            batch.add(NFT_MSG_NEWSET, flags: NLM_F_CREATE, label: "set \(set.name)") { object.build($0) }
            addPortElements(set, id: id, to: batch)
            elements += set.ranges.count
        }
        return (ids, elements)
    }

    /// Every rule of every chain, linearized with the sets' batch-local ids; how many.
    private func addRules(
        _ ruleset: Ruleset, setIDs ids: [String: UInt32], seeds: inout CounterSeeds, to batch: Batch
    ) throws(NetlinkError) -> Int {
        var linearizer = self.linearizer
        linearizer.setIDs = ids
        var rules = 0
        for chain in ruleset.chains {
            for i in chain.rules.indices {
                let rule = chain.rules[i]
                let (expressions, seed) = try Self.build(
                    rule, after: i > 0 ? chain.rules[i - 1] : nil, chain: chain.name, linearizer, seeds: &seeds)
                let object = RuleObject(
                    table: table, chain: chain.name, comment: rule.id, expressions: expressions, seed: seed)
                let label = "rule \(rule.id) (chain \(chain.name)\(rule.origin.isEmpty ? "" : ", \(rule.origin)"))"
                // add rule inet rampart CHAIN MATCHES STATEMENTS comment "ID"
                batch.add(NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND, label: label, expressions: expressions) {
                    object.build($0)
                }
                rules += 1
            }
        }
        return rules
    }

    /// A rule's instructions, and where its counter starts (`previous`: the rule before it in the
    /// chain as sent, which may be its uncounted log rule).
    static func build(
        _ rule: RuleSpec, after previous: RuleSpec?, chain: String, _ linearizer: Linearizer,
        seeds: inout CounterSeeds
    ) throws(NetlinkError) -> ([Expr], CounterSeeds.Counts?) {
        let expressions: [Expr]
        do {
            expressions = try linearizer.linearize(rule)
        } catch {
            throw NetlinkError("cannot build rule \(rule.id) of chain \(chain): \(error.description)")
        }
        let seed = seeds.take(
            chain: chain, id: rule.id, expressions: expressions,
            afterUncountedLog: previous.map { CounterSeeds.isUncountedLog($0, of: rule) } ?? false)
        return (expressions, seed)
    }

    /// Adds the elements of `set` in as many NEWSETELEM messages as the 64 KiB limit needs.
    func addElements(_ set: NamedSet, id: UInt32?, to batch: Batch) -> Int {
        guard !set.elements.isEmpty else { return 0 }
        let elements = Linearizer.intervalElements(set.elements, family: set.family)
        addChunks(
            of: set.name, id: id, elements.map { ElementSpec(key: $0.key, end: $0.end) },
            chunk: NftablesClient.elementsPerMessage[set.family]!, to: batch)
        return set.elements.count
    }

    /// The same for a filter set: one element per filter, with its id as the comment, its counter
    /// starting from the seed its filter has.
    func addElements(_ set: FilterSet, id: UInt32?, seeds: inout CounterSeeds, to batch: Batch) -> Int {
        guard !set.elements.isEmpty else { return 0 }
        let chain = String(set.name.prefix { $0 != "_" })
        var seeded = false
        let elements = set.elements.map { e in
            let seed = seeds.take(chain: chain, set: set, id: e.id)
            seeded = seeded || seed != nil
            return ElementSpec(key: SetObject.key(e, set.key), end: false, comment: e.id, seed: seed)
        }
        // Comments, counters and IPv6 keys make elements longer: fewer per message, under 64 KiB.
        addChunks(
            of: set.name, id: id, elements,
            chunk: NftablesClient.elementsPerMessage[set.key.address?.family ?? .ipv4]! / (seeded ? 4 : 2), to: batch)
        return set.elements.count
    }

    /// One element as sent: its key, whether it ends an interval, its comment and counter.
    struct ElementSpec {
        var key: [UInt8]
        var end: Bool
        var comment: String? = nil
        var seed: CounterSeeds.Counts? = nil
    }

    func addChunks(of name: String, id: UInt32?, _ elements: [ElementSpec], chunk: Int, to batch: Batch) {
        var start = 0
        while start < elements.count {
            let object = SetObject(table: table, name: name, id: id)
            for e in elements[start..<min(start + chunk, elements.count)] {
                object.add(key: e.key, end: e.end, comment: e.comment, seed: e.seed)
            }
            // elements = { … } of set NAME (one message per chunk)
            batch.add(
                NFT_MSG_NEWSETELEM, flags: NLM_F_CREATE,
                label: "elements \(start + 1)-\(min(start + chunk, elements.count)) of set \(name)"
            ) {
                object.buildElements($0)
            }
            start += chunk
        }
    }

    // MARK: set-only updates

    /// Replaces the elements of existing sets in one transaction: each set is flushed and refilled.
    /// Rules and their counters are not touched, and no packet sees a half-updated set.
    @discardableResult
    public func replaceElements(of sets: [NamedSet]) throws(NetlinkError) -> Report {
        let batch = Batch(numbers: numbers)
        var elements = 0
        for set in sets {
            flush(set.name, in: batch)
            elements += addElements(set, id: nil, to: batch)
        }
        batch.finish()
        try commit(batch)
        return Report(messages: batch.messageCount, bytes: batch.bytes.count, rules: 0, setElements: elements)
    }

    // MARK: delete

    /// Removes table `inet rampart` (and only it). Returns false when it was not there.
    @discardableResult
    public func deleteTable() throws(NetlinkError) -> Bool {
        let existed = try tableExists()
        let batch = Batch(numbers: numbers)
        let object = TableObject(name: table)
        // table inet rampart; delete table inet rampart — succeeds whether or not it existed
        batch.add(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, label: "table inet \(table)") { object.build($0) }
        batch.add(NFT_MSG_DELTABLE, flags: 0, label: "delete table inet \(table)") { object.build($0) }
        batch.finish()
        try commit(batch)
        return existed
    }

    // MARK: transactions

    func commit(_ batch: Batch) throws(NetlinkError) {
        transport.sizeBuffers(bytes: batch.bytes.count, messages: batch.messageCount)
        try transport.send(batch.bytes)
        var committed = false
        var failures: [String] = []
        var firstErrno: Int32?
        // nfnetlink handles the batch inside sendmsg: every reply is queued by now.
        while let datagram = try transport.receive(wait: false) {
            for message in NetlinkMessages(bytes: datagram) where message.type == UInt16(NLMSG_ERROR) {
                guard let reply = ErrorReply(message) else { continue }
                if reply.error == 0 {
                    if message.sequence == batch.endSequence || message.sequence == batch.lastSequence {
                        committed = true
                    }
                    continue
                }
                firstErrno = firstErrno ?? reply.error
                let what =
                    batch.entry(for: message.sequence).map { batch.describe($0, offset: reply.offset) }
                    ?? "message \(message.sequence)"
                failures.append(
                    "\(what): \(String(cString: strerror(reply.error)))\(reply.text.map { " (\($0))" } ?? "")")
            }
        }
        if !failures.isEmpty {
            throw NetlinkError(
                "nf_tables rejected the transaction; nothing was changed. " + failures.prefix(5).joined(separator: "; ")
                    + (failures.count > 5 ? "; and \(failures.count - 5) more" : ""), errno: firstErrno)
        }
        guard committed else {
            throw NetlinkError(
                "nf_tables did not acknowledge the transaction (no reply to batch end); the ruleset state is unknown")
        }
    }

    // MARK: read back

    public typealias RuleCounter = RampartCompiler.RuleCounter

    /// Whether table `inet rampart` exists.
    public func tableExists() throws(NetlinkError) -> Bool {
        do {
            _ = try dump(NFT_MSG_GETTABLE, flags: 0) { nlh in
                let object = TableObject(name: self.table)
                object.build(nlh)
            }
            return true
        } catch  where error.errno == ENOENT {
            return false
        }
    }

    /// nf_tables' generation id, which every committed transaction (anyone's, any table's) moves
    /// on: equal to the one after our last commit, nothing has changed since.
    public func generation() throws(NetlinkError) -> UInt32 {
        let replies = try dump(NFT_MSG_GETGEN, flags: 0) { _ in }
        for message in replies
        where message.type == UInt16((NFNL_SUBSYS_NFTABLES << 8) | Int32(NFT_MSG_NEWGEN.rawValue)) {
            if let id = message.attributes(after: 4)[UInt16(NFTA_GEN_ID.rawValue)]?.u32BigEndian { return id }
        }
        throw NetlinkError("nf_tables answered no generation id")
    }

    /// Every rule of our table (of one chain, when named) with its counter, in chain order.
    public func ruleCounters(chain: String? = nil) throws(NetlinkError) -> [RuleCounter] {
        let replies = try dump(NFT_MSG_GETRULE, flags: NLM_F_DUMP) { nlh in
            let r = nftnl_rule_alloc()!
            nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), self.table)
            if let chain { nftnl_rule_set_str(r, attr(NFTNL_RULE_CHAIN), chain) }
            nftnl_rule_set_u32(r, attr(NFTNL_RULE_FAMILY), UInt32(NFPROTO_INET))
            nftnl_rule_nlmsg_build_payload(nlh, r)
            nftnl_rule_free(r)
        }
        var out: [RuleCounter] = []
        for message in replies
        where message.type == UInt16((NFNL_SUBSYS_NFTABLES << 8) | Int32(NFT_MSG_NEWRULE.rawValue)) {
            let bytes = Array(message.data)
            bytes.withUnsafeBytes { raw in
                let nlh = raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)
                let rule = nftnl_rule_alloc()!
                defer { nftnl_rule_free(rule) }
                guard nftnl_rule_nlmsg_parse(nlh, rule) >= 0 else { return }
                var counter = RuleCounter(
                    chain: String(cString: nftnl_rule_get_str(rule, attr(NFTNL_RULE_CHAIN))),
                    handle: nftnl_rule_get_u64(rule, attr(NFTNL_RULE_HANDLE)), id: "", packets: 0, bytes: 0,
                    counted: false)
                var length: UInt32 = 0
                if nftnl_rule_is_set(rule, attr(NFTNL_RULE_USERDATA)),
                    let data = nftnl_rule_get_data(rule, attr(NFTNL_RULE_USERDATA), &length)
                {
                    counter.id =
                        RuleComment.decode(Array(UnsafeRawBufferPointer(start: data, count: Int(length)))) ?? ""
                }
                Self.readExpressions(rule, into: &counter)
                out.append(counter)
            }
        }
        return out
    }

    /// A rule's counter, log group and family from its expressions.
    private static func readExpressions(_ rule: OpaquePointer, into counter: inout RuleCounter) {
        let iterator = nftnl_expr_iter_create(rule)!
        defer { nftnl_expr_iter_destroy(iterator) }
        var nfproto = false
        while let e = nftnl_expr_iter_next(iterator) {
            switch String(cString: nftnl_expr_get_str(e, attr(NFTNL_EXPR_NAME))) {
            case "counter":
                counter.counted = true
                counter.packets = nftnl_expr_get_u64(e, attr(NFTNL_EXPR_CTR_PACKETS))
                counter.bytes = nftnl_expr_get_u64(e, attr(NFTNL_EXPR_CTR_BYTES))
            case "log" where nftnl_expr_is_set(e, attr(NFTNL_EXPR_LOG_GROUP)):
                counter.logGroup = nftnl_expr_get_u16(e, attr(NFTNL_EXPR_LOG_GROUP))
            // ip saddr / ip6 daddr …: a 4- or 16-byte load from the network header
            case "payload"
            where nftnl_expr_get_u32(e, attr(NFTNL_EXPR_PAYLOAD_BASE)) == NFT_PAYLOAD_NETWORK_HEADER.rawValue:
                switch nftnl_expr_get_u32(e, attr(NFTNL_EXPR_PAYLOAD_LEN)) {
                case 4: counter.family = counter.family ?? 4
                case 16: counter.family = counter.family ?? 6
                default: break
                }
            // meta nfproto ipv4|ipv6: the load, then the comparison with NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10)
            case "meta":
                nfproto = nftnl_expr_get_u32(e, attr(NFTNL_EXPR_META_KEY)) == NFT_META_NFPROTO.rawValue
                continue
            case "cmp" where nfproto:
                var length: UInt32 = 0
                if let data = nftnl_expr_get(e, attr(NFTNL_EXPR_CMP_DATA), &length), length == 1 {
                    switch data.load(as: UInt8.self) {
                    case UInt8(NFPROTO_IPV4): counter.family = 4
                    case UInt8(NFPROTO_IPV6): counter.family = 6
                    default: break
                    }
                }
            default: break
            }
            nfproto = false
        }
    }

    /// The per-element counters of the filter sets (grouped filters): one row per element, with
    /// its filter's id (the element comment) and the chain of the rule that uses the set.
    public func elementCounters() throws(NetlinkError) -> [RuleCounter] {
        var out: [RuleCounter] = []
        for name in try filterSetNames() { out += try elementCounters(ofSet: name) }
        return out
    }

    /// The table's counters as seeds for a replacement: every rule's and filter-set element's.
    public func counterSeeds() throws(NetlinkError) -> CounterSeeds {
        CounterSeeds(try ruleCounters() + elementCounters())
    }

    /// The per-element counters of one filter set.
    func elementCounters(ofSet name: String) throws(NetlinkError) -> [RuleCounter] {
        var out: [RuleCounter] = []
        let replies = try dump(NFT_MSG_GETSETELEM, flags: NLM_F_DUMP) { nlh in
            let set = nftnl_set_alloc()!
            nftnl_set_set_str(set, attr(NFTNL_SET_TABLE), self.table)
            nftnl_set_set_str(set, attr(NFTNL_SET_NAME), name)
            nftnl_set_set_u32(set, attr(NFTNL_SET_FAMILY), UInt32(NFPROTO_INET))
            nftnl_set_elems_nlmsg_build_payload(nlh, set)
            nftnl_set_free(set)
        }
        let chain = String(name.prefix { $0 != "_" })
        for message in replies
        where message.type == UInt16((NFNL_SUBSYS_NFTABLES << 8) | Int32(NFT_MSG_NEWSETELEM.rawValue)) {
            out += Self.elementCounters(message, chain: chain, setName: name)
        }
        return out
    }

    /// The names of the table's filter sets, sorted.
    private func filterSetNames() throws(NetlinkError) -> [String] {
        let setReplies = try dump(NFT_MSG_GETSET, flags: NLM_F_DUMP) { nlh in
            let set = nftnl_set_alloc()!
            nftnl_set_set_str(set, attr(NFTNL_SET_TABLE), self.table)
            nftnl_set_set_u32(set, attr(NFTNL_SET_FAMILY), UInt32(NFPROTO_INET))
            nftnl_set_nlmsg_build_payload(nlh, set)
            nftnl_set_free(set)
        }
        var names: [String] = []
        for message in setReplies
        where message.type == UInt16((NFNL_SUBSYS_NFTABLES << 8) | Int32(NFT_MSG_NEWSET.rawValue)) {
            Array(message.data).withUnsafeBytes { raw in
                let set = nftnl_set_alloc()!
                defer { nftnl_set_free(set) }
                guard nftnl_set_nlmsg_parse(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), set) >= 0 else {
                    return
                }
                let name = String(cString: nftnl_set_get_str(set, attr(NFTNL_SET_NAME)))
                if SetNaming.isFilterSet(name) { names.append(name) }
            }
        }
        return names.sorted()
    }

    /// The counters of each element of one NEWSETELEM reply that carries its filter's id.
    private static func elementCounters(
        _ message: NetlinkMessages.Message, chain: String, setName: String
    )
        -> [RuleCounter]
    {
        Array(message.data).withUnsafeBytes { raw in
            let set = nftnl_set_alloc()!
            defer { nftnl_set_free(set) }
            guard nftnl_set_elems_nlmsg_parse(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), set) >= 0,
                let iterator = nftnl_set_elems_iter_create(set)
            else { return [] }
            defer { nftnl_set_elems_iter_destroy(iterator) }
            var out: [RuleCounter] = []
            while let element = nftnl_set_elems_iter_next(iterator) {
                var length: UInt32 = 0
                guard nftnl_set_elem_is_set(element, attr(NFTNL_SET_ELEM_USERDATA)),
                    let data = nftnl_set_elem_get(element, attr(NFTNL_SET_ELEM_USERDATA), &length),
                    let id = RuleComment.decode(Array(UnsafeRawBufferPointer(start: data, count: Int(length))))
                else { continue }
                final class Totals { var packets: UInt64 = 0, bytes: UInt64 = 0 }
                let totals = Totals()
                _ = nftnl_set_elem_expr_foreach(
                    element,
                    { expr, context in
                        let totals = Unmanaged<Totals>.fromOpaque(context!).takeUnretainedValue()
                        if String(cString: nftnl_expr_get_str(expr, attr(NFTNL_EXPR_NAME))) == "counter" {
                            totals.packets += nftnl_expr_get_u64(expr, attr(NFTNL_EXPR_CTR_PACKETS))
                            totals.bytes += nftnl_expr_get_u64(expr, attr(NFTNL_EXPR_CTR_BYTES))
                        }
                        return 0
                    }, Unmanaged.passUnretained(totals).toOpaque())
                out.append(
                    RuleCounter(
                        chain: chain, handle: 0, id: id, packets: totals.packets, bytes: totals.bytes, set: setName))
            }
            return out
        }
    }

    /// Sends one GET request and collects the replies until NLMSG_DONE (or the single reply).
    private func dump(
        _ type: nf_tables_msg_types, flags: Int32, payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) throws(NetlinkError) -> [NetlinkMessages.Message] {
        let seq = numbers.next()
        var request = [UInt8](repeating: 0, count: 4096)
        let length = request.withUnsafeMutableBytes { raw -> Int in
            let nlh = nftnl_nlmsg_build_hdr(
                raw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt16(type.rawValue), familyInet,
                UInt16(flags | NLM_F_ACK), seq)!
            payload(nlh)
            return Int(nlh.pointee.nlmsg_len)
        }
        try transport.send(Array(request[0..<length]))
        var replies: [NetlinkMessages.Message] = []
        while true {
            guard let datagram = try transport.receive(wait: true) else { continue }
            for message in NetlinkMessages(bytes: datagram) where message.sequence == seq {
                if message.type == UInt16(NLMSG_DONE) { return replies }
                if message.type == UInt16(NLMSG_ERROR) {
                    guard let reply = ErrorReply(message) else {
                        throw NetlinkError("a truncated error reply from nf_tables")
                    }
                    if reply.error == 0 { return replies }
                    throw NetlinkError.system("reading table inet \(table)", reply.error)
                }
                replies.append(message)
                if flags & NLM_F_DUMP == 0 { continue }
            }
        }
    }
}
