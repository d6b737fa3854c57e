import RampartPolicy

/// `nameserver` lines of resolv.conf(5), read as glibc reads them: the keyword must start the
/// line (an indented line is ignored), `#` and `;` start comments (also after a value), junk
/// lines are ignored, IPv6 zone ids dropped, and only the first three servers count (MAXNS).
public enum ResolvConf {
    /// glibc's MAXNS: the resolver never asks a fourth server.
    public static let maximumServers = 3

    public static func nameservers(_ text: String) -> [IPAddress] {
        var out: [IPAddress] = []
        var counted = 0
        for raw in text.split(
            omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        {
            guard counted < maximumServers else { break }
            guard raw.hasPrefix("nameserver") else { continue }
            // As glibc's res_init: the address ends at the first blank, and it must be all address
            // ("192.0.2.3;x" or "192.0.2.3#x" names no server); words after a blank are ignored.
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver", let a = AddressText.address(words[1]) else { continue }
            counted += 1
            if !out.contains(a) { out.append(a) }
        }
        return out
    }

    /// The same from the file's bytes: only ASCII matters in resolv.conf, so a byte that is not
    /// UTF-8 (a Latin-1 comment) spoils nothing but its own line.
    public static func nameservers(bytes: [UInt8]) -> [IPAddress] {
        nameservers(String(decoding: bytes, as: UTF8.self))
    }

    /// True when the file names only systemd-resolved's local stub (127.0.0.53 / 127.0.0.54): the
    /// real servers are then in /run/systemd/resolve/resolv.conf.
    public static func isResolvedStub(_ servers: [IPAddress]) -> Bool {
        !servers.isEmpty && servers.allSatisfy { $0 == IPAddress("127.0.0.53")! || $0 == IPAddress("127.0.0.54")! }
    }
}

/// `wins server = …` in the [global] section of smb.conf(5).
public enum SmbConf {
    public static func winsServers(_ text: String) -> [IPAddress] {
        var section = ""
        var out: [IPAddress] = []
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.trimming(" \t")
            if line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty { continue }
            if line.hasPrefix("[") {
                section = String(line.dropFirst().prefix { $0 != "]" }).lowercased()
                continue
            }
            guard section == "global", let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            guard key == "wins server" else { continue }
            out += AddressText.list(line[line.index(after: eq)...])
        }
        return out
    }
}
