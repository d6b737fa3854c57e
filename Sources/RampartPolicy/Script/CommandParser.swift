/// A value given to a parameter, tagged (`name=x`) or not.
public struct CommandArgument: Hashable, Sendable {
    public var tag: String?
    public var value: String
    public var quoted: Bool
    /// Where the value starts; errors about the value point here.
    public var location: SourceLocation
}

/// A command resolved against the command table with its arguments bound to parameters.
public struct ParsedCommand: Sendable {
    public var spec: CommandSpec
    public var location: SourceLocation
    public var end: SourceLocation
    public var arguments: [String: [CommandArgument]]
    /// Notes from binding (joined free-text words) to surface as warnings.
    public var warnings: [Diagnostic] = []
    /// Set for a batch-file command after a followed `cd`/`pushd`: where its relative paths resolve.
    public var directory: BatchDirectory?

    public func first(_ name: String) -> CommandArgument? { arguments[name]?.first }
    public func has(_ name: String) -> Bool { arguments[name] != nil }
}

/// The folder a batch file changed to before a command (`cd /d "%~dp0"`).
public enum BatchDirectory: Sendable, Equatable {
    case path(String)
    /// A `cd` rampart cannot follow (a Windows drive path): relative paths after it are refused.
    case unfollowed(String, at: SourceLocation)
}

/// Where relative commands resolve: the netsh root, `ipsec`, `ipsec static` or `ipsec dynamic`.
public enum NetshContext: Hashable, Sendable, CustomStringConvertible {
    case root, ipsec, `static`, dynamic

    public var parent: NetshContext? {
        switch self {
        case .root: return nil
        case .ipsec: return .root
        case .static, .dynamic: return .ipsec
        }
    }

    public var description: String {
        switch self {
        case .root: return "netsh"
        case .ipsec: return "ipsec"
        case .static: return "ipsec static"
        case .dynamic: return "ipsec dynamic"
        }
    }

    /// The words accepted at this level, before verbs.
    var childWords: [String] {
        switch self {
        case .root: return ["ipsec"]
        case .ipsec: return ["static", "dynamic", "dump"]
        case .static: return CommandSpec.verbs(in: .static)
        case .dynamic: return CommandSpec.verbs(in: .dynamic)
        }
    }
}

public enum CommandParser {
    /// Resolves a context path such as `ipsec static` (for `pushd`), relative to `context`.
    public static func resolveContext(_ tokens: [Token], from context: NetshContext) throws(Diagnostic) -> NetshContext
    {
        var current = startContext(for: tokens, from: context)
        for token in tokens {
            guard token.kind == .word, !token.quoted else {
                throw .error("expected a context name, found '\(token.text)'", at: token.location)
            }
            if current == .root, isNetsh(token.text) { continue }
            switch (
                current,
                KeywordMatch(
                    token.text, in: current == .root ? ["ipsec"] : current == .ipsec ? ["static", "dynamic"] : [])
            ) {
            case (.root, .found): current = .ipsec
            case (.ipsec, .found("static")): current = .static
            case (.ipsec, .found("dynamic")): current = .dynamic
            default:
                throw .error(
                    "'\(token.text)' is not an ipsec context (expected ipsec, ipsec static or ipsec dynamic)",
                    at: token.location)
            }
        }
        return current
    }

    static func isNetsh(_ word: String) -> Bool {
        let w = word.lowercased()
        return w == "netsh" || w == "netsh.exe"
    }

    /// Picks the context a command line starts from: the current one, or the nearest parent that
    /// knows the first word (netsh lets `dynamic …` be typed inside `ipsec static`).
    static func startContext(for tokens: [Token], from context: NetshContext) -> NetshContext {
        guard let first = tokens.first, first.kind == .word, !first.quoted else { return context }
        if isNetsh(first.text) { return .root }
        var candidate: NetshContext? = context
        while let c = candidate {
            if case .found = KeywordMatch(first.text, in: c.childWords) { return c }
            candidate = c.parent
        }
        // `static …`/`dynamic …` at the netsh root: shorthand for `ipsec static …`, as on rampart's command line.
        if context == .root, case .found = KeywordMatch(first.text, in: ["static", "dynamic"]) { return .ipsec }
        return context
    }

    /// The words of a command line, taken one at a time.
    struct Cursor {
        let tokens: [Token]
        let end: SourceLocation
        var index = 0

        mutating func nextWord(_ expecting: String) throws(Diagnostic) -> Token {
            guard index < tokens.count else {
                throw .error("incomplete command: expected \(expecting)", at: end)
            }
            let t = tokens[index]
            guard t.kind == .word, !t.quoted else {
                throw .error("expected \(expecting), found '\(t.text)'", at: t.location)
            }
            index += 1
            return t
        }
    }

    /// Parses one command line relative to `context`.
    public static func parse(
        _ tokens: [Token], context: NetshContext, line: SourceLine
    ) throws(Diagnostic) -> ParsedCommand {
        guard !tokens.isEmpty else { throw .error("empty command", at: line.end) }
        var cursor = Cursor(tokens: tokens, end: line.end)
        let ctx = try commandContext(&cursor, from: startContext(for: tokens, from: context))
        let verbToken = try cursor.nextWord("a command")
        let verbs = CommandSpec.verbs(in: ctx)
        let verb: String
        switch KeywordMatch(verbToken.text, in: verbs) {
        case .found(let v): verb = v
        case .ambiguous(let c): throw ambiguous(verbToken, c)
        case .none:
            throw .error(
                "unknown command '\(verbToken.text)' in '\(ctx == .ipsec ? "ipsec" : "ipsec " + ctx.rawValue)'; expected one of: \(verbs.joined(separator: ", "))",
                at: verbToken.location)
        }
        let nouns = CommandSpec.nouns(in: ctx, verb: verb)
        var noun: String?
        if !nouns.isEmpty {
            let nounToken = try cursor.nextWord("what to \(verb) (\(nouns.joined(separator: ", ")))")
            switch KeywordMatch(nounToken.text, in: nouns) {
            case .found(let n): noun = n
            case .ambiguous(let c): throw ambiguous(nounToken, c)
            case .none:
                throw .error(
                    "'\(ctx.rawValue) \(verb)' has no object '\(nounToken.text)'; expected one of: \(nouns.joined(separator: ", "))",
                    at: nounToken.location)
            }
        }
        guard let spec = CommandSpec.lookup(context: ctx, verb: verb, noun: noun) else {
            throw .error("unknown command", at: verbToken.location)
        }
        var command = ParsedCommand(spec: spec, location: tokens[0].location, end: line.end, arguments: [:])
        try bind(Array(tokens[cursor.index...]), into: &command)
        return command
    }

    /// Walks `netsh ipsec static|dynamic` from `start` to the context whose commands follow.
    static func commandContext(
        _ cursor: inout Cursor, from start: NetshContext
    ) throws(Diagnostic) -> CommandSpec.Context {
        var current = start
        while true {
            switch current {
            case .root:
                let t = try cursor.nextWord("'ipsec'")
                if isNetsh(t.text) { continue }
                guard case .found = KeywordMatch(t.text, in: ["ipsec"]) else {
                    throw .error(
                        "'\(t.text)' is not a netsh ipsec command (rampart speaks only the ipsec context)",
                        at: t.location)
                }
                current = .ipsec
            case .ipsec:
                let t = try cursor.nextWord("'static', 'dynamic' or 'dump'")
                switch KeywordMatch(t.text, in: ["static", "dynamic", "dump"]) {
                case .found("static"): current = .static
                case .found("dynamic"): current = .dynamic
                case .found:
                    cursor.index -= 1
                    return .ipsec
                case .ambiguous(let c): throw ambiguous(t, c)
                case .none:
                    throw .error(
                        "unknown command '\(t.text)' in 'ipsec'; expected static, dynamic or dump", at: t.location)
                }
            case .static: return .static
            case .dynamic: return .dynamic
            }
        }
    }

    static func ambiguous(_ t: Token, _ candidates: [String]) -> Diagnostic {
        .error("'\(t.text)' is ambiguous: it could be \(candidates.sorted().joined(separator: ", "))", at: t.location)
    }

    /// `name=value`: the parameter the name abbreviates, given once unless it repeats.
    static func bindTagged(_ t: Token, value valueToken: Token, into command: inout ParsedCommand) throws(Diagnostic) {
        let params = command.spec.parameters
        let name: String
        switch KeywordMatch(t.text, in: params.map(\.name)) {
        case .found(let n): name = n
        case .ambiguous(let c): throw ambiguous(t, c)
        case .none:
            let known = params.map(\.name)
            throw .error(
                "'\(command.spec.name)' has no parameter '\(t.text)'"
                    + (known.isEmpty ? "" : "; parameters: \(known.joined(separator: ", "))"), at: t.location)
        }
        let spec = params.first { $0.name == name }!
        if command.arguments[name] != nil && !spec.repeatable {
            // PowerShell's 'quoted words' are not netsh quoting: their words become values of their own.
            let quotes =
                command.arguments.values.joined().contains { $0.value.contains("'") } || valueToken.text.contains("'")
            throw .error(
                "parameter '\(name)' given twice"
                    + (quotes ? "; single quotes are not netsh quoting: use double quotes (\"…\")" : ""),
                at: t.location)
        }
        command.arguments[name, default: []].append(
            CommandArgument(tag: name, value: valueToken.text, quoted: valueToken.quoted, location: valueToken.location)
        )
    }

    /// Binds `tag=value` and untagged values to the command's parameters.
    static func bind(_ tokens: [Token], into command: inout ParsedCommand) throws(Diagnostic) {
        let params = command.spec.parameters
        var index = 0
        var sawTagged = false
        var lastFreeText: String?
        var joinedWords = 0
        while index < tokens.count {
            let t = tokens[index]
            if t.kind == .equals {
                throw .error("'=' without a parameter name before it", at: t.location)
            }
            let isTagged = index + 1 < tokens.count && tokens[index + 1].kind == .equals
            if isTagged {
                if t.quoted { throw .error("a parameter name cannot be quoted", at: t.location) }
                guard index + 2 < tokens.count, tokens[index + 2].kind == .word else {
                    let at = index + 2 < tokens.count ? tokens[index + 2].location : command.end
                    throw .error("missing value for '\(t.text)'", at: at)
                }
                try bindTagged(t, value: tokens[index + 2], into: &command)
                sawTagged = true
                lastFreeText = nil
                index += 3
                continue
            }
            // An untagged value right after free text (after tagged values) joins that text.
            if let free = lastFreeText, sawTagged {
                command.arguments[free]![0].value += " " + t.text
                joinedWords += 1
                index += 1
                continue
            }
            if let rest = params.first(where: { $0.rest }), command.arguments[rest.name] != nil {
                command.arguments[rest.name]![0].value += " " + t.text
                index += 1
                continue
            }
            guard let target = params.first(where: { !$0.taggedOnly && command.arguments[$0.name] == nil }) else {
                throw .error(
                    "unexpected value '\(t.text)': every parameter of '\(command.spec.name)' is already given",
                    at: t.location)
            }
            command.arguments[target.name] = [
                CommandArgument(tag: nil, value: t.text, quoted: t.quoted, location: t.location)
            ]
            lastFreeText = target.freeText ? target.name : nil
            index += 1
        }
        if joinedWords > 0,
            let free = command.arguments.first(where: { name, _ in params.first { $0.name == name }?.freeText == true })
        {
            command.warnings.append(
                .warning(
                    "unquoted words joined into \(free.key) \"\(free.value[0].value)\"", at: free.value[0].location))
        }
    }
}
