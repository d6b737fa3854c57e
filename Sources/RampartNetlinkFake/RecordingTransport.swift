import CNetfilter
import Glibc
import RampartNetlink

/// A netlink transport that answers as nf_tables does, without a kernel: every batch is recorded
/// (as `nft --debug=netlink` prints it, rendered by libnftnl from the bytes sent), acknowledged,
/// and applied to a small model of table `inet rampart` so read-backs (table exists, rule dump)
/// answer from what was committed. For tests of everything above the client; never shipped.
public final class RecordingTransport: NetlinkTransport, @unchecked Sendable {
    /// One committed (or rejected) transaction: each message as text.
    public struct Transaction: Sendable, Equatable {
        public var messages: [String]
        public var committed: Bool

        /// Only set-element messages (a set-only update): no table, chain or rule.
        public var isSetOnly: Bool {
            messages.allSatisfy {
                $0.hasPrefix("flush set") || $0.hasPrefix("add element") || $0.hasPrefix("delete element")
            }
        }
        /// A delta: no table replaced (rules and elements added or deleted in place).
        public var isDelta: Bool { !messages.contains { $0.hasPrefix("delete table") || $0.hasPrefix("add table") } }
        public var text: String { messages.joined(separator: "\n") }
    }

    public let portID: UInt32
    private let lock = NSLockLite()
    private var queue: [[UInt8]] = []
    private var _transactions: [Transaction] = []
    private var tableExists = false
    /// The rules in force, in chain order, each as the NEWRULE message that made it with the handle
    /// the model gave it.
    private var rules: [(chain: String, handle: UInt64, message: [UInt8])] = []
    private var nextHandle: UInt64 = 1
    private var rejectNext: Int32?
    private var _ruleDumps = 0
    /// How many rule dumps (counter reads) were asked for.
    public var ruleDumps: Int { lock.with { _ruleDumps } }
    /// nf_tables' generation id: one more with every committed transaction, ours or another's.
    private var generation: UInt32 = 1

    public init(portID: UInt32 = 4242) {
        self.portID = portID
    }

    /// Every transaction sent so far, oldest first.
    public var transactions: [Transaction] { lock.with { _transactions } }

    /// Whether the modelled table exists now.
    public var hasTable: Bool { lock.with { tableExists } }

    /// The next transaction is refused with `errno` on its first message, as the kernel refuses
    /// one (nothing of it is applied).
    public func rejectNextTransaction(errno: Int32) { lock.with { rejectNext = errno } }

    /// Someone else deleted the table (`nft delete table inet rampart`).
    public func deleteTableExternally() {
        lock.with {
            tableExists = false
            rules = []
            generation &+= 1
        }
    }

    /// Another process committed a transaction (to any table): the generation moves on.
    public func commitExternally() { lock.with { generation &+= 1 } }

    /// Every counter of the rules whose comment is `id` now reads `packets` (traffic the kernel
    /// counted), as a rule dump will show it.
    public func setCounters(ofRule id: String, packets: UInt64) {
        lock.with {
            rules = rules.map { entry in
                var entry = entry
                let message = entry.message
                entry.message = message.withUnsafeBytes { raw -> [UInt8] in
                    let rule = nftnl_rule_alloc()!
                    defer { nftnl_rule_free(rule) }
                    guard nftnl_rule_nlmsg_parse(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), rule) >= 0
                    else { return message }
                    var length: UInt32 = 0
                    guard nftnl_rule_is_set(rule, UInt16(NFTNL_RULE_USERDATA.rawValue)),
                        let data = nftnl_rule_get_data(rule, UInt16(NFTNL_RULE_USERDATA.rawValue), &length),
                        RuleComment.decode(Array(UnsafeRawBufferPointer(start: data, count: Int(length)))) == id
                    else { return message }
                    let iterator = nftnl_expr_iter_create(rule)!
                    defer { nftnl_expr_iter_destroy(iterator) }
                    while let e = nftnl_expr_iter_next(iterator) {
                        guard String(cString: nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME))) == "counter" else {
                            continue
                        }
                        nftnl_expr_set_u64(e, UInt16(NFTNL_EXPR_CTR_PACKETS), packets)
                    }
                    var buffer = [UInt8](repeating: 0, count: message.count + 64)
                    return buffer.withUnsafeMutableBytes { out -> [UInt8] in
                        let old = raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self).pointee
                        let nlh = nftnl_nlmsg_build_hdr(
                            out.baseAddress!.assumingMemoryBound(to: CChar.self), UInt16(old.nlmsg_type & 0xff),
                            UInt16(NFPROTO_INET), old.nlmsg_flags, old.nlmsg_seq)!
                        nlh.pointee.nlmsg_type = old.nlmsg_type
                        nftnl_rule_nlmsg_build_payload(nlh, rule)
                        return Array(out.prefix(Int(nlh.pointee.nlmsg_len)))
                    }
                }
                return entry
            }
        }
    }

    public func sizeBuffers(bytes: Int, messages: Int) {}

    public func send(_ bytes: [UInt8]) throws(NetlinkError) {
        lock.with {
            let messages = Array(NetlinkMessages(bytes: bytes))
            guard let first = messages.first else { return }
            if first.type == UInt16(NLMSG_MIN_TYPE) {
                batch(messages)
            } else {
                request(first)
            }
        }
    }

    public func receive(wait: Bool) throws(NetlinkError) -> [UInt8]? {
        let next: [UInt8]? = lock.with { queue.isEmpty ? nil : queue.removeFirst() }
        if next == nil && wait {
            throw NetlinkError("recording transport: nothing to receive (the request got no reply)", errno: EAGAIN)
        }
        return next
    }

    private func batch(_ messages: [NetlinkMessages.Message]) {
        var texts: [String] = []
        for message in messages.dropFirst() where message.type != UInt16(NLMSG_MIN_TYPE + 1) {
            texts.append(Self.render(message))
        }
        if let code = rejectNext, messages.count > 1 {
            rejectNext = nil
            _transactions.append(Transaction(messages: texts, committed: false))
            queue.append(error(code, for: messages[1]))
            return
        }
        for message in messages {
            switch Int32(message.type & 0xff) {
            case Int32(NFT_MSG_NEWTABLE.rawValue) where message.type >> 8 == UInt16(NFNL_SUBSYS_NFTABLES):
                tableExists = true
            case Int32(NFT_MSG_DELTABLE.rawValue) where message.type >> 8 == UInt16(NFNL_SUBSYS_NFTABLES):
                tableExists = false
                rules = []
            case Int32(NFT_MSG_NEWRULE.rawValue) where message.type >> 8 == UInt16(NFNL_SUBSYS_NFTABLES):
                addRule(message)
            case Int32(NFT_MSG_DELRULE.rawValue) where message.type >> 8 == UInt16(NFNL_SUBSYS_NFTABLES):
                let handle = Self.parseRule(Array(message.data)).handle
                rules.removeAll { $0.handle == handle }
            default: break
            }
            if message.flags & UInt16(NLM_F_ACK) != 0 { queue.append(error(0, for: message)) }
        }
        _transactions.append(Transaction(messages: texts, committed: true))
        generation &+= 1
    }

    private func request(_ message: NetlinkMessages.Message) {
        let type = Int32(message.type & 0xff)
        if type == Int32(NFT_MSG_GETGEN.rawValue) {
            // NEWGEN: nfgenmsg, then NFTA_GEN_ID (big-endian), and the ACK.
            let id = withUnsafeBytes(of: generation.bigEndian) { Array($0) }
            let attribute: [UInt8] = [8, 0, UInt8(NFTA_GEN_ID.rawValue), 0] + id
            let newgen = Wire.message(
                type: UInt16(NFNL_SUBSYS_NFTABLES << 8) | UInt16(NFT_MSG_NEWGEN.rawValue), flags: 0,
                sequence: message.sequence, [0, 0, 0, 0] + attribute)
            queue.append(newgen + error(0, for: message))
        } else if type == Int32(NFT_MSG_GETTABLE.rawValue) {
            queue.append(tableExists ? error(0, for: message) : error(ENOENT, for: message))
        } else if type == Int32(NFT_MSG_GETSET.rawValue) || type == Int32(NFT_MSG_GETSETELEM.rawValue) {
            // Sets are not modelled: an empty dump.
            queue.append(
                Wire.message(
                    type: UInt16(NLMSG_DONE), flags: UInt16(NLM_F_MULTI), sequence: message.sequence, [0, 0, 0, 0]))
        } else if type == Int32(NFT_MSG_GETRULE.rawValue) && !tableExists {
            queue.append(error(ENOENT, for: message))
        } else if type == Int32(NFT_MSG_GETRULE.rawValue) {
            _ruleDumps += 1
            let chain = Self.parseRule(Array(message.data)).chain
            var datagram: [UInt8] = []
            for rule in rules where chain == nil || rule.chain == chain {
                var copy = rule.message
                for (i, b) in Wire.le32(message.sequence).enumerated() { copy[8 + i] = b }
                datagram += copy
            }
            datagram += Wire.message(
                type: UInt16(NLMSG_DONE), flags: UInt16(NLM_F_MULTI), sequence: message.sequence, [0, 0, 0, 0])
            queue.append(datagram)
        } else {
            queue.append(error(EOPNOTSUPP, for: message))
        }
    }

    /// A NEWRULE: numbered, and placed as nf_tables places it — after (NLM_F_APPEND) or before the
    /// rule NFTA_RULE_POSITION names, else at the chain's end (APPEND) or head.
    private func addRule(_ message: NetlinkMessages.Message) {
        let bytes = Array(message.data)
        let parsed = Self.parseRule(bytes)
        let handle = nextHandle
        nextHandle += 1
        let stored = bytes.withUnsafeBytes { raw -> [UInt8] in
            let rule = nftnl_rule_alloc()!
            defer { nftnl_rule_free(rule) }
            _ = nftnl_rule_nlmsg_parse(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), rule)
            nftnl_rule_unset(rule, UInt16(NFTNL_RULE_POSITION.rawValue))
            nftnl_rule_set_u64(rule, UInt16(NFTNL_RULE_HANDLE.rawValue), handle)
            var buffer = [UInt8](repeating: 0, count: bytes.count + 64)
            return buffer.withUnsafeMutableBytes { out -> [UInt8] in
                let nlh = nftnl_nlmsg_build_hdr(
                    out.baseAddress!.assumingMemoryBound(to: CChar.self), UInt16(NFT_MSG_NEWRULE.rawValue),
                    UInt16(NFPROTO_INET), 0, message.sequence)!
                nftnl_rule_nlmsg_build_payload(nlh, rule)
                return Array(out.prefix(Int(nlh.pointee.nlmsg_len)))
            }
        }
        let entry = (chain: parsed.chain ?? "", handle: handle, message: stored)
        let append = message.flags & UInt16(NLM_F_APPEND) != 0
        if let position = parsed.position, let at = rules.firstIndex(where: { $0.handle == position }) {
            rules.insert(entry, at: append ? at + 1 : at)
        } else if append {
            rules.append(entry)
        } else {
            rules.insert(entry, at: rules.firstIndex { $0.chain == entry.chain } ?? rules.count)
        }
    }

    /// A rule message's chain, handle and position, where it has them.
    static func parseRule(_ bytes: [UInt8]) -> (chain: String?, handle: UInt64?, position: UInt64?) {
        bytes.withUnsafeBytes { raw in
            let rule = nftnl_rule_alloc()!
            defer { nftnl_rule_free(rule) }
            guard nftnl_rule_nlmsg_parse(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), rule) >= 0 else {
                return (nil, nil, nil)
            }
            func u64(_ a: nftnl_rule_attr) -> UInt64? {
                nftnl_rule_is_set(rule, UInt16(a.rawValue)) ? nftnl_rule_get_u64(rule, UInt16(a.rawValue)) : nil
            }
            let chain =
                nftnl_rule_is_set(rule, UInt16(NFTNL_RULE_CHAIN.rawValue))
                ? String(cString: nftnl_rule_get_str(rule, UInt16(NFTNL_RULE_CHAIN.rawValue))) : nil
            return (chain, u64(NFTNL_RULE_HANDLE), u64(NFTNL_RULE_POSITION))
        }
    }

    private func error(_ code: Int32, for message: NetlinkMessages.Message) -> [UInt8] {
        // struct nlmsgerr: the (negative) errno, then the original header (capped).
        let header = Array(message.data.prefix(16))
        return Wire.message(
            type: UInt16(NLMSG_ERROR), flags: 0x100, sequence: message.sequence,
            Wire.le32(UInt32(bitPattern: -code)) + header)
    }

    /// One message as nft's debug output shows it: what it does, then libnftnl's rendering.
    static func render(_ message: NetlinkMessages.Message) -> String {
        let bytes = Array(message.data)
        let type = Int32(message.type & 0xff)
        return bytes.withUnsafeBytes { raw -> String in
            let nlh = raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)
            var buffer = [CChar](repeating: 0, count: 64 * 1024)
            func text(_ print: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> String {
                _ = print(&buffer, buffer.count)
                return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    .trimmingTrailingBlanks()
            }
            switch type {
            case Int32(NFT_MSG_NEWTABLE.rawValue), Int32(NFT_MSG_DELTABLE.rawValue):
                let t = nftnl_table_alloc()!
                defer { nftnl_table_free(t) }
                _ = nftnl_table_nlmsg_parse(nlh, t)
                let name = String(cString: nftnl_table_get_str(t, UInt16(NFTNL_TABLE_NAME.rawValue)))
                return (type == Int32(NFT_MSG_NEWTABLE.rawValue) ? "add table inet " : "delete table inet ") + name
            case Int32(NFT_MSG_NEWCHAIN.rawValue):
                let c = nftnl_chain_alloc()!
                defer { nftnl_chain_free(c) }
                _ = nftnl_chain_nlmsg_parse(nlh, c)
                return "add chain " + text { nftnl_chain_snprintf($0, $1, c, 0, 0) }
            case Int32(NFT_MSG_NEWSET.rawValue):
                let s = nftnl_set_alloc()!
                defer { nftnl_set_free(s) }
                _ = nftnl_set_nlmsg_parse(nlh, s)
                return "add set " + text { nftnl_set_snprintf($0, $1, s, 0, 0) }
            case Int32(NFT_MSG_NEWSETELEM.rawValue), Int32(NFT_MSG_DELSETELEM.rawValue):
                let s = nftnl_set_alloc()!
                defer { nftnl_set_free(s) }
                _ = nftnl_set_elems_nlmsg_parse(nlh, s)
                if type == Int32(NFT_MSG_DELSETELEM.rawValue) {
                    let name = String(cString: nftnl_set_get_str(s, UInt16(NFTNL_SET_NAME.rawValue)))
                    guard
                        nftnl_set_elems_iter_create(s).map({ i in
                            defer { nftnl_set_elems_iter_destroy(i) }
                            return nftnl_set_elems_iter_next(i) != nil
                        }) == true
                    else { return "flush set " + name }
                    return "delete element " + text { nftnl_set_snprintf($0, $1, s, 0, 0) }
                }
                return "add element " + text { nftnl_set_snprintf($0, $1, s, 0, 0) }
            case Int32(NFT_MSG_NEWRULE.rawValue):
                let r = nftnl_rule_alloc()!
                defer { nftnl_rule_free(r) }
                _ = nftnl_rule_nlmsg_parse(nlh, r)
                return "add rule " + text { nftnl_rule_snprintf($0, $1, r, 0, 0) }
            case Int32(NFT_MSG_DELRULE.rawValue), Int32(NFT_MSG_DELSET.rawValue):
                return renderDeletion(type, nlh)
            default:
                return "message type \(message.type)"
            }
        }
    }

    /// `delete rule CHAIN handle H`, `delete set NAME`.
    static func renderDeletion(_ type: Int32, _ nlh: UnsafePointer<nlmsghdr>) -> String {
        switch type {
        case Int32(NFT_MSG_DELRULE.rawValue):
            let r = nftnl_rule_alloc()!
            defer { nftnl_rule_free(r) }
            _ = nftnl_rule_nlmsg_parse(nlh, r)
            return "delete rule "
                + String(cString: nftnl_rule_get_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue)))
                + " handle \(nftnl_rule_get_u64(r, UInt16(NFTNL_RULE_HANDLE.rawValue)))"
        case Int32(NFT_MSG_DELSET.rawValue):
            let s = nftnl_set_alloc()!
            defer { nftnl_set_free(s) }
            _ = nftnl_set_nlmsg_parse(nlh, s)
            return "delete set " + String(cString: nftnl_set_get_str(s, UInt16(NFTNL_SET_NAME.rawValue)))
        default:
            return "message type \(type)"
        }
    }
}

extension String {
    func trimmingTrailingBlanks() -> String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in String(line.reversed().drop { $0 == " " || $0 == "\t" }.reversed()) }
            .joined(separator: "\n").trimmingCharacters()
    }

    private func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.last == "\n" { s = s.dropLast() }
        return String(s)
    }
}

/// A pthread mutex: this target imports no Foundation.
final class NSLockLite: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func with<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
