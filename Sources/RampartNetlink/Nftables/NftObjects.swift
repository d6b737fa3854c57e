import CNetfilter
import RampartCompiler
import RampartPolicy

/// libnftnl attribute numbers come as Int (anonymous enums) or as imported enum structs;
/// the setters take UInt16. One conversion each, instead of casts everywhere.
@inline(__always) func attr(_ v: Int) -> UInt16 { UInt16(v) }
@inline(__always) func attr<T: RawRepresentable>(_ v: T) -> UInt16 where T.RawValue: BinaryInteger {
    UInt16(v.rawValue)
}

let familyInet = UInt16(NFPROTO_INET)

/// An `nftnl_table`, owned and freed here.
final class TableObject {
    fileprivate let handle: OpaquePointer

    init(name: String) {
        handle = nftnl_table_alloc()
        nftnl_table_set_str(handle, attr(NFTNL_TABLE_NAME), name)
        nftnl_table_set_u32(handle, attr(NFTNL_TABLE_FAMILY), UInt32(NFPROTO_INET))
    }

    deinit { nftnl_table_free(handle) }

    /// No flags: the table is not owned by our socket, so it outlives the process that made it
    /// and coexists with `nft flush ruleset` scripts (see docs/kernel-backend.md).
    func setFlags(_ flags: UInt32) { nftnl_table_set_u32(handle, attr(NFTNL_TABLE_FLAGS), flags) }

    func build(_ nlh: UnsafeMutablePointer<nlmsghdr>) { nftnl_table_nlmsg_build_payload(nlh, handle) }
}

/// An `nftnl_chain` for one base chain of the ruleset.
final class ChainObject {
    fileprivate let handle: OpaquePointer

    init(table: String, chain: Chain) {
        handle = nftnl_chain_alloc()
        nftnl_chain_set_str(handle, attr(NFTNL_CHAIN_TABLE), table)
        nftnl_chain_set_str(handle, attr(NFTNL_CHAIN_NAME), chain.name)
        nftnl_chain_set_u32(handle, attr(NFTNL_CHAIN_FAMILY), UInt32(NFPROTO_INET))
        // A regular chain (`chain defrag {`) has neither type, hook, priority nor policy.
        guard let hook = chain.hook else { return }
        // type filter hook input|output priority P; policy accept|drop;
        nftnl_chain_set_str(handle, attr(NFTNL_CHAIN_TYPE), "filter")
        nftnl_chain_set_u32(
            handle, attr(NFTNL_CHAIN_HOOKNUM),
            hook == .input ? UInt32(NF_INET_LOCAL_IN.rawValue) : UInt32(NF_INET_LOCAL_OUT.rawValue))
        nftnl_chain_set_s32(handle, attr(NFTNL_CHAIN_PRIO), Int32(chain.priority))
        nftnl_chain_set_u32(
            handle, attr(NFTNL_CHAIN_POLICY), chain.policy == .accept ? UInt32(NF_ACCEPT) : UInt32(NF_DROP))
    }

    deinit { nftnl_chain_free(handle) }

    func build(_ nlh: UnsafeMutablePointer<nlmsghdr>) { nftnl_chain_nlmsg_build_payload(nlh, handle) }
}

/// An `nftnl_set`: a named interval set of addresses, or a filter set (a hash set); or a bare
/// handle naming one, carrying elements.
final class SetObject {
    fileprivate let handle: OpaquePointer

    init(table: String, name: String, family: IPAddress.Family, id: UInt32) {
        handle = nftnl_set_alloc()
        nftnl_set_set_str(handle, attr(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(handle, attr(NFTNL_SET_NAME), name)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FAMILY), UInt32(NFPROTO_INET))
        // set NAME { type ipv4_addr|ipv6_addr; flags interval; }
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FLAGS), UInt32(NFT_SET_INTERVAL.rawValue))
        nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_TYPE), family == .ipv4 ? 7 : 8)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_LEN), family == .ipv4 ? 4 : 16)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_ID), id)
        // nft's user data: the key is big-endian (BYTEORDER_BIG_ENDIAN = 2), so `nft list` prints addresses.
        var udata: [UInt8] =
            [UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4] + withUnsafeBytes(of: UInt32(2)) { Array($0) }
        _ = nftnl_set_set_data(handle, attr(NFTNL_SET_USERDATA), &udata, UInt32(udata.count))
    }

    /// A port list: set NAME { type inet_service; flags interval; }
    init(table: String, portSet name: String, id: UInt32) {
        handle = nftnl_set_alloc()
        nftnl_set_set_str(handle, attr(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(handle, attr(NFTNL_SET_NAME), name)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FAMILY), UInt32(NFPROTO_INET))
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FLAGS), UInt32(NFT_SET_INTERVAL.rawValue))
        nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_TYPE), 13)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_LEN), 2)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_ID), id)
        // Big-endian keys (BYTEORDER_BIG_ENDIAN = 2), so `nft list` prints port numbers.
        var udata: [UInt8] =
            [UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4] + withUnsafeBytes(of: UInt32(2)) { Array($0) }
        _ = nftnl_set_set_data(handle, attr(NFTNL_SET_USERDATA), &udata, UInt32(udata.count))
    }

    /// The hash set of a run of grouped filters; every element counts its own packets.
    init(table: String, filterSet set: FilterSet, id: UInt32) {
        handle = nftnl_set_alloc()
        nftnl_set_set_str(handle, attr(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(handle, attr(NFTNL_SET_NAME), set.name)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FAMILY), UInt32(NFPROTO_INET))
        // set NAME { type ipv4_addr . inet_service; counter; }: no flags (a hash set of exact keys)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FLAGS), 0)
        // nft's datatype ids: ipv4_addr 7, ipv6_addr 8, inet_service 13; a concatenation is
        // (first << 6) | second, and each field takes a whole number of 32-bit registers.
        let addressType: UInt32? = set.key.address.map { $0.family == .ipv4 ? 7 : 8 }
        let addressLength: UInt32 = set.key.address.map { $0.family == .ipv4 ? 4 : 16 } ?? 0
        var udata: [UInt8]
        switch (addressType, set.key.port != nil) {
        case (let a?, true):
            nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_TYPE), a << 6 | 13)
            nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_LEN), addressLength + 4)
            // nft's user data for a concatenated type: key byte order 0 (mixed), then a key
            // "typeof" of an empty concatenation (expression type 13) that `nft list` reads back.
            udata = [
                UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4, 0, 0, 0, 0,
                UInt8(NFTNL_UDATA_SET_KEY_TYPEOF.rawValue), 8, 0, 4, 13, 0, 0, 0, 1, 0
            ]
        case (let a?, false):
            nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_TYPE), a)
            nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_LEN), addressLength)
            udata = [UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4] + withUnsafeBytes(of: UInt32(2)) { Array($0) }
        case (nil, _):
            nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_TYPE), 13)
            nftnl_set_set_u32(handle, attr(NFTNL_SET_KEY_LEN), 2)
            udata = [UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4] + withUnsafeBytes(of: UInt32(2)) { Array($0) }
        }
        nftnl_set_set_u32(handle, attr(NFTNL_SET_ID), id)
        _ = nftnl_set_set_data(handle, attr(NFTNL_SET_USERDATA), &udata, UInt32(udata.count))
        // set NAME { …; counter; }: the kernel gives every element a counter of its own.
        nftnl_set_add_expr(handle, nftnl_expr_alloc("counter"))
    }

    /// A filter set element's key: the address, then the port, each padded to 32 bits when
    /// concatenated (a lone port is 2 bytes).
    static func key(_ e: FilterSet.Element, _ key: FilterSet.Key) -> [UInt8] {
        var out: [UInt8] = e.address.map(Linearizer.bytes) ?? []
        if let port = e.port { out += Linearizer.be16(port) + (key.address == nil ? [] : [0, 0]) }
        return out
    }

    /// A bare set handle naming an existing set (for element messages).
    init(table: String, name: String, id: UInt32? = nil) {
        handle = nftnl_set_alloc()
        nftnl_set_set_str(handle, attr(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(handle, attr(NFTNL_SET_NAME), name)
        nftnl_set_set_u32(handle, attr(NFTNL_SET_FAMILY), UInt32(NFPROTO_INET))
        if let id { nftnl_set_set_u32(handle, attr(NFTNL_SET_ID), id) }
    }

    deinit { nftnl_set_free(handle) }

    /// `comment`: the element's comment (a filter set's start elements carry their filter's id);
    /// `seed`: where its counter starts (the count of the filter's element or rule it replaces).
    func add(key: [UInt8], end: Bool, comment: String? = nil, seed: CounterSeeds.Counts? = nil) {
        guard let element = nftnl_set_elem_alloc() else { return }
        var key = key
        _ = nftnl_set_elem_set(element, attr(NFTNL_SET_ELEM_KEY), &key, UInt32(key.count))
        if end {
            nftnl_set_elem_set_u32(element, attr(NFTNL_SET_ELEM_FLAGS), UInt32(NFT_SET_ELEM_INTERVAL_END.rawValue))
        }
        if let comment {
            // elements = { ADDRESS comment "F12" }: the same user data as a rule comment.
            var udata = RuleComment.encode(comment)
            _ = nftnl_set_elem_set(element, attr(NFTNL_SET_ELEM_USERDATA), &udata, UInt32(udata.count))
        }
        if let seed {
            // elements = { KEY counter packets P bytes B comment "F12" }
            let counter = nftnl_expr_alloc("counter")!
            nftnl_expr_set_u64(counter, attr(NFTNL_EXPR_CTR_PACKETS), seed.packets)
            nftnl_expr_set_u64(counter, attr(NFTNL_EXPR_CTR_BYTES), seed.bytes)
            nftnl_set_elem_add_expr(element, counter)
        }
        nftnl_set_elem_add(handle, element)
    }

    func build(_ nlh: UnsafeMutablePointer<nlmsghdr>) { nftnl_set_nlmsg_build_payload(nlh, handle) }

    func buildElements(_ nlh: UnsafeMutablePointer<nlmsghdr>) { nftnl_set_elems_nlmsg_build_payload(nlh, handle) }
}

/// An `nftnl_rule` built from linearized expressions, with the rule id as its comment.
final class RuleObject {
    fileprivate let handle: OpaquePointer

    /// `position`: the handle of the rule in force this one goes after (NLM_F_APPEND) or before.
    /// `seed`: where the rule's counter starts.
    init(
        table: String, chain: String, comment: String, expressions: [Expr], position: UInt64? = nil,
        seed: CounterSeeds.Counts? = nil
    ) {
        handle = nftnl_rule_alloc()
        nftnl_rule_set_str(handle, attr(NFTNL_RULE_TABLE), table)
        nftnl_rule_set_str(handle, attr(NFTNL_RULE_CHAIN), chain)
        nftnl_rule_set_u32(handle, attr(NFTNL_RULE_FAMILY), UInt32(NFPROTO_INET))
        if let position { nftnl_rule_set_u64(handle, attr(NFTNL_RULE_POSITION), position) }
        for e in expressions {
            let x = RuleObject.make(e)
            if case .counter = e, let seed {
                // counter packets P bytes B
                nftnl_expr_set_u64(x, attr(NFTNL_EXPR_CTR_PACKETS), seed.packets)
                nftnl_expr_set_u64(x, attr(NFTNL_EXPR_CTR_BYTES), seed.bytes)
            }
            nftnl_rule_add_expr(handle, x)
        }
        // comment "ID": user data TLV type NFTNL_UDATA_RULE_COMMENT (0), NUL-terminated.
        var udata = RuleComment.encode(comment)
        _ = nftnl_rule_set_data(handle, attr(NFTNL_RULE_USERDATA), &udata, UInt32(udata.count))
    }

    /// A rule in force, named by its handle (for DELRULE).
    init(table: String, chain: String, handle ruleHandle: UInt64) {
        handle = nftnl_rule_alloc()
        nftnl_rule_set_str(handle, attr(NFTNL_RULE_TABLE), table)
        nftnl_rule_set_str(handle, attr(NFTNL_RULE_CHAIN), chain)
        nftnl_rule_set_u32(handle, attr(NFTNL_RULE_FAMILY), UInt32(NFPROTO_INET))
        nftnl_rule_set_u64(handle, attr(NFTNL_RULE_HANDLE), ruleHandle)
    }

    deinit { nftnl_rule_free(handle) }

    func build(_ nlh: UnsafeMutablePointer<nlmsghdr>) { nftnl_rule_nlmsg_build_payload(nlh, handle) }

    /// Allocates the libnftnl expression for one instruction; the rule takes ownership.
    static func make(_ e: Expr) -> OpaquePointer {
        let x = nftnl_expr_alloc(e.kind)!
        if !setLoadOrCompare(x, e) { setOther(x, e) }
        return x
    }

    private static func data(_ x: OpaquePointer, _ type: Int, _ bytes: [UInt8]) {
        var b = bytes
        _ = nftnl_expr_set(x, attr(type), &b, UInt32(b.count))
    }

    /// meta, payload, bitwise, cmp, lookup, fib, byteorder: the expressions that load into or
    /// test register 1. False for any other.
    private static func setLoadOrCompare(_ x: OpaquePointer, _ e: Expr) -> Bool {
        let reg1 = UInt32(NFT_REG_1.rawValue)
        func data(_ type: Int, _ bytes: [UInt8]) { Self.data(x, type, bytes) }
        switch e {
        case .meta(let key):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_META_KEY), metaKey(key))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_META_DREG), reg1)
        case .payload(let base, let offset, let length, let register):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_DREG), register)
            nftnl_expr_set_u32(
                x, attr(NFTNL_EXPR_PAYLOAD_BASE),
                base == .network
                    ? UInt32(NFT_PAYLOAD_NETWORK_HEADER.rawValue) : UInt32(NFT_PAYLOAD_TRANSPORT_HEADER.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_LEN), length)
        case .bitwise(let mask, let xor):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BITWISE_SREG), reg1)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BITWISE_DREG), reg1)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
            data(NFTNL_EXPR_BITWISE_MASK, mask)
            data(NFTNL_EXPR_BITWISE_XOR, xor)
        case .cmp(let op, let bytes):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CMP_SREG), reg1)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CMP_OP), cmpOp(op))
            data(NFTNL_EXPR_CMP_DATA, bytes)
        case .lookup(let set, let id):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_LOOKUP_SREG), reg1)
            nftnl_expr_set_str(x, attr(NFTNL_EXPR_LOOKUP_SET), set)
            if id != 0 { nftnl_expr_set_u32(x, attr(NFTNL_EXPR_LOOKUP_SET_ID), id) }
        case .fibAddressType(let flags):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_FIB_DREG), reg1)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_FIB_RESULT), UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_FIB_FLAGS), flags)
        case .byteorderHton(let length, let size):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BYTEORDER_SREG), reg1)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BYTEORDER_DREG), reg1)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BYTEORDER_OP), UInt32(NFT_BYTEORDER_HTON.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BYTEORDER_LEN), length)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BYTEORDER_SIZE), size)
        default:
            return false
        }
        return true
    }

    /// ct, rt, counter, log, verdicts and immediates.
    private static func setOther(_ x: OpaquePointer, _ e: Expr) {
        let reg1 = UInt32(NFT_REG_1.rawValue)
        switch e {
        case .ctState:
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CT_KEY), UInt32(NFT_CT_STATE.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CT_DREG), reg1)
        case .rtIpsec:
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_RT_KEY), UInt32(NFT_RT_XFRM.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_RT_DREG), reg1)
        case .counter:
            nftnl_expr_set_u64(x, attr(NFTNL_EXPR_CTR_PACKETS), 0)
            nftnl_expr_set_u64(x, attr(NFTNL_EXPR_CTR_BYTES), 0)
        case .log(let prefix, let group):
            nftnl_expr_set_str(x, attr(NFTNL_EXPR_LOG_PREFIX), prefix)
            nftnl_expr_set_u16(x, attr(NFTNL_EXPR_LOG_GROUP), group)
        case .verdict(let v):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_IMM_DREG), UInt32(NFT_REG_VERDICT.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: v))
        case .immediate(let register, let data):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_IMM_DREG), register)
            _ = data.withUnsafeBytes { nftnl_expr_set(x, attr(NFTNL_EXPR_IMM_DATA), $0.baseAddress, UInt32($0.count)) }
        case .tproxyPort(let register):
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_TPROXY_FAMILY), UInt32(NFPROTO_UNSPEC))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_TPROXY_REG_PORT), register)
        default:
            break
        }
    }
}

/// The uapi numbers, taken from the kernel headers rather than written by hand.
func metaKey(_ key: Expr.MetaKey) -> UInt32 {
    switch key {
    case .iif: return UInt32(NFT_META_IIF.rawValue)
    case .oif: return UInt32(NFT_META_OIF.rawValue)
    case .iiftype: return UInt32(NFT_META_IFTYPE.rawValue)  // NFT_META_IIFTYPE is a #define of it
    case .oiftype: return UInt32(NFT_META_OIFTYPE.rawValue)
    case .nfproto: return UInt32(NFT_META_NFPROTO.rawValue)
    case .l4proto: return UInt32(NFT_META_L4PROTO.rawValue)
    case .secpath: return UInt32(NFT_META_SECPATH.rawValue)
    }
}

func cmpOp(_ op: Expr.CmpOp) -> UInt32 {
    switch op {
    case .eq: return UInt32(NFT_CMP_EQ.rawValue)
    case .neq: return UInt32(NFT_CMP_NEQ.rawValue)
    case .lt: return UInt32(NFT_CMP_LT.rawValue)
    case .lte: return UInt32(NFT_CMP_LTE.rawValue)
    case .gt: return UInt32(NFT_CMP_GT.rawValue)
    case .gte: return UInt32(NFT_CMP_GTE.rawValue)
    }
}

/// Rule comments travel as nft's user-data TLV: type 0 (comment), length, NUL-terminated text.
public enum RuleComment {
    public static func encode(_ comment: String) -> [UInt8] {
        let text = Array(comment.utf8.prefix(126)) + [0]
        return [0, UInt8(text.count)] + text
    }

    public static func decode(_ udata: [UInt8]) -> String? {
        var i = 0
        while i + 2 <= udata.count {
            let type = udata[i], length = Int(udata[i + 1])
            guard i + 2 + length <= udata.count else { return nil }
            if type == 0 {
                let value = udata[(i + 2)..<(i + 2 + length)]
                return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
            }
            i += 2 + length
        }
        return nil
    }
}
