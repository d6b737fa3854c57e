import RampartPolicy

/// `reg add` and `reg delete` lines of a batch file (what hardening scripts publish instead of a
/// `.reg`), run in order against an empty registry: the keys and values they leave, as the
/// `RegistryExport` a regedit export of the same keys would be. reg.exe's syntax: `reg add KEY
/// [/v NAME | /ve] [/t TYPE] [/s SEPARATOR] [/d DATA] [/f]`, `reg delete KEY [/v NAME | /ve | /va]
/// [/f]`; arguments split as Windows programs split theirs (CommandLineToArgvW).
public enum RegCommands {
    public struct Line: Sendable, Equatable {
        public var location: SourceLocation
        /// The words after `reg`/`reg.exe`, as the batch file has them after its variables.
        public var arguments: String

        public init(location: SourceLocation, arguments: String) {
            self.location = location
            self.arguments = arguments
        }
    }

    /// The registry the lines leave behind.
    public static func export(_ lines: [Line]) throws(Diagnostic) -> RegistryExport {
        var state = State()
        for line in lines { try state.run(line) }
        return RegistryExport(version: 5, keys: state.keys)
    }

    struct State {
        var keys: [RegistryExport.Key] = []

        mutating func run(_ line: Line) throws(Diagnostic) {
            let words = RegCommands.argv(line.arguments)
            guard words.count >= 2 else {
                throw .error("reg: a key is needed after '\(words.first ?? "")'", at: line.location)
            }
            let operation = words[0].lowercased()
            guard operation == "add" || operation == "delete" else {
                throw .error(
                    "reg \(words[0]): only 'reg add' and 'reg delete' change Windows' IPsec policy store",
                    at: line.location)
            }
            let options = try Options(words.dropFirst(2), at: line.location)
            let path = try RegCommands.key(words[1], at: line.location)
            if operation == "add" { try add(path, options, at: line.location) } else { delete(path, options) }
        }

        mutating func add(_ path: String, _ o: Options, at location: SourceLocation) throws(Diagnostic) {
            let index =
                keys.firstIndex { $0.path.lowercased() == path.lowercased() }
                ?? {
                    keys.append(RegistryExport.Key(path: path, location: location))
                    return keys.count - 1
                }()
            guard let name = o.name else { return }
            let value = try RegCommands.value(
                type: o.type ?? "REG_SZ", data: o.data ?? "", separator: o.separator, at: location)
            keys[index].values.removeAll { $0.name.lowercased() == name.lowercased() }
            keys[index].values.append((name, value))
        }

        /// A key goes with everything below it; `/v`, `/ve` and `/va` remove values only.
        mutating func delete(_ path: String, _ o: Options) {
            let lower = path.lowercased()
            if let name = o.name {
                for i in keys.indices where keys[i].path.lowercased() == lower {
                    keys[i].values.removeAll { $0.name.lowercased() == name.lowercased() }
                }
            } else if o.allValues {
                for i in keys.indices where keys[i].path.lowercased() == lower { keys[i].values = [] }
            } else {
                keys.removeAll { $0.path.lowercased() == lower || $0.path.lowercased().hasPrefix(lower + "\\") }
            }
        }
    }

    struct Options {
        var name: String?
        var type: String?
        var data: String?
        var separator = "\\0"
        var allValues = false

        init(_ words: ArraySlice<String>, at location: SourceLocation) throws(Diagnostic) {
            var i = words.startIndex
            func next(_ option: String) throws(Diagnostic) -> String {
                i += 1
                guard i < words.endIndex else { throw .error("reg: \(option) needs a value", at: location) }
                return words[i]
            }
            while i < words.endIndex {
                switch words[i].lowercased() {
                case "/v": name = try next("/v")
                case "/ve": name = ""
                case "/va": allValues = true
                case "/t": type = try next("/t").uppercased()
                case "/d": data = try next("/d")
                case "/s": separator = try next("/s")
                case "/f", "/reg:32", "/reg:64": break
                default:
                    throw .error(
                        "reg: unexpected '\(words[i])'; reg add takes /v NAME, /ve, /t TYPE, /s SEPARATOR, /d DATA and /f",
                        at: location)
                }
                i += 1
            }
        }
    }

    /// `HKLM\…` or `HKEY_LOCAL_MACHINE\…`, spelled as a regedit export spells it.
    static func key(_ text: String, at location: SourceLocation) throws(Diagnostic) -> String {
        if text.hasPrefix("\\\\") {
            throw .error("reg: '\(text)' is another machine's registry; run the script there", at: location)
        }
        let parts = text.split(separator: "\\", maxSplits: 1)
        guard let root = parts.first, ["hklm", "hkey_local_machine"].contains(root.lowercased()) else {
            throw .error("reg: '\(text)' is not under HKLM, where Windows keeps its IPsec policy store", at: location)
        }
        return "HKEY_LOCAL_MACHINE" + (parts.count == 2 ? "\\" + parts[1] : "")
    }

    /// /d DATA as the value of type /t: strings as written, REG_MULTI_SZ split at the separator
    /// (`\0` unless /s), REG_DWORD decimal or 0x hex, REG_BINARY hex digits.
    static func value(
        type: String, data: String, separator: String, at location: SourceLocation
    ) throws(Diagnostic) -> RegistryExport.Value {
        switch type {
        case "REG_SZ": return .string(data)
        case "REG_EXPAND_SZ": return .binary(kind: 2, bytes: utf16z([data]))
        case "REG_MULTI_SZ":
            let parts = data.isEmpty ? [] : split(data, at: separator)
            return .binary(kind: 7, bytes: utf16z(parts) + [0, 0])
        case "REG_DWORD":
            let number =
                data.lowercased().hasPrefix("0x")
                ? UInt32(data.dropFirst(2), radix: 16) : UInt32(data.isEmpty ? "0" : data)
            guard let number else { throw .error("reg: REG_DWORD takes a number, got '\(data)'", at: location) }
            return .dword(number)
        case "REG_BINARY", "REG_NONE":
            var bytes: [UInt8] = []
            let digits = Array(data)
            guard digits.count % 2 == 0 else {
                throw .error("reg: \(type) takes pairs of hex digits, got \(digits.count) digits", at: location)
            }
            for i in stride(from: 0, to: digits.count, by: 2) {
                guard let b = UInt8(String(digits[i...i + 1]), radix: 16) else {
                    throw .error("reg: \(type) takes hex digits, got '\(String(digits[i...i + 1]))'", at: location)
                }
                bytes.append(b)
            }
            return .binary(kind: type == "REG_NONE" ? 0 : 3, bytes: bytes)
        default:
            throw .error(
                "reg: the type '\(type)' is not one Windows' IPsec policy store uses (REG_SZ, REG_MULTI_SZ, REG_DWORD, REG_BINARY)",
                at: location)
        }
    }

    static func split(_ text: String, at separator: String) -> [String] {
        guard !separator.isEmpty else { return [text] }
        var parts: [String] = [], rest = Substring(text)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        return parts + [String(rest)]
    }

    /// Each string in UTF-16LE with its terminating NUL.
    static func utf16z(_ strings: [String]) -> [UInt8] {
        strings.flatMap { s in (Array(s.utf16) + [0]).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }
    }

    /// A command line split as CommandLineToArgvW splits it: blanks separate words outside
    /// quotes; 2n backslashes before a quote are n backslashes and the quote toggles quoting,
    /// 2n+1 are n and a literal quote; other backslashes are themselves.
    static func argv(_ text: String) -> [String] {
        var words: [String] = [], word = "", inWord = false, quoted = false, slashes = 0
        for c in text {
            if c == "\\" {
                slashes += 1
                continue
            }
            if c == "\"" {
                word += String(repeating: "\\", count: slashes / 2)
                if slashes % 2 == 1 { word.append("\"") } else { quoted.toggle() }
                slashes = 0
                inWord = true
                continue
            }
            word += String(repeating: "\\", count: slashes)
            slashes = 0
            if (c == " " || c == "\t") && !quoted {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(c)
                inWord = true
            }
        }
        word += String(repeating: "\\", count: slashes)
        if inWord || slashes > 0 { words.append(word) }
        return words
    }
}
