/// Script and batch files as Windows tools write them: UTF-8 with or without a BOM, UTF-16
/// (Notepad's "Unicode", Windows PowerShell's `>`), CRLF, LF or CR line endings. A file is
/// decoded exactly or refused with the place of the first bad byte: never guessed into mojibake.
public enum ScriptText {
    public enum Encoding: String, Sendable, CaseIterable {
        /// A BOM decides; without one, NUL bytes mean UTF-16 (by where they fall), else UTF-8.
        case auto
        case utf8 = "utf-8"
        case utf16le = "utf-16le"
        case utf16be = "utf-16be"
        /// ISO 8859-1: every byte is the code point of the same number.
        case latin1
        /// Windows-1252, the "ANSI" code page of Western Windows installations.
        case cp1252
        /// Decoded by the caller's `legacy` decoder (glibc's iconv in the CLI): Chinese (GBK, its
        /// superset GB18030, Big5), Japanese (Shift_JIS as Windows writes it, code page 932),
        /// Korean (EUC-KR) and the other Windows code pages.
        case gbk, gb18030, big5
        case shiftJIS = "shift_jis"
        case cp932
        case eucKR = "euc-kr"
        case cp1250, cp1251, cp1253, cp1254, cp1255, cp1256, cp1257, cp1258

        /// The iconv name of an encoding ScriptText does not decode itself; nil for its own.
        public var iconvName: String? {
            switch self {
            case .auto, .utf8, .utf16le, .utf16be, .latin1, .cp1252: return nil
            case .shiftJIS, .cp932: return "CP932"
            case .eucKR: return "EUC-KR"
            default: return rawValue.uppercased()
            }
        }
    }

    /// Decodes `bytes` from an encoding with an `iconvName`: the text, or the offset of the first
    /// byte that is not a character of it.
    public typealias LegacyDecoder = @Sendable ([UInt8], String) -> Result<String, LegacyFailure>
    public struct LegacyFailure: Error, Sendable {
        public var offset: Int?
        public init(offset: Int?) { self.offset = offset }
    }

    public static func decode(
        _ bytes: [UInt8], file: String, encoding: Encoding = .auto, legacy: LegacyDecoder? = nil
    ) throws(Diagnostic) -> String {
        if let name = encoding.iconvName { return try decode(bytes, iconv: name, encoding, file: file, legacy) }
        switch encoding {
        case .auto:
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return try utf8(bytes[3...], file: file) }
            if bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) || bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) {
                throw .error(
                    "UTF-32 text is not supported; save the file as UTF-8 or UTF-16",
                    at: SourceLocation(file: file, line: 1, column: 1))
            }
            if bytes.starts(with: [0xFF, 0xFE]) { return try utf16(bytes[2...], bigEndian: false, file: file) }
            if bytes.starts(with: [0xFE, 0xFF]) { return try utf16(bytes[2...], bigEndian: true, file: file) }
            // UTF-16 without a BOM shows in its first bytes: ASCII text has its zero bytes all at odd
            // (LE) or all at even (BE) offsets. A NUL further on in UTF-8 is refused by the lexer.
            let head = bytes.prefix(4096)
            if head.contains(0) {
                var even = 0, odd = 0
                for (i, b) in head.enumerated() where b == 0 { if i % 2 == 0 { even += 1 } else { odd += 1 } }
                if bytes.count % 2 == 0, odd > 0, even == 0 {
                    return try utf16(bytes[...], bigEndian: false, file: file)
                }
                if bytes.count % 2 == 0, even > 0, odd == 0 {
                    return try utf16(bytes[...], bigEndian: true, file: file)
                }
                let at = bytes.firstIndex(of: 0)!
                throw .error(
                    "NUL byte at offset \(at): not a text file (or an encoding rampart cannot tell; see --encoding)",
                    at: location(ofByte: at, in: bytes[...], file: file))
            }
            return try utf8(bytes[...], file: file)
        case .utf8:
            return try utf8(bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes[3...] : bytes[...], file: file)
        case .utf16le:
            return try utf16(bytes.starts(with: [0xFF, 0xFE]) ? bytes[2...] : bytes[...], bigEndian: false, file: file)
        case .utf16be:
            return try utf16(bytes.starts(with: [0xFE, 0xFF]) ? bytes[2...] : bytes[...], bigEndian: true, file: file)
        case .latin1:
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case .cp1252:
            var scalars = String.UnicodeScalarView()
            for (i, b) in bytes.enumerated() {
                guard let s = cp1252(b) else {
                    throw .error(
                        "byte 0x\(hex(b)) is not a character in Windows-1252",
                        at: location(ofByte: i, in: bytes[...], file: file))
                }
                scalars.append(s)
            }
            return String(scalars)
        default:
            preconditionFailure("\(encoding) has an iconv name")
        }
    }

    static func decode(
        _ bytes: [UInt8], iconv name: String, _ encoding: Encoding, file: String, _ legacy: LegacyDecoder?
    ) throws(Diagnostic) -> String {
        guard let legacy else {
            throw .error(
                "\(encoding) is decoded by the rampart command only", at: SourceLocation(file: file, line: 1, column: 1)
            )
        }
        switch legacy(bytes, name) {
        case .success(let text): return text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        case .failure(let failure):
            guard let at = failure.offset else {
                throw .error(
                    "this system cannot decode \(encoding) (iconv)", at: SourceLocation(file: file, line: 1, column: 1))
            }
            throw .error(
                "byte 0x\(hex(bytes[min(at, bytes.count - 1)])) is not a character in \(encoding): is the file in another encoding?",
                at: location(ofByte: at, in: bytes[...], file: file))
        }
    }

    static func utf8(_ bytes: ArraySlice<UInt8>, file: String) throws(Diagnostic) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        // Invalid: find the first bad byte to name its place.
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var scalars = String.UnicodeScalarView()
        var offset = bytes.startIndex
        var consumed = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s):
                scalars.append(s)
                consumed += UTF8.width(s)
            case .emptyInput:
                return String(scalars)
            case .error:
                offset = bytes.startIndex + consumed
                throw .error(
                    "invalid UTF-8 (byte 0x\(hex(bytes[offset]))): save the file as UTF-8, or name its encoding with --encoding NAME",
                    at: location(ofByte: offset, in: bytes, file: file))
            }
        }
    }

    static func utf16(_ bytes: ArraySlice<UInt8>, bigEndian: Bool, file: String) throws(Diagnostic) -> String {
        guard bytes.count % 2 == 0 else {
            throw .error(
                "UTF-16 text with an odd number of bytes (\(bytes.count)): the file is truncated",
                at: SourceLocation(file: file, line: 1, column: 1))
        }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let a = UInt16(bytes[i]), b = UInt16(bytes[i + 1])
            units.append(bigEndian ? a << 8 | b : b << 8 | a)
            i += 2
        }
        var decoder = UTF16()
        var iterator = units.makeIterator()
        var scalars = String.UnicodeScalarView()
        var line = 1, column = 1
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s):
                scalars.append(s)
                if s == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput:
                return String(scalars)
            case .error:
                throw .error(
                    "invalid UTF-16 (an unpaired surrogate)", at: SourceLocation(file: file, line: line, column: column)
                )
            }
        }
    }

    /// Line and column (in characters, as far as they decode) of byte `offset`.
    public static func location(ofByte offset: Int, in bytes: ArraySlice<UInt8>, file: String) -> SourceLocation {
        let before = bytes[bytes.startIndex..<offset]
        let lineStart = before.lastIndex(of: 0x0A).map { $0 + 1 } ?? bytes.startIndex
        let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1
        return SourceLocation(file: file, line: line, column: column)
    }

    static func hex(_ b: UInt8) -> String {
        let s = String(b, radix: 16, uppercase: true)
        return s.count == 1 ? "0" + s : s
    }

    /// Windows-1252: Latin-1 but for 0x80–0x9F, five of which are unassigned.
    static func cp1252(_ b: UInt8) -> Unicode.Scalar? {
        guard (0x80...0x9F).contains(b) else { return Unicode.Scalar(b) }
        let table: [UInt32] = [
            0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,
            0x017D, 0,
            0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,
            0x017E, 0x0178
        ]
        let v = table[Int(b - 0x80)]
        return v == 0 ? nil : Unicode.Scalar(v)
    }
}

extension ScriptText.Encoding: CustomStringConvertible {
    public var description: String { rawValue }
}

/// What `exec` and `import` run, parsed in full first (by the CLI offline and by rampartd alike).
public enum ScriptPlan {
    /// A `.bat`/`.cmd` name, or a first command cmd.exe knows and netsh does not (`@echo off`, `REM`, `set`).
    static func isBatchFile(_ text: String, file: String) -> Bool {
        let lower = file.lowercased()
        if lower.hasSuffix(".bat") || lower.hasSuffix(".cmd") { return true }
        let lines = text.split(whereSeparator: \.isNewline).lazy.map { $0.drop { $0 == " " || $0 == "\t" } }
        guard let word = lines.first(where: { !$0.isEmpty })?.split(separator: " ").first?.lowercased() else {
            return false
        }
        return ["@echo", "echo", "rem", "::", "@rem", "setlocal", "@setlocal", "goto", "call", "if", "for"].contains(
            word)
    }

    /// A netsh script file. A file with no command at all is refused: it is nearly always the
    /// wrong file or a wrong encoding, and applying nothing with success would hide that.
    public static func exec(_ text: String, file: String) throws(Diagnostic) -> ParsedScript {
        let lines = ScriptRunner.lines(of: text, file: file)
        let script: ParsedScript
        do {
            script = try ScriptRunner.parse(lines)
        } catch {
            // A Windows batch file given to exec: the way on is import.
            var hinted = error
            if error.severity == .error, isBatchFile(text, file: file) {
                hinted.message += "; this looks like a Windows batch file: run it with 'rampart import \(file)'"
            }
            throw hinted
        }
        guard !script.commands.isEmpty else {
            throw .error(
                "no netsh command in the script (\(lines.count) line\(lines.count == 1 ? "" : "s") of comments, contexts or blanks); nothing was changed",
                at: SourceLocation(file: file, line: 1, column: 1))
        }
        return script
    }

    /// The netsh commands of a Windows batch file, and the lines skipped. `scriptPath`, the file's
    /// absolute path, is what `%0`, `%~dp0` and their kin expand to; without it they are refused.
    /// The absolute path of a batch file named `file` (as given) from `workingDirectory`; nil for `-`.
    public static func scriptPath(_ file: String, workingDirectory: String) -> String? {
        if file == "-" || file.isEmpty || file.hasPrefix("<") { return nil }
        return BatchImporter.normalize(file.hasPrefix("/") ? file : workingDirectory + "/" + file)
    }

    /// `import --extract`: the batch file's netsh commands as a netsh script for `exec`, each
    /// after a `# FILE:LINE` comment (`FILE:FIRST-LAST` for a command joined with `^`), with
    /// its variables expanded and its context (`netsh -c`, `pushd`) spelled out.
    public static func extract(
        _ text: String, file: String, defines: [String: String], scriptPath: String? = nil
    ) throws(Diagnostic) -> String {
        var importer = BatchImporter(defines: defines, scriptPath: scriptPath)
        let extracted = try importer.extract(text, file: file)
        var out = ""
        for line in extracted.registry {
            out +=
                "# \(line.location.file):\(line.location.line) writes Windows' policy store (rampart import converts it): reg\(line.arguments)\n"
        }
        for command in extracted.commands {
            let lines = command.line.origins.map(\.line)
            let first = lines.min() ?? command.line.end.line, last = lines.max() ?? first
            out += "# \(command.line.file):\(first)\(last > first ? "-\(last)" : "")\n"
            let prefix = command.context == .root ? "" : "\(command.context) "
            let words = command.line.characters.drop { $0 == " " || $0 == "\t" }
            out += prefix + String(words.reversed().drop { $0 == " " || $0 == "\t" }.reversed()) + "\n"
        }
        return out
    }

    /// The batch file as the importer reads it: its netsh commands, `reg` lines for the policy
    /// store and the lines skipped.
    public static func batch(
        _ text: String, file: String, defines: [String: String], scriptPath: String? = nil
    ) throws(Diagnostic) -> BatchImporter.Result {
        var importer = BatchImporter(defines: defines, scriptPath: scriptPath)
        return try importer.extract(text, file: file)
    }

    public static func `import`(
        _ text: String, file: String, defines: [String: String], scriptPath: String? = nil
    ) throws(Diagnostic) -> (script: ParsedScript, skipped: [BatchImporter.Skipped]) {
        do throws(Diagnostic) {
            var importer = BatchImporter(defines: defines, scriptPath: scriptPath)
            let extracted = try importer.extract(text, file: file)
            if let first = extracted.registry.first {
                // The conversion lives in RampartMigration, which the CLI runs before it asks rampartd.
                throw Diagnostic.error(
                    "this batch file writes Windows' IPsec policy store with reg (\(extracted.registry.count) line\(extracted.registry.count == 1 ? "" : "s")); run 'rampart import \(file)', which converts them",
                    at: first.location)
            }
            let script = try ScriptRunner.parse(commands: extracted.commands)
            guard !script.commands.isEmpty else {
                throw Diagnostic.error(
                    "no netsh ipsec command in the batch file (\(extracted.skipped.count) line\(extracted.skipped.count == 1 ? "" : "s") skipped); nothing was changed",
                    at: SourceLocation(file: file, line: 1, column: 1))
            }
            return (script, extracted.skipped)
        } catch {
            // A netsh script given to import: its lines are not batch commands; exec runs them.
            guard (try? exec(text, file: file))?.commands.isEmpty == false else { throw error }
            var hinted = error
            hinted.message += "; this is a netsh script, not a batch file: run it with 'rampart exec \(file)'"
            throw hinted
        }
    }
}
