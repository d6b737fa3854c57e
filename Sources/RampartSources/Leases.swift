import FoundationEssentials
import RampartPolicy

// NetworkManager's internal DHCP client writes only `ADDRESS=` (this machine's own address) into
// /var/lib/NetworkManager/internal-*.lease: no servers to take from it. Its dhclient mode writes
// dhclient leases, read by `DhclientLeases`.

/// ISC dhclient lease files: a log of `lease { … }` blocks; the last one per interface wins
/// (dhclient.leases(5)). Junk values (`invalid`, `expired`) are skipped, as is anything unparsable.
public enum DhclientLeases {
    public static func parse(_ text: String) -> [LeaseInfo] {
        var byInterface: [String: LeaseInfo] = [:]
        var order: [String] = []
        var current: LeaseInfo?
        for statement in statements(text) {
            if statement == ["lease", "{"] {
                current = LeaseInfo()
                continue
            }
            if statement == ["}"] {
                if let lease = current {
                    let key = lease.interface ?? ""
                    if byInterface[key] == nil { order.append(key) }
                    byInterface[key] = lease
                }
                current = nil
                continue
            }
            guard current != nil, let first = statement.first else { continue }
            if first == "interface", statement.count >= 2 {
                current!.interface = statement[1]
            } else if first == "option", statement.count >= 3 {
                let values = AddressText.list(Substring(statement[2...].joined(separator: " ")))
                switch statement[1] {
                case "dhcp-server-identifier": current!.dhcpServers = values
                case "routers": current!.routers = values
                case "domain-name-servers": current!.dnsServers = values
                case "netbios-name-servers": current!.winsServers = values
                default: break
                }
            }
        }
        return order.compactMap { byInterface[$0] }
    }

    /// Statements split at `;`, `{` and `}`, with `#` comments and quoted strings handled.
    static func statements(_ text: String) -> [[String]] {
        var out: [[String]] = []
        var words: [String] = []
        var word = ""
        var quoted = false
        var comment = false
        func endWord() {
            if !word.isEmpty { words.append(word) }
            word = ""
        }
        for c in text {
            if comment {
                if c == "\n" || c == "\r\n" { comment = false }
                continue
            }
            if quoted {
                if c == "\"" { quoted = false } else { word.append(c) }
                continue
            }
            switch c {
            case "\"": quoted = true
            case "#": endWord(); comment = true
            case " ", "\t", "\n", "\r\n", "\r": endWord()
            case ";": endWord(); if !words.isEmpty { out.append(words) }; words = []
            case "{": endWord(); words.append("{"); out.append(words); words = []
            case "}": endWord(); if !words.isEmpty { out.append(words) }; out.append(["}"]); words = []
            default: word.append(c)
            }
        }
        return out
    }
}

/// systemd-networkd's /run/systemd/netif/leases/IFINDEX: `KEY=VALUE` lines (SERVER_ADDRESS, ROUTER,
/// DNS; no WINS), or the newer JSON form.
public enum NetworkdLease {
    public static func parse(_ text: String) -> LeaseInfo {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" }
        if trimmed.first == "{" { return parseJSON(Data(trimmed.utf8)) }
        var lease = LeaseInfo()
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            guard !raw.hasPrefix("#"), let eq = raw.firstIndex(of: "=") else { continue }
            let key = raw[..<eq], value = raw[raw.index(after: eq)...]
            switch key {
            case "SERVER_ADDRESS": lease.dhcpServers = AddressText.list(value)
            case "ROUTER": lease.routers = AddressText.list(value)
            case "DNS": lease.dnsServers = AddressText.list(value)
            default: break
            }
        }
        return lease
    }

    static func parseJSON(_ data: Data) -> LeaseInfo {
        var lease = LeaseInfo()
        guard let object = try? JSONDecoder().decode(JSONDocument.self, from: data) else { return lease }
        func addresses(_ value: JSONDocument?) -> [IPAddress] {
            switch value {
            case .string(let s): return AddressText.list(Substring(s))
            case .array(let list):
                let bytes = list.compactMap(\.integer)
                if bytes.count == list.count, bytes.count == 4 || bytes.count == 16 {
                    guard bytes.allSatisfy({ (0...255).contains($0) }) else { return [] }
                    let n = bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
                    return [IPAddress(family: bytes.count == 4 ? .ipv4 : .ipv6, numeric: n)]
                }
                return list.flatMap { addresses($0) }
            case .object(let dict):
                return addresses(dict["Address"] ?? dict["address"] ?? dict["addressString"])
            default: return []
            }
        }
        func find(_ value: JSONDocument, keys: [String]) -> JSONDocument? {
            guard case .object(let dict) = value else { return nil }
            let wanted = Set(keys.map { $0.lowercased() })
            for k in dict.keys.sorted() where wanted.contains(k.lowercased()) { return dict[k] }
            for k in dict.keys.sorted() { if let hit = find(dict[k]!, keys: keys) { return hit } }
            return nil
        }
        lease.dhcpServers = addresses(find(object, keys: ["ServerAddress", "Server_Address", "SERVER_ADDRESS"]))
        lease.routers = addresses(find(object, keys: ["Router", "Routers", "ROUTER"]))
        lease.dnsServers = addresses(find(object, keys: ["DNS", "DNSServers"]))
        return lease
    }
}

/// dhcpcd: `dhcpcd --dumplease` output (shell variables), or its binary lease file, which is the
/// raw DHCP message the server sent.
public enum DhcpcdLease {
    public static func parseDump(_ text: String) -> LeaseInfo {
        var lease = LeaseInfo()
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            guard !raw.hasPrefix("#"), let eq = raw.firstIndex(of: "=") else { continue }
            let key = raw[..<eq].trimming(" \t"), value = raw[raw.index(after: eq)...].trimming("'\" \t")
            switch key {
            case "dhcp_server_identifier": lease.dhcpServers = AddressText.list(value)
            case "routers": lease.routers = AddressText.list(value)
            case "domain_name_servers": lease.dnsServers = AddressText.list(value)
            case "netbios_name_servers": lease.winsServers = AddressText.list(value)
            default: break
            }
        }
        return lease
    }

    /// The BOOTP/DHCP message: 236 fixed bytes, the magic cookie, then options (RFC 2132):
    /// 54 server identifier, 3 routers, 6 DNS servers, 44 NetBIOS name servers.
    public static func parseBinary(_ bytes: [UInt8]) -> LeaseInfo {
        var lease = LeaseInfo()
        guard bytes.count >= 240, Array(bytes[236..<240]) == [99, 130, 83, 99] else { return lease }
        var i = 240
        func addresses(_ data: ArraySlice<UInt8>) -> [IPAddress] {
            stride(from: data.startIndex, to: data.endIndex - 3, by: 4).map { s -> IPAddress in
                let a = UInt32(data[s]) << 24 | UInt32(data[s + 1]) << 16
                let b = UInt32(data[s + 2]) << 8 | UInt32(data[s + 3])
                return .v4(a | b)
            }
        }
        while i < bytes.count {
            let code = bytes[i]
            if code == 0 { i += 1; continue }
            if code == 255 { break }
            guard i + 1 < bytes.count else { break }
            let length = Int(bytes[i + 1])
            guard i + 2 + length <= bytes.count else { break }
            let data = bytes[(i + 2)..<(i + 2 + length)]
            switch code {
            case 54: lease.dhcpServers = addresses(data)
            case 3: lease.routers = addresses(data)
            case 6: lease.dnsServers = addresses(data)
            case 44: lease.winsServers = addresses(data)
            default: break
            }
            i += 2 + length
        }
        return lease
    }
}
