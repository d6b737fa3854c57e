import FoundationEssentials
import RampartPolicy

/// LDIF (RFC 2849) as `ldifde -f` and `ldapsearch -LLL` write it: records separated by blank
/// lines, `attr: value`, `attr:: base64`, folded lines (a continuation starts with one space),
/// `#` comments, `version:`, `changetype: add`. Values are kept as bytes: `ipsecData` is binary.
public struct LDIF: Sendable, Equatable {
    public struct Record: Sendable, Equatable {
        public var dn: String
        /// Attribute names lowercased, values in file order.
        public var attributes: [String: [[UInt8]]] = [:]
        public var location: SourceLocation

        public func strings(_ name: String) -> [String] {
            (attributes[name.lowercased()] ?? []).map { String(decoding: $0, as: UTF8.self) }
        }
        public func string(_ name: String) -> String? { strings(name).first }
    }

    public var records: [Record] = []

    public static func parse(_ text: String, file: String) throws(Diagnostic) -> LDIF {
        var out = LDIF()
        var current: Record?
        for (line, number) in unfolded(text) {
            let at = SourceLocation(file: file, line: number, column: 1)
            if line.isEmpty {
                if let r = current { out.records.append(r) }
                current = nil
                continue
            }
            if line.hasPrefix("#") { continue }
            let (name, value) = try attribute(line, at: at)
            if current == nil {
                if name == "version" { continue }
                guard name == "dn" else {
                    throw .error("an LDIF record starts with 'dn:' (got '\(name):')", at: at)
                }
                current = Record(dn: String(decoding: value, as: UTF8.self), location: at)
                continue
            }
            if name == "changetype" {
                guard String(decoding: value, as: UTF8.self).lowercased() == "add" else {
                    throw .error("only records to add are read (changetype: add, or none)", at: at)
                }
                continue
            }
            current?.attributes[name, default: []].append(value)
        }
        if let r = current { out.records.append(r) }
        return out
    }

    /// The logical lines with the number of their first physical line.
    static func unfolded(_ text: String) -> [(String, Int)] {
        var out: [(String, Int)] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .enumerated()
        {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.hasPrefix(" "), let last = out.indices.last, !out[last].0.isEmpty {
                out[last].0 += line.dropFirst()
            } else {
                out.append((String(line), i + 1))
            }
        }
        return out
    }

    /// `name: text`, `name:: base64` (name lowercased); `name:< URL` is refused.
    static func attribute(_ line: String, at: SourceLocation) throws(Diagnostic) -> (String, [UInt8]) {
        guard let colon = line.firstIndex(of: ":") else {
            throw .error("an LDIF line is 'attribute: value' (got '\(line.prefix(40))')", at: at)
        }
        let name = line[..<colon].lowercased()
        var rest = line[line.index(after: colon)...]
        if rest.hasPrefix(":") {
            rest = rest.dropFirst()
            let encoded = rest.trimmingCharacters(" ")
            guard let data = Data(base64Encoded: encoded) else {
                throw .error("\(name):: is not valid base64", at: at)
            }
            return (name, Array(data))
        }
        if rest.hasPrefix("<") {
            throw .error("\(name):< (a value from a URL) is not read: export the values inline", at: at)
        }
        return (name, Array(rest.drop { $0 == " " }.utf8))
    }
}
