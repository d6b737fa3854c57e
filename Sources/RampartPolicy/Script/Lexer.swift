/// One token of a netsh command line.
public struct Token: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case word
        case equals
    }

    public var kind: Kind
    public var text: String
    /// True when any part of the word was inside double quotes: such a word is never a keyword or a tag.
    public var quoted: Bool
    public var location: SourceLocation

    public init(kind: Kind, text: String, quoted: Bool, location: SourceLocation) {
        self.kind = kind
        self.text = text
        self.quoted = quoted
        self.location = location
    }
}

/// Splits a line the way netsh does: blanks separate words, `=` stands alone (so `name = x`
/// and `name=x` are the same), and double quotes group blanks and `=` into a word.
public enum Lexer {
    /// The characters that separate words. A value holding one must be quoted to stay one word.
    public static func isBlank(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\r\n" || c == "\u{00A0}"
    }

    /// Control characters other than blanks (NUL, ESC, DEL, C1…) have no place in a netsh
    /// command; inside a name they would forge log lines or dump output.
    public static func isForbiddenControl(_ c: Character) -> Bool {
        if let ascii = c.asciiValue {
            return (ascii < 0x20 || ascii == 0x7F) && ascii != 0x09 && ascii != 0x0A && ascii != 0x0D
        }
        // U+2028 and U+2029 end a line for Unicode-aware readers of the log and the journal.
        if c.unicodeScalars.contains(where: {
            [.lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory)
        }) {
            return true
        }
        return !isBlank(c) && c.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    public static func tokenize(_ line: SourceLine) throws(Diagnostic) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        let chars = line.characters
        while index < chars.count {
            let c = chars[index]
            if isForbiddenControl(c) { throw controlError(c, at: line.location(at: index)) }
            if isBlank(c) {
                index += 1
                continue
            }
            if c == "=" {
                tokens.append(Token(kind: .equals, text: "=", quoted: false, location: line.location(at: index)))
                index += 1
                continue
            }
            let start = index
            var text = ""
            var quoted = false
            while index < chars.count {
                let d = chars[index]
                if d == "\"" {
                    quoted = true
                    let open = index
                    index += 1
                    while index < chars.count && chars[index] != "\"" {
                        if isForbiddenControl(chars[index]) {
                            throw controlError(chars[index], at: line.location(at: index))
                        }
                        text.append(chars[index])
                        index += 1
                    }
                    guard index < chars.count else {
                        throw .error("unterminated double quote", at: line.location(at: open))
                    }
                    index += 1
                    continue
                }
                if isBlank(d) || d == "=" { break }
                if isForbiddenControl(d) { throw controlError(d, at: line.location(at: index)) }
                text.append(d)
                index += 1
            }
            tokens.append(Token(kind: .word, text: text, quoted: quoted, location: line.location(at: start)))
        }
        return tokens
    }

    static func controlError(_ c: Character, at location: SourceLocation) -> Diagnostic {
        let code = c.unicodeScalars.first.map { String($0.value, radix: 16, uppercase: true) } ?? "?"
        return .error(
            "control character U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code) is not allowed in a command",
            at: location)
    }
}
