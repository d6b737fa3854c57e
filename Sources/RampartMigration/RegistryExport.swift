import RampartPolicy

/// A `regedit` export (`.reg`) as keys and values: "Windows Registry Editor Version 5.00" or
/// `REGEDIT4`, already decoded to text by the caller (UTF-16LE with its BOM, UTF-8, or an ANSI
/// code page through `--encoding`). Every value form regedit writes: `"string"`, `dword:`,
/// `hex:` and `hex(N):` (N in hex: 2 expandable string, 7 multi-string, 3 binary, 4 dword,
/// b qword…), `-` to delete a value, `[-KEY]` to delete a key, `\` continuations, `;` comments.
public struct RegistryExport: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case string(String)
        case dword(UInt32)
        /// `hex(kind):` bytes (`hex:` is kind 3, REG_BINARY).
        case binary(kind: Int, bytes: [UInt8])
        case deleted

        /// REG_SZ, or REG_EXPAND_SZ / REG_MULTI_SZ as their strings: NUL-separated UTF-16LE in a
        /// version 5 export, single bytes (the ANSI code page, read as Latin-1) in `REGEDIT4`.
        public func strings(version: Int = 5) -> [String]? {
            switch self {
            case .string(let s): return [s]
            case .binary(let kind, let bytes) where kind == 2 || kind == 7:
                if version == 4 {
                    return bytes.split(separator: 0).map {
                        String(String.UnicodeScalarView($0.map { Unicode.Scalar($0) }))
                    }
                }
                return Self.utf16Strings(bytes)
            default: return nil
            }
        }

        static func utf16Strings(_ bytes: [UInt8]) -> [String] {
            var units: [UInt16] = []
            for i in stride(from: 0, to: bytes.count - 1, by: 2) {
                units.append(UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8)
            }
            return units.split(separator: 0, omittingEmptySubsequences: true).map {
                String(decoding: $0, as: UTF16.self)
            }
        }
    }

    public struct Key: Sendable, Equatable {
        public var path: String
        public var deleted = false
        /// In file order; the default value is named "" (`@=`).
        public var values: [(name: String, value: Value)] = []
        public var location: SourceLocation

        public func value(_ name: String) -> Value? {
            values.last { $0.name.lowercased() == name.lowercased() }?.value
        }

        public static func == (a: Key, b: Key) -> Bool {
            a.path == b.path && a.deleted == b.deleted && a.location == b.location
                && a.values.map(\.name) == b.values.map(\.name) && a.values.map(\.value) == b.values.map(\.value)
        }
    }

    public var version: Int
    public var keys: [Key] = []

    /// Parses `text`; an error names the file, line and column and says what was expected.
    public static func parse(_ text: String, file: String) throws(Diagnostic) -> RegistryExport {
        var lines = RegistryLines(text, file: file)
        guard let header = lines.next() else {
            throw .error("an empty file: not a registry export", at: SourceLocation(file: file, line: 1, column: 1))
        }
        let first = header.text.trimmingCharacters(" \t\u{FEFF}")
        let version: Int
        switch first {
        case "Windows Registry Editor Version 5.00": version = 5
        case "REGEDIT4": version = 4
        default:
            throw .error(
                "not a registry export: the first line is not 'Windows Registry Editor Version 5.00' or 'REGEDIT4'"
                    + " (export the key with regedit or 'reg export')", at: header.location)
        }
        var export = RegistryExport(version: version)
        while let line = lines.next() {
            try export.take(line)
        }
        return export
    }

    private mutating func take(_ line: RegistryLines.Line) throws(Diagnostic) {
        let text = line.text.trimmingCharacters(" \t")
        if text.isEmpty || text.hasPrefix(";") { return }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else {
                throw .error("a key line must end with ']': \(text.prefix(60))", at: line.location)
            }
            var path = String(text.dropFirst().dropLast())
            let deleted = path.hasPrefix("-")
            if deleted { path.removeFirst() }
            keys.append(Key(path: path, deleted: deleted, location: line.location))
            return
        }
        guard !keys.isEmpty else {
            throw .error("a value before any [KEY] line", at: line.location)
        }
        let (name, rest) = try Self.valueName(text, at: line.location)
        keys[keys.count - 1].values.append((name, try Self.value(rest, at: line.location)))
    }

    /// `"name"=` (with `\\` and `\"` escapes) or `@=`; what follows the `=`.
    static func valueName(_ text: String, at location: SourceLocation) throws(Diagnostic) -> (String, Substring) {
        if text.hasPrefix("@=") { return ("", text.dropFirst(2)) }
        guard text.hasPrefix("\"") else {
            throw .error("a value line starts with \"NAME\"= or @=: \(text.prefix(60))", at: location)
        }
        let (name, end) = try quoted(text.dropFirst(), at: location)
        guard end.hasPrefix("=") else { throw .error("'=' expected after the value name \"\(name)\"", at: location) }
        return (name, end.dropFirst())
    }

    /// A quoted string's content (its escapes undone) and what follows its closing quote.
    static func quoted(_ text: Substring, at location: SourceLocation) throws(Diagnostic) -> (String, Substring) {
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "\"" { return (out, text[text.index(after: i)...]) }
            if c == "\\", text.index(after: i) < text.endIndex {
                i = text.index(after: i)
                out.append(text[i])
            } else {
                out.append(c)
            }
            i = text.index(after: i)
        }
        throw .error("a string without its closing quote", at: location)
    }

    static func value(_ text: Substring, at location: SourceLocation) throws(Diagnostic) -> Value {
        let lower = text.lowercased()
        if text == "-" { return .deleted }
        if text.hasPrefix("\"") {
            let (s, rest) = try quoted(text.dropFirst(), at: location)
            guard rest.trimmingCharacters(" \t").isEmpty else {
                throw .error("text after a string value: \(rest.prefix(40))", at: location)
            }
            return .string(s)
        }
        if lower.hasPrefix("dword:") {
            guard let v = UInt32(text.dropFirst(6), radix: 16), text.count == 14 else {
                throw .error("dword: takes eight hex digits, e.g. dword:0000001a", at: location)
            }
            return .dword(v)
        }
        var kind = 3
        var digits = Substring(lower)
        if lower.hasPrefix("hex(") {
            guard let close = lower.firstIndex(of: ")"),
                let k = Int(lower[lower.index(lower.startIndex, offsetBy: 4)..<close], radix: 16),
                lower[lower.index(after: close)...].hasPrefix(":")
            else { throw .error("hex(N): takes a hex type number, e.g. hex(7):", at: location) }
            kind = k
            digits = lower[lower.index(close, offsetBy: 2)...]
        } else if lower.hasPrefix("hex:") {
            digits = lower.dropFirst(4)
        } else {
            throw .error(
                "a value is \"text\", dword:, hex: or hex(N): (got \(text.prefix(20)))", at: location)
        }
        return .binary(kind: kind, bytes: try hexBytes(digits, at: location))
    }

    static func hexBytes(_ text: Substring, at location: SourceLocation) throws(Diagnostic) -> [UInt8] {
        var bytes: [UInt8] = []
        for part in text.split(separator: ",") {
            let byte = part.trimmingCharacters(" \t")
            guard byte.count == 2, let b = UInt8(byte, radix: 16) else {
                throw .error(
                    "hex values are two-digit bytes separated by commas (got '\(byte.prefix(8))')", at: location)
            }
            bytes.append(b)
        }
        return bytes
    }
}

/// The logical lines of a `.reg` file: a line ending in `\` continues on the next.
struct RegistryLines {
    struct Line {
        var text: String
        var location: SourceLocation
    }

    private var physical: [Substring]
    private var index = 0
    let file: String

    init(_ text: String, file: String) {
        // "\r\n" is one Character in Swift: split on it as well as on "\n".
        physical = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        self.file = file
    }

    mutating func next() -> Line? {
        guard index < physical.count else { return nil }
        let start = index
        var text = String(physical[index])
        index += 1
        // A continued value: `hex:01,02,\` then `  03,04`.
        while text.hasSuffix("\\"), !text.hasPrefix(";"), index < physical.count {
            text.removeLast()
            text += physical[index].trimmingCharacters(" \t")
            index += 1
        }
        return Line(text: text, location: SourceLocation(file: file, line: start + 1, column: 1))
    }
}

extension StringProtocol {
    /// Without leading and trailing characters of `set` (FoundationEssentials has no CharacterSet trim).
    func trimmingCharacters(_ set: String) -> String {
        let chars = Set(set)
        guard let first = firstIndex(where: { !chars.contains($0) }) else { return "" }
        let last = lastIndex(where: { !chars.contains($0) })!
        return String(self[first...last])
    }
}
