import FoundationEssentials
import RampartPolicy

// NetworkManager's internal DHCP client writes only `ADDRESS=` (this machine's own address) into
// /var/lib/NetworkManager/internal-*.lease: no servers to take from it. Its dhclient mode writes
// dhclient leases, read by `DhclientLeases`.

/// ISC dhclient lease files: a log of `lease { … }` blocks (dhclient.leases(5)). Per interface the
/// current lease is the one that expires last among those not expired at `now` (a later block wins
/// a tie or an unknown expiry); an interface whose leases have all expired has none. Junk values
/// (`invalid`, `expired`) are skipped, as is anything unparsable.
public enum DhclientLeases {
    public static func parse(_ text: String, now: Double = Date().timeIntervalSince1970) -> [LeaseInfo] {
        var byInterface: [String: LeaseInfo] = [:]
        var order: [String] = []
        var current: LeaseInfo?
        for statement in statements(text) {
            if statement == ["lease", "{"] {
                current = LeaseInfo()
                continue
            }
            if statement == ["}"] {
                // As dhclient: the lease logged last for an interface is its active one, whatever
                // an earlier one's expiry (a machine that moved networks uses the new network's
                // lease); an expired one is passed over for the latest earlier one still current,
                // as dhclient falls back to its unexpired alternates.
                if let lease = current, (lease.expires ?? .infinity) > now {
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
            } else if first == "expire", statement.count >= 2 {
                current!.expires = expiry(Array(statement.dropFirst()))
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

    /// `expire 4 2026/12/03 08:00:00` (weekday, UTC date and time), `expire epoch 1796198400`, or
    /// `expire never` (nil).
    static func expiry(_ words: [String]) -> Double? {
        if words.count >= 2, words[0] == "epoch" { return Double(words[1]).flatMap { $0.isFinite ? $0 : nil } }
        guard words.count >= 3 else { return nil }
        let date = words[1].split(separator: "/"), time = words[2].split(separator: ":")
        // Bounded before any arithmetic: a lease file is outside input (a huge year must not overflow).
        guard date.count == 3, time.count == 3, let y = Int(date[0]), let m = Int(date[1]), let d = Int(date[2]),
            let hh = Int(time[0]), let mm = Int(time[1]), let ss = Int(time[2]), (1970...9999).contains(y),
            (1...12).contains(m),
            (1...31).contains(d), (0...23).contains(hh), (0...59).contains(mm), (0...60).contains(ss)
        else { return nil }
        // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's days_from_civil.
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Double(days * 86400 + hh * 3600 + mm * 60 + ss)
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
            case "#":
                endWord()
                comment = true
            case " ", "\t", "\n", "\r\n", "\r": endWord()
            case ";":
                endWord()
                if !words.isEmpty { out.append(words) }
                words = []
            case "{":
                endWord()
                words.append("{")
                out.append(words)
                words = []
            case "}":
                endWord()
                if !words.isEmpty { out.append(words) }
                out.append(["}"])
                words = []
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

/// dhcpcd's binary lease file: the raw DHCP message the server sent.
public enum DhcpcdLease {
    /// The BOOTP/DHCP message: 236 fixed bytes, the magic cookie, then options (RFC 2132):
    /// 54 server identifier, 3 routers, 6 DNS servers, 44 NetBIOS name servers, 51 lease time.
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
            if code == 0 {
                i += 1
                continue
            }
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
            case 51 where data.count == 4:
                lease.leaseSeconds = data.reduce(0) { $0 << 8 | UInt32($1) }
            default: break
            }
            i += 2 + length
        }
        return lease
    }
}
