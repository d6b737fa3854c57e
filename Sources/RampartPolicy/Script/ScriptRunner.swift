/// Runs netsh script files (`netsh -f` / `netsh exec` style): one command per line, `#` comments,
/// `pushd`/`popd` and bare context lines, commands relative to the current context, `exit`.
public enum ScriptRunner {
    /// Splits text into physical lines, dropping a UTF-8 BOM and CR of CRLF endings.
    public static func lines(of text: String, file: String) -> [SourceLine] {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        var out: [SourceLine] = []
        var number = 0
        for raw in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            var line = raw
            if line.last == "\r" { line = line.dropLast() }
            out.append(SourceLine(file: file, line: number, text: String(line)))
        }
        if out.last?.characters.isEmpty == true { out.removeLast() }
        return out
    }

    /// Runs every line against `interpreter`; the first error stops the run and is thrown.
    public static func run(_ lines: [SourceLine], in interpreter: inout Interpreter,
                           context start: NetshContext = .root) throws(Diagnostic) {
        var context = start
        var stack: [NetshContext] = []
        for line in lines {
            let tokens = try Lexer.tokenize(line)
            guard let first = tokens.first else { continue }
            if first.kind == .word, !first.quoted, first.text.hasPrefix("#") { continue }
            let keyword = first.kind == .word && !first.quoted ? first.text.lowercased() : ""
            switch keyword {
            case "pushd":
                stack.append(context)
                if tokens.count > 1 { context = try CommandParser.resolveContext(Array(tokens.dropFirst()), from: context) }
                continue
            case "popd":
                if let previous = stack.popLast() {
                    context = previous
                } else {
                    interpreter.warn("popd without a matching pushd", at: first.location)
                }
                continue
            case "exit", "quit", "bye":
                return
            default:
                break
            }
            if let newContext = try? CommandParser.resolveContext(tokens, from: context) {
                context = newContext
                continue
            }
            let command = try CommandParser.parse(tokens, context: context, line: line)
            try interpreter.execute(command)
        }
    }

    /// Runs independent command lines, each from its own starting context (batch-file commands).
    public static func run(commands: [(SourceLine, NetshContext)], in interpreter: inout Interpreter) throws(Diagnostic) {
        for (line, context) in commands {
            let tokens = try Lexer.tokenize(line)
            guard !tokens.isEmpty else { continue }
            let command = try CommandParser.parse(tokens, context: context, line: line)
            try interpreter.execute(command)
        }
    }

    /// Builds the line for a command given as program arguments (`rampart static add filter …`).
    /// Each argument is one word; a `tag=value` argument keeps blanks in its value, as the shell quoted it.
    public static func commandLine(arguments: [String]) -> SourceLine {
        let file = "<command line>"
        var characters: [Character] = []
        var origins: [SourceLocation] = []
        func append(_ text: String, quoted: Bool) {
            let needsQuotes = quoted || text.isEmpty || text.contains(where: { $0 == " " || $0 == "\t" || $0 == "=" })
            if needsQuotes { characters.append("\""); origins.append(SourceLocation(file: file, line: 1, column: characters.count)) }
            for c in text {
                characters.append(c)
                origins.append(SourceLocation(file: file, line: 1, column: characters.count))
            }
            if needsQuotes { characters.append("\""); origins.append(SourceLocation(file: file, line: 1, column: characters.count)) }
        }
        for (i, arg) in arguments.enumerated() {
            if i > 0 { characters.append(" "); origins.append(SourceLocation(file: file, line: 1, column: characters.count)) }
            if arg == "=" {
                characters.append("=")
                origins.append(SourceLocation(file: file, line: 1, column: characters.count))
            } else if let eq = arg.firstIndex(of: "="), eq != arg.startIndex {
                append(String(arg[..<eq]), quoted: false)
                characters.append("=")
                origins.append(SourceLocation(file: file, line: 1, column: characters.count))
                let value = String(arg[arg.index(after: eq)...])
                if !value.isEmpty { append(value, quoted: value.contains(" ") || value.contains("=")) }
            } else {
                append(arg, quoted: arg.contains(" ") || arg.contains("\t") || (arg.contains("=") && arg != "="))
            }
        }
        return SourceLine(file: file, characters: characters, origins: origins,
                          end: SourceLocation(file: file, line: 1, column: characters.count + 1))
    }
}
