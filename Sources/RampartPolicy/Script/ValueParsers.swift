/// Value grammars of netsh parameters (reference §3). Each returns a typed value or a
/// `ValueError`; the caller attaches the argument's location.
public enum Values {
    public static func yesNo(_ text: String) -> Result<Bool, ValueError> {
        switch text.lowercased() {
        case "yes", "y": return .success(true)
        case "no", "n": return .success(false)
        default: return .failure(ValueError("'\(text)' is not yes or no"))
        }
    }

    /// `mirrored=`: yes or no, or `stateful` (an extension): (mirrored, reply half for replies only).
    public static func mirroring(_ text: String) -> Result<(Bool, Bool), ValueError> {
        if text.lowercased() == "stateful" { return .success((true, true)) }
        switch yesNo(text) {
        case .success(let b): return .success((b, false))
        case .failure:
            return .failure(
                ValueError(
                    "'\(text)' is not yes, no or stateful (mirrored, the mirror half admitting replies only: docs/extensions.md)"
                ))
        }
    }

    public static func integer(_ text: String, in range: ClosedRange<Int>) -> Result<Int, ValueError> {
        guard let v = Int(text), range.contains(v) else {
            return .failure(
                ValueError("'\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)"))
        }
        return .success(v)
    }

    public static func choice<T>(_ text: String, _ options: [(String, T)]) -> Result<T, ValueError> {
        if let hit = options.first(where: { $0.0.caseInsensitiveEquals(text) }) { return .success(hit.1) }
        return .failure(ValueError("'\(text)' is not one of \(options.map(\.0).joined(separator: ", "))"))
    }

    /// `srcport`/`dstport`: a port, or (extension) a range or list of them.
    public static func ports(_ text: String) -> Result<PortMatch, ValueError> { PortMatch.parse(text) }

    public static func tcpFlags(_ text: String) -> Result<TCPFlagMatch, ValueError> { TCPFlagMatch.parse(text) }

    public static func port(_ text: String) -> Result<UInt16, ValueError> {
        guard let v = UInt16(text) else {
            return .failure(ValueError("'\(text)' is not a port number from 0 (any) to 65535"))
        }
        return .success(v)
    }

    public static func proto(_ text: String) -> Result<IPProtocolSpec, ValueError> {
        let upper = text.uppercased()
        if upper == "ANY" { return .success(.any) }
        if upper == "ICMP" { return .success(.icmp) }
        if let named = IPProtocolSpec.names.first(where: { $0.0 == upper }) { return .success(.number(named.1)) }
        if let n = UInt8(text) { return .success(n == 0 ? .any : .number(n)) }
        return .failure(ValueError("'\(text)' is not a protocol (ANY, ICMP, TCP, UDP, RAW or a number 0-255)"))
    }

    /// An address as written in `srcaddr=`/`dstaddr=`: `me`, `any`, a server type, an IPv4 or IPv6
    /// address (optionally `/prefix`), a range `a-b`, or a DNS host name.
    public static func address(_ text: String) -> Result<(AddressSpec, explicitPrefix: Bool), ValueError> {
        let lower = text.lowercased()
        if lower == "me" { return .success((.me, false)) }
        if lower == "any" { return .success((.any, false)) }
        // `group:NAME`: no host name contains ':', and no IPv6 literal starts with 'g'.
        if lower.hasPrefix("group:") {
            let name = String(text.dropFirst(6))
            guard AddressGroup.validName(name) else {
                return .failure(
                    ValueError(
                        "'\(name)' is not an address group name (letters, digits, _ and -, starting with a letter)"))
            }
            return .success((.group(name), false))
        }
        if let server = ServerType.allCases.first(where: { $0.rawValue.caseInsensitiveEquals(text) }) {
            return .success((.server(server), false))
        }
        if let slash = text.firstIndex(of: "/") {
            guard let a = IPAddress(text[..<slash]) else {
                return .failure(ValueError("'\(text)' is not an address/prefix"))
            }
            guard let p = Int(text[text.index(after: slash)...]), (0...a.family.bits).contains(p) else {
                return .failure(ValueError("invalid prefix length in '\(text)' (0-\(a.family.bits))"))
            }
            return .success((p == 0 ? .any : .subnet(a, prefix: p), true))
        }
        if let a = IPAddress(text) { return .success((.subnet(a, prefix: a.family.bits), false)) }
        if let dash = text.firstIndex(of: "-"), let a = IPAddress(text[..<dash]) {
            guard let b = IPAddress(text[text.index(after: dash)...]) else {
                return .failure(ValueError("'\(text)' is not a range: the end is not an address"))
            }
            guard a.family == b.family else {
                return .failure(ValueError("range '\(text)' mixes IPv4 and IPv6"))
            }
            guard a <= b else { return .failure(ValueError("range '\(text)' ends before it starts")) }
            return .success((.range(a, b), false))
        }
        if isHostName(text) { return .success((.dnsName(lower, prefix: nil), false)) }
        return .failure(
            ValueError(
                "'\(text)' is not an address: expected me, any, DNS, WINS, DHCP, GATEWAY, an IP address, a range a-b or a host name"
            ))
    }

    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        // A trailing dot (absolute name) is allowed; other empty labels are not.
        let significant = labels.last?.isEmpty == true ? labels.dropLast() : labels[...]
        guard !significant.isEmpty else { return false }
        for label in significant {
            guard !label.isEmpty, label.count <= 63, label.first != "-", label.last != "-",
                label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            else { return false }
        }
        // All-numeric labels would make a malformed IPv4 address look like a name.
        return !significant.allSatisfy { $0.allSatisfy(\.isNumber) }
    }

    /// A mask as a dotted IPv4 mask or a prefix length.
    public static func mask(_ text: String, maxBits: Int) -> Result<Int, ValueError> {
        if let p = Int(text) {
            guard (0...maxBits).contains(p) else {
                return .failure(ValueError("mask prefix length \(p) is out of range 0-\(maxBits)"))
            }
            return .success(p)
        }
        guard let v = IPAddress.parseV4(text[...]) else {
            return .failure(
                ValueError("'\(text)' is not a mask (a dotted mask such as 255.255.255.0 or a prefix length)"))
        }
        let ones = v.leadingZeroBitCount == 0 ? (~v).leadingZeroBitCount : 0
        guard ones == 32 || v << ones == 0 else {
            return .failure(ValueError("mask '\(text)' is not contiguous"))
        }
        return .success(ones)
    }

    public static func quickModeOffers(_ text: String) -> Result<[QuickModeOffer], ValueError> {
        var out: [QuickModeOffer] = []
        for item in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            switch QuickModeOffer.parse(String(item)) {
            case .success(let o): out.append(o)
            case .failure(let e): return .failure(e)
            }
        }
        guard !out.isEmpty else { return .failure(ValueError("no security methods given")) }
        return .success(out)
    }

    public static func mainModeOffers(_ text: String) -> Result<[MainModeOffer], ValueError> {
        var out: [MainModeOffer] = []
        for item in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            switch MainModeOffer.parse(String(item)) {
            case .success(let o): out.append(o)
            case .failure(let e): return .failure(e)
            }
        }
        guard !out.isEmpty else { return .failure(ValueError("no main mode methods given")) }
        return .success(out)
    }

    /// `bootexemptions`: one or more `protocol:srcport:dstport:direction`, separated by blanks or commas; `none` clears.
    public static func bootExemptions(_ text: String) -> Result<[DynamicConfig.BootExemption], ValueError> {
        if text.caseInsensitiveEquals("none") { return .success([]) }
        var out: [DynamicConfig.BootExemption] = []
        for item in text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4 else {
                return .failure(ValueError("boot exemption '\(item)' is not protocol:srcport:dstport:direction"))
            }
            let proto: IPProtocolSpec
            switch Values.proto(parts[0]) {
            case .success(let p): proto = p
            case .failure(let e): return .failure(e)
            }
            guard let sp = UInt16(parts[1]), let dp = UInt16(parts[2]) else {
                return .failure(ValueError("boot exemption '\(item)' has an invalid port"))
            }
            if (sp != 0 || dp != 0) && !proto.hasPorts {
                return .failure(ValueError("boot exemption '\(item)': ports need TCP or UDP"))
            }
            guard let dir = DynamicConfig.Direction(rawValue: parts[3].lowercased()) else {
                return .failure(ValueError("boot exemption '\(item)': direction must be inbound or outbound"))
            }
            out.append(.init(proto: proto, sourcePort: sp, destinationPort: dp, direction: dir))
        }
        guard !out.isEmpty else { return .failure(ValueError("no boot exemptions given (use 'none' to clear them)")) }
        return .success(out)
    }
}
