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
    public static func tokenize(_ line: SourceLine) throws(Diagnostic) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        let chars = line.characters
        while index < chars.count {
            let c = chars[index]
            if c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\u{00A0}" {
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
                        text.append(chars[index])
                        index += 1
                    }
                    guard index < chars.count else {
                        throw .error("unterminated double quote", at: line.location(at: open))
                    }
                    index += 1
                    continue
                }
                if d == " " || d == "\t" || d == "\r" || d == "\n" || d == "=" || d == "\u{00A0}" { break }
                text.append(d)
                index += 1
            }
            tokens.append(Token(kind: .word, text: text, quoted: quoted, location: line.location(at: start)))
        }
        return tokens
    }
}
