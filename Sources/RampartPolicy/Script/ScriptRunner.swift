/// A script parsed in full before anything runs: every command resolved against the command
/// table, so what a script would do (and who may run it) is known from its parse, not its text.
public struct ParsedScript: Sendable {
    public var commands: [ParsedCommand] = []
    /// Warnings found while parsing (`popd` without `pushd`).
    public var warnings: [Diagnostic] = []

    public init(commands: [ParsedCommand] = [], warnings: [Diagnostic] = []) {
        self.commands = commands
        self.warnings = warnings
    }

    /// True when no command changes the store or the runtime state.
    public var isQuery: Bool { commands.allSatisfy { $0.spec.access == .query } }
}

/// Runs netsh script files (`netsh -f` / `netsh exec` style): one command per line, `#` comments,
/// `pushd`/`popd` and bare context lines, commands relative to the current context, `exit`.
public enum ScriptRunner {
    /// Splits text into physical lines, dropping a UTF-8 BOM; LF, CRLF and CR-only endings all end a line.
    public static func lines(of text: String, file: String) -> [SourceLine] {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        var out: [SourceLine] = []
        // Split on the UTF-8 bytes: CR and LF never occur inside a multi-byte sequence.
        let bytes = body.utf8
        var start = bytes.startIndex
        var i = start
        func emit(_ end: String.UTF8View.Index) {
            out.append(SourceLine(file: file, line: out.count + 1, text: String(Substring(bytes[start..<end]))))
        }
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == 0x0A || b == 0x0D {
                emit(i)
                var next = bytes.index(after: i)
                if b == 0x0D, next < bytes.endIndex, bytes[next] == 0x0A { next = bytes.index(after: next) }
                start = next
                i = next
            } else {
                i = bytes.index(after: i)
            }
        }
        emit(bytes.endIndex)
        if out.last?.characters.isEmpty == true { out.removeLast() }
        return out
    }

    /// Parses every line; the first error is thrown and nothing has run.
    public static func parse(
        _ lines: [SourceLine], context start: NetshContext = .root
    ) throws(Diagnostic) -> ParsedScript {
        var script = ParsedScript()
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
                if tokens.count > 1 {
                    context = try CommandParser.resolveContext(Array(tokens.dropFirst()), from: context)
                }
                continue
            case "popd":
                if let previous = stack.popLast() {
                    context = previous
                } else {
                    script.warnings.append(.warning("popd without a matching pushd", at: first.location))
                }
                continue
            case "exit", "quit", "bye":
                return script
            default:
                break
            }
            if let newContext = try? CommandParser.resolveContext(tokens, from: context) {
                context = newContext
                continue
            }
            script.commands.append(try CommandParser.parse(tokens, context: context, line: line))
        }
        return script
    }

    /// Parses independent command lines, each from its own starting context (batch-file commands).
    public static func parse(commands: [(SourceLine, NetshContext)]) throws(Diagnostic) -> ParsedScript {
        try parse(commands: commands.map { BatchImporter.Command(line: $0.0, context: $0.1) })
    }

    public static func parse(commands: [BatchImporter.Command]) throws(Diagnostic) -> ParsedScript {
        var script = ParsedScript()
        for c in commands {
            do {
                let tokens = try Lexer.tokenize(c.line)
                guard !tokens.isEmpty else { continue }
                var parsed = try CommandParser.parse(tokens, context: c.context, line: c.line)
                parsed.directory = c.directory
                script.commands.append(parsed)
            } catch {
                throw began(error, c.line)
            }
        }
        return script
    }

    /// An error in a command that `^` joined from several physical lines says where it began.
    static func began(_ error: Diagnostic, _ line: SourceLine) -> Diagnostic {
        let start = line.location(at: 0)
        guard let at = error.location, at.line != start.line, at.file == start.file else { return error }
        var said = error
        said.message += " (this command began at line \(start.line), joined with ^)"
        return said
    }

    /// Runs a parsed script; the first error stops it and is thrown.
    public static func run(_ script: ParsedScript, in interpreter: inout Interpreter) throws(Diagnostic) {
        for w in script.warnings { interpreter.warn(w.message, at: w.location) }
        for command in script.commands { try interpreter.execute(command) }
    }

    /// Parses, then runs, every line against `interpreter`.
    public static func run(
        _ lines: [SourceLine], in interpreter: inout Interpreter,
        context start: NetshContext = .root
    ) throws(Diagnostic) {
        try run(parse(lines, context: start), in: &interpreter)
    }

    /// Parses, then runs, independent command lines.
    public static func run(commands: [BatchImporter.Command], in interpreter: inout Interpreter) throws(Diagnostic) {
        try run(parse(commands: commands), in: &interpreter)
    }

    /// Builds the line for a command given as program arguments (`rampart static add filter …`).
    /// Each argument stays one word whatever it holds: a value with a blank of any kind (space,
    /// tab, newline, no-break space) or `=` is quoted, and what cannot be quoted — a double quote
    /// or a control character — is refused. So the words the shell passed are the words parsed.
    public static func commandLine(arguments: [String]) throws(Diagnostic) -> SourceLine {
        let file = "<command line>"
        var characters: [Character] = []
        var origins: [SourceLocation] = []
        func here() -> SourceLocation { SourceLocation(file: file, line: 1, column: characters.count + 1) }
        func put(_ c: Character) {
            origins.append(here())
            characters.append(c)
        }
        func append(_ text: String) throws(Diagnostic) {
            for c in text {
                if c == "\"" {
                    throw .error("a double quote cannot be part of a value (netsh has no escape for it)", at: here())
                }
                if Lexer.isForbiddenControl(c) { throw Lexer.controlError(c, at: here()) }
            }
            let needsQuotes = text.isEmpty || text.contains(where: { Lexer.isBlank($0) || $0 == "=" })
            if needsQuotes { put("\"") }
            for c in text { put(c) }
            if needsQuotes { put("\"") }
        }
        for (i, arg) in arguments.enumerated() {
            if i > 0 { put(" ") }
            if arg == "=" {
                put("=")
            } else if let eq = arg.firstIndex(of: "="), eq != arg.startIndex {
                let tag = String(arg[..<eq])
                if tag.contains(where: { Lexer.isBlank($0) }) {
                    try append(arg)
                    continue
                }
                try append(tag)
                put("=")
                let value = String(arg[arg.index(after: eq)...])
                if !value.isEmpty { try append(value) }
            } else {
                try append(arg)
            }
        }
        return SourceLine(file: file, characters: characters, origins: origins, end: here())
    }
}
