import CNetfilter

/// One nfnetlink batch being built: BATCH_BEGIN, the messages, BATCH_END (the last message and
/// BATCH_END with NLM_F_ACK, so a committed transaction is confirmed on every kernel). Messages are laid end to end in one buffer and sent with
/// a single sendmsg; every message keeps its sequence number, place and a label so an error can
/// be traced back to the rule, set or chain that caused it.
final class Batch {
    struct Entry {
        var sequence: UInt32
        var offset: Int
        var length: Int
        var label: String
        /// For rules: the instructions, to name the one the kernel rejected.
        var expressions: [Expr]?
    }

    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []
    private(set) var endSequence: UInt32 = 0
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)
    private let numbers: SequenceNumbers

    /// Numbered from `numbers`: a batch is built (and tested) without a socket.
    init(numbers: SequenceNumbers) {
        self.numbers = numbers
        bytes.reserveCapacity(64 * 1024)
        let seq = numbers.next()
        append(seq, label: "batch begin", expressions: nil) { nftnl_batch_begin($0, seq) }
    }

    var messageCount: Int { entries.count }

    /// Adds one nf_tables message; `payload` fills it after the header.
    func add(
        _ type: nf_tables_msg_types, flags: Int32, label: String, expressions: [Expr]? = nil,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) {
        let seq = numbers.next()
        append(seq, label: label, expressions: expressions) { buffer in
            let nlh = nftnl_nlmsg_build_hdr(buffer, UInt16(type.rawValue), familyInet, UInt16(flags), seq)!
            payload(nlh)
            return nlh
        }
    }

    /// The last message before BATCH_END, asked for an acknowledgement too: kernels before 6.10
    /// never acknowledge BATCH_END itself (Debian 12's 6.1 among them). Its ACK is delivered only
    /// after the commit, and a failed commit is reported as an error on BATCH_BEGIN.
    private(set) var lastSequence: UInt32 = 0

    func finish() {
        if let last = entries.last, entries.count > 1 {
            lastSequence = last.sequence
            // nlmsghdr.nlmsg_flags: bytes 6–7, host order.
            let flags = UInt16(bytes[last.offset + 6]) | UInt16(bytes[last.offset + 7]) << 8 | UInt16(NLM_F_ACK)
            bytes[last.offset + 6] = UInt8(flags & 0xff)
            bytes[last.offset + 7] = UInt8(flags >> 8)
        }
        let seq = numbers.next()
        endSequence = seq
        append(seq, label: "batch end", expressions: nil) { buffer in
            let nlh = nftnl_batch_end(buffer, seq)!
            nlh.pointee.nlmsg_flags |= UInt16(NLM_F_ACK)
            return nlh
        }
    }

    private func append(
        _ seq: UInt32, label: String, expressions: [Expr]?,
        _ build: (UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<nlmsghdr>
    ) {
        let length = scratch.withUnsafeMutableBytes { raw -> Int in
            let base = raw.baseAddress!
            memset(base, 0, 64)
            let nlh = build(base.assumingMemoryBound(to: CChar.self))
            return Int(nlh.pointee.nlmsg_len)
        }
        entries.append(
            Entry(sequence: seq, offset: bytes.count, length: length, label: label, expressions: expressions))
        bytes.append(contentsOf: scratch[0..<length])
    }

    func entry(for sequence: UInt32) -> Entry? {
        // Sequence numbers rise by one per message, so the index is a subtraction.
        guard let first = entries.first else { return nil }
        let index = Int(sequence &- first.sequence)
        guard index >= 0, index < entries.count, entries[index].sequence == sequence else {
            return entries.first { $0.sequence == sequence }
        }
        return entries[index]
    }

    /// Names what a kernel error offset points at: for a rule, the expression.
    func describe(_ entry: Entry, offset: Int?) -> String {
        guard let offset, offset >= 20, offset < entry.length else { return entry.label }
        // The attributes start after the nlmsghdr (16) and nfgenmsg (4).
        let message = bytes[entry.offset..<(entry.offset + entry.length)]
        let path = NetlinkAttributes(message.dropFirst(20)).path(to: entry.offset + offset)
        // NFTA_RULE_EXPRESSIONS (4) / NFTA_LIST_ELEM: the n-th instruction of the rule.
        if let expressions = entry.expressions, path.count >= 2, path[0].type == 4, path[1].index < expressions.count {
            return "\(entry.label), expression \(path[1].index + 1) \(expressions[path[1].index].debugText)"
        }
        return entry.label + (path.isEmpty ? "" : ", attribute " + path.map { "\($0.type)" }.joined(separator: "/"))
    }
}
