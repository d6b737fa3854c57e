/// One nf_tables VM instruction, as plain data. The linearizer produces these from the ruleset
/// model; `NftObjects` turns them into libnftnl expressions. All loads go to register 1 (NFT_REG_1) but a concatenation's later fields,
/// verdicts to register 0, exactly as nft does, so `nft list ruleset` reads our rules back unchanged.
public enum Expr: Equatable, Sendable {
    public enum MetaKey: Sendable {
        case iif, oif, iiftype, oiftype, nfproto, l4proto, secpath

        var name: String {
            switch self {
            case .iif: return "iif"
            case .oif: return "oif"
            case .iiftype: return "iiftype"
            case .oiftype: return "oiftype"
            case .nfproto: return "nfproto"
            case .l4proto: return "l4proto"
            case .secpath: return "secpath"
            }
        }
    }

    public enum PayloadBase: Sendable {
        case network, transport

        var name: String { self == .network ? "network" : "transport" }
    }

    public enum CmpOp: Sendable {
        case eq, neq, lt, lte, gt, gte

        var name: String {
            switch self {
            case .eq: return "eq"
            case .neq: return "neq"
            case .lt: return "lt"
            case .lte: return "lte"
            case .gt: return "gt"
            case .gte: return "gte"
            }
        }
    }

    case meta(MetaKey)
    /// Loads into register 1 unless told otherwise (the second field of a concatenation: 32-bit
    /// register 9, or 128-bit register 2 after an IPv6 address).
    case payload(base: PayloadBase, offset: UInt32, length: UInt32, register: UInt32 = 1)
    /// reg 1 = (reg 1 & mask) ^ xor
    case bitwise(mask: [UInt8], xor: [UInt8])
    case cmp(CmpOp, [UInt8])
    case lookup(set: String, setID: UInt32)
    /// `fib saddr|daddr type`: flags NFTA_FIB_F_SADDR (1) or _DADDR (2), result NFT_FIB_RESULT_ADDRTYPE.
    case fibAddressType(flags: UInt32)
    /// Register 1 from host to network byte order in place (before a range compare of a host-order value).
    case byteorderHton(length: UInt32, size: UInt32)
    /// `ct load state`
    case ctState
    /// `rt load ipsec` (NFT_RT_XFRM)
    case rtIpsec
    case counter
    case log(prefix: String, group: UInt16)
    case verdict(Int32)
    /// Data into a register (`immediate reg 1 0x00000100`).
    case immediate(register: UInt32, data: [UInt8])
    /// `tproxy to :PORT` with the port in a register, no address, either family.
    case tproxyPort(register: UInt32)

    public static let accept = Expr.verdict(1)
    public static let drop = Expr.verdict(0)

    /// The libnftnl expression name.
    public var kind: String {
        switch self {
        case .meta: return "meta"
        case .payload: return "payload"
        case .bitwise: return "bitwise"
        case .cmp: return "cmp"
        case .lookup: return "lookup"
        case .fibAddressType: return "fib"
        case .byteorderHton: return "byteorder"
        case .ctState: return "ct"
        case .rtIpsec: return "rt"
        case .counter: return "counter"
        case .log: return "log"
        case .verdict, .immediate: return "immediate"
        case .tproxyPort: return "tproxy"
        }
    }

    /// The same text `nft --debug=netlink` and `nftnl_rule_snprintf` print, so tests can compare
    /// our bytecode with nft's without a kernel.
    public var debugText: String {
        switch self {
        case .meta(let key): return "[ meta load \(key.name) => reg 1 ]"
        case .payload(let base, let offset, let length, let register):
            return "[ payload load \(length)b @ \(base.name) header + \(offset) => reg \(register) ]"
        case .bitwise(let mask, let xor):
            return "[ bitwise reg 1 = ( reg 1 & \(Expr.words(mask)) ) ^ \(Expr.words(xor)) ]"
        case .cmp(let op, let data): return "[ cmp \(op.name) reg 1 \(Expr.words(data)) ]"
        case .lookup(let set, _): return "[ lookup reg 1 set \(set) ]"
        case .fibAddressType(let flags): return "[ fib \(flags == 1 ? "saddr" : "daddr") type => reg 1 ]"
        case .byteorderHton(let length, let size): return "[ byteorder reg 1 = hton(reg 1, \(size), \(length)) ]"
        case .ctState: return "[ ct load state => reg 1 ]"
        case .rtIpsec: return "[ rt load ipsec => reg 1 ]"
        case .counter: return "[ counter pkts 0 bytes 0 ]"
        case .log(let prefix, let group): return "[ log prefix \(prefix) group \(group) snaplen 0 qthreshold 0 ]"
        case .immediate(let register, let data): return "[ immediate reg \(register) \(Expr.words(data)) ]"
        case .tproxyPort(let register): return "[ tproxy port reg \(register) ]"
        case .verdict(let v): return "[ immediate reg 0 \(v == 1 ? "accept" : v == 0 ? "drop" : String(v)) ]"
        }
    }

    /// Data as libnftnl prints it: 32-bit little-endian words, zero-padded.
    static func words(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 4).map { start in
            var word: UInt32 = 0
            for (i, b) in bytes[start..<min(start + 4, bytes.count)].enumerated() {
                word |= UInt32(b) << (8 * UInt32(i))
            }
            let hex = String(word, radix: 16)
            return "0x" + String(repeating: "0", count: 8 - hex.count) + hex
        }.joined(separator: " ")
    }
}
