/// Extracts the `netsh ipsec` commands from a Windows .bat/.cmd file. It follows what is safe to
/// follow (`^` continuation, `set NAME=value`, `%VAR%`, `&&`/`||`/`&` chains, redirections), lists
/// every line it skips and why, and refuses control flow it cannot follow rather than guess.
public struct BatchImporter {
    /// A line that runs no netsh command: skipped, or followed (`set`, `cd`) without a command.
    public struct Skipped: Sendable, Equatable {
        public var location: SourceLocation
        public var text: String
        public var reason: String
        /// Followed (its effect carries to later lines) rather than ignored.
        public var followed: Bool = false

        public var listing: String { "\(location): \(followed ? "followed" : "skipped") (\(reason)): \(text)" }
    }

    /// One netsh command line (starting after the netsh program name), its starting context and
    /// the folder a followed `cd` left (nil: the caller's working directory).
    public struct Command: Sendable {
        public var line: SourceLine
        public var context: NetshContext
        public var directory: BatchDirectory?

        public init(line: SourceLine, context: NetshContext, directory: BatchDirectory? = nil) {
            self.line = line
            self.context = context
            self.directory = directory
        }
    }

    /// A `reg add` / `reg delete` line for Windows' IPsec policy store: the words after the
    /// program, for RampartMigration's `RegCommands`, and how many netsh commands came before it.
    public struct RegistryLine: Sendable, Equatable {
        public var location: SourceLocation
        public var arguments: String
        public var afterCommands: Int
    }

    public struct Result: Sendable {
        public var commands: [Command] = []
        public var registry: [RegistryLine] = []
        public var skipped: [Skipped] = []
        public var variables: [String: String] = [:]
    }

    public var variables: [String: String]
    /// The names given with --define: they answer a `set /p` prompt.
    let defined: Set<String>
    /// The batch file's absolute path: `%0` and `%~dp0` name it.
    public var scriptPath: String?
    /// Where `cd` and `pushd` left the batch file; nil until one is followed.
    var directory: BatchDirectory?
    var directoryStack: [BatchDirectory?] = []

    /// - Parameter defines: `--define NAME=VALUE` values; `set` lines in the file override them.
    /// - Parameter scriptPath: the file's absolute path, for `%0`, `%~f0`, `%~dp0`, `%~n0`, `%~x0`.
    public init(defines: [String: String] = [:], scriptPath: String? = nil) {
        variables = [:]
        for (k, v) in defines { variables[k.uppercased()] = v }
        defined = Set(defines.keys.map { $0.uppercased() })
        self.scriptPath = scriptPath
    }

    public mutating func extract(_ text: String, file: String) throws(Diagnostic) -> Result {
        var result = Result()
        let physical = ScriptRunner.lines(of: text, file: file)
        var index = 0
        var exited = false
        while index < physical.count {
            var line = physical[index]
            index += 1
            // `^` at the end of a line (outside quotes) continues the command on the next line.
            // The quote state carries over the join, so each physical line is scanned once.
            var inQuotes = false
            var scanned = 0
            if continues(line.characters[...], inQuotes: &inQuotes), index < physical.count {
                // Joined in local arrays, each appended in place: linear in the text joined.
                var characters = line.characters
                var origins = line.origins
                var end = line.end
                repeat {
                    characters.removeLast()
                    origins.removeLast()
                    scanned = characters.count
                    let next = physical[index]
                    index += 1
                    characters += next.characters
                    origins += next.origins
                    end = next.end
                } while continues(characters[scanned...], inQuotes: &inQuotes) && index < physical.count
                line = SourceLine(file: line.file, characters: characters, origins: origins, end: end)
            }
            var chars = line.characters[...]
            while let f = chars.first, f == " " || f == "\t" || f == "@" { chars = chars.dropFirst() }
            if chars.isEmpty { continue }
            let offset = line.characters.count - chars.count
            let trimmed = SourceLine(
                file: file, characters: Array(chars), origins: Array(line.origins[offset...]), end: line.end)
            let textLine = trimmed.text
            if exited {
                result.skipped.append(.init(location: trimmed.location(at: 0), text: textLine, reason: "after exit"))
                continue
            }
            let word = firstWord(textLine).lowercased()
            if word == "rem" || textLine.hasPrefix("::") {
                result.skipped.append(.init(location: trimmed.location(at: 0), text: textLine, reason: "comment"))
                continue
            }
            if textLine.hasPrefix(":") {
                result.skipped.append(
                    .init(location: trimmed.location(at: 0), text: textLine, reason: "label (no goto follows it)"))
                continue
            }
            let expanded = try expand(trimmed)
            let segments = try split(expanded.line)
            for segment in segments {
                try handle(segment, unresolved: expanded.unresolved, into: &result, exited: &exited)
                if exited { break }
            }
        }
        result.variables = variables
        return result
    }

    // MARK: classification

    private static let skippedCommands: [String: String] = [
        "echo": "echo", "echo.": "echo", "setlocal": "setlocal (variables are followed)", "endlocal": "endlocal",
        "title": "title", "color": "color",
        "cls": "cls", "pause": "pause", "ver": "ver", "prompt": "prompt"
    ]

    enum Outcome {
        case command(SourceLine, NetshContext)
        case registry(String)
        case skip(String)
        case followed(String)
        case exit
    }

    private mutating func handle(
        _ segment: SourceLine, unresolved: [Unresolved], into result: inout Result, exited: inout Bool
    ) throws(Diagnostic) {
        var chars = segment.characters[...]
        while let f = chars.first, f == " " || f == "\t" || f == "@" { chars = chars.dropFirst() }
        let offset = segment.characters.count - chars.count
        let line = SourceLine(
            file: segment.file, characters: Array(chars), origins: Array(segment.origins[offset...]), end: segment.end)
        let text = line.text
        if text.trimmingBlanks.isEmpty { return }
        switch try classify(line, unresolved: unresolved) {
        case .command(let command, let context):
            result.commands.append(Command(line: command, context: context, directory: directory))
        case .registry(let arguments):
            result.registry.append(
                RegistryLine(location: line.location(at: 0), arguments: arguments, afterCommands: result.commands.count)
            )
        case .skip(let reason): result.skipped.append(.init(location: line.location(at: 0), text: text, reason: reason))
        case .followed(let reason):
            result.skipped.append(.init(location: line.location(at: 0), text: text, reason: reason, followed: true))
        case .exit:
            result.skipped.append(.init(location: line.location(at: 0), text: text, reason: "exit: end of script"))
            exited = true
        }
    }

    private mutating func classify(_ line: SourceLine, unresolved: [Unresolved]) throws(Diagnostic) -> Outcome {
        let start = line.location(at: 0)
        let program = firstWord(line.text)
        let lower = program.lowercased()
        if let reason = BatchImporter.skippedCommands[lower]
            ?? (lower.hasPrefix("echo.") || lower.hasPrefix("echo(") ? "echo" : nil)
        {
            return .skip(reason)
        }
        switch lower {
        case "goto", "if", "for", "call", "start", "shift":
            throw .error(
                "cannot follow '\(lower)' in a batch file: rampart imports straight-line scripts only; flatten it or run the netsh lines with 'rampart exec'",
                at: start)
        case "exit":
            return .exit
        case "set":
            try followSet(line, program: program)
            return .followed("set: variable")
        case "cd", "chdir", "pushd":
            return followDirectory(line, program: program, push: lower == "pushd")
        case "popd":
            guard let previous = directoryStack.popLast() else { return .skip("popd without pushd") }
            directory = previous
            return .followed("popd: back to \(describe(directory))")
        default: break
        }
        if isNetshProgram(program) {
            return try netshCommand(line, programLength: program.count, unresolved: unresolved)
        }
        if let base = programBase(program), base == "reg" || base == "reg.exe" {
            return try registryCommand(line, programLength: program.count, unresolved: unresolved)
        }
        try checkResolved(
            line, unresolved: unresolved, from: 0, to: min(program.count, line.characters.count),
            purpose: "the program name")
        return .skip("not a netsh command ('\(program)')")
    }

    private func isNetshProgram(_ word: String) -> Bool {
        programBase(word).map(CommandParser.isNetsh) ?? false
    }

    /// The program's file name, without its folder or quotes, lowercased.
    private func programBase(_ word: String) -> String? {
        var w = word
        if w.hasPrefix("\""), w.hasSuffix("\""), w.count >= 2 { w = String(w.dropFirst().dropLast()) }
        return (w.split(whereSeparator: { $0 == "\\" || $0 == "/" }).last.map(String.init) ?? w).lowercased()
    }

    static let policyStoreKey = "\\software\\policies\\microsoft\\windows\\ipsec\\policy\\local"

    /// `reg add|delete` of Windows' IPsec policy store is imported (`Result.registry`); other
    /// keys and other reg operations are skipped, saying why.
    private func registryCommand(
        _ line: SourceLine, programLength: Int, unresolved: [Unresolved]
    ) throws(Diagnostic) -> Outcome {
        let rest = String(line.characters[programLength...])
        let operation = firstWord(rest.trimmingBlanks).lowercased()
        guard operation == "add" || operation == "delete" else {
            return .skip(
                operation == "import"
                    ? "reg import: give that .reg file to 'rampart import'" : "reg \(operation): changes no policy")
        }
        let lower = rest.lowercased()
        guard
            lower.contains(Self.policyStoreKey + "\"") || lower.contains(Self.policyStoreKey + "\\")
                || lower.contains(Self.policyStoreKey + " ") || lower.hasSuffix(Self.policyStoreKey)
        else {
            return .skip("reg \(operation): a key outside Windows' IPsec policy store")
        }
        try checkResolved(
            line, unresolved: unresolved, from: programLength, to: line.characters.count, purpose: "the reg command")
        return .registry(rest)
    }

    private func netshCommand(
        _ line: SourceLine, programLength: Int, unresolved: [Unresolved]
    ) throws(Diagnostic) -> Outcome {
        var rest = line.characters[programLength...]
        while let f = rest.first, f == " " || f == "\t" { rest = rest.dropFirst() }
        let restOffset = line.characters.count - rest.count
        var command = SourceLine(
            file: line.file, characters: Array(rest), origins: Array(line.origins[restOffset...]), end: line.end)
        let tokens = try Lexer.tokenize(command)
        guard let first = tokens.first else {
            return .skip("netsh without a command (interactive)")
        }
        var context = NetshContext.root
        if first.kind == .word, !first.quoted, first.text.hasPrefix("-") || first.text.hasPrefix("/") {
            let option = first.text.dropFirst().lowercased()
            switch option {
            case "c":
                guard tokens.count >= 2 else { throw .error("netsh -c needs a context", at: first.location) }
                let contextWords = try Lexer.tokenize(
                    SourceLine(
                        file: line.file, line: tokens[1].location.line, text: tokens[1].text,
                        firstColumn: tokens[1].location.column))
                context = try CommandParser.resolveContext(contextWords, from: .root)
                let after = tokens.count > 2 ? tokens[2].location : command.end
                guard let cut = command.origins.firstIndex(of: after) else {
                    return .skip("netsh -c with no command (interactive)")
                }
                command = SourceLine(
                    file: line.file, characters: Array(command.characters[cut...]),
                    origins: Array(command.origins[cut...]), end: command.end)
            case "f":
                throw .error(
                    "netsh -f runs another script; run 'rampart exec \(tokens.count > 1 ? tokens[1].text : "FILE")' on it instead",
                    at: first.location)
            case "r", "u", "p":
                throw .error(
                    "netsh -\(option) configures a remote machine; rampart manages this machine only",
                    at: first.location)
            default:
                throw .error("unknown netsh option '\(first.text)'", at: first.location)
            }
        } else if first.kind == .word, !first.quoted, first.text.lowercased() == "exec" {
            throw .error(
                "netsh exec runs another script; run 'rampart exec \(tokens.count > 1 ? tokens[1].text : "FILE")' on it instead",
                at: first.location)
        }
        let commandTokens = try Lexer.tokenize(command)
        if context == .root, let head = commandTokens.first {
            guard case .found = KeywordMatch(head.text, in: ["ipsec"]), !head.quoted else {
                return .skip("netsh context '\(head.text)' is not ipsec")
            }
        }
        let startIndex = line.origins.firstIndex(of: command.origins.first ?? line.end) ?? line.characters.count
        try checkResolved(
            line, unresolved: unresolved, from: startIndex, to: line.characters.count, purpose: "a netsh command")
        return .command(command, context)
    }

    /// `cd [/d] PATH`, `chdir`, `pushd PATH`: later relative paths (`exportpolicy file=…`) resolve
    /// there. A Linux path is followed; a Windows one (`C:\\…`, `\\\\server\\…`) cannot be, and a
    /// relative path used after it is refused at its place.
    private mutating func followDirectory(_ line: SourceLine, program: String, push: Bool) -> Outcome {
        var body = line.text.dropFirst(program.count).trimming()
        if !push, body.lowercased().hasPrefix("/d"),
            body.count == 2 || body.dropFirst(2).first == " " || body.dropFirst(2).first == "\t"
        {
            body = body.dropFirst(2).trimming()
        }
        if body.hasPrefix("\""), body.hasSuffix("\""), body.count >= 2 { body = body.dropFirst().dropLast() }
        let target = String(body)
        if target.isEmpty { return .skip("\(program.lowercased()) without a folder prints the current one") }
        let next: BatchDirectory
        if target.hasPrefix("/") {
            next = .path(BatchImporter.normalize(target))
        } else if target.contains("\\") || target.contains(":") || target.contains("%") {
            next = .unfollowed(target, at: line.location(at: 0))
        } else {
            switch directory {
            case .path(let base)?:
                next = .path(base.hasPrefix("/") ? BatchImporter.normalize(base + "/" + target) : base + "/" + target)
            case .unfollowed?: next = .unfollowed(target, at: line.location(at: 0))
            // Relative to the caller's working directory, which the interpreter knows.
            case nil: next = .path(target)
            }
        }
        if push { directoryStack.append(directory) }
        directory = next
        if case .unfollowed = next {
            return .followed(
                "\(program.lowercased()): '\(target)' is not a folder on this machine; relative paths after this line are refused"
            )
        }
        return .followed("\(program.lowercased()): relative paths resolve against \(describe(next))")
    }

    private func describe(_ d: BatchDirectory?) -> String {
        switch d {
        case .path(let p)?: return p
        case .unfollowed(let t, _)?: return "'\(t)' (not followed)"
        case nil: return "the working directory"
        }
    }

    /// `/a/b/../c/./` → `/a/c`.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") {
            if p == "." { continue }
            if p == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `%0`, `%~0`, `%~f0`, `%~dp0`, `%~n0`, `%~x0`, `%~nx0`: the parts of the script's own path
    /// (the drive is empty on Linux). Other modifiers (attributes, size, time, search) are refused.
    func scriptReference(_ modifiers: String, at: SourceLocation) throws(Diagnostic) -> String {
        guard let path = scriptPath else {
            throw .error(
                "%\(modifiers.isEmpty ? "" : "~" + modifiers)0 names the batch file itself, but it was read from standard input",
                at: at)
        }
        if modifiers.isEmpty || modifiers == "f" { return path }
        let slash = path.lastIndex(of: "/")!
        let folder = String(path[...slash])
        let name = String(path[path.index(after: slash)...])
        let dot = name.lastIndex(of: ".").flatMap { $0 == name.startIndex ? nil : $0 }
        let stem = dot.map { String(name[..<$0]) } ?? name
        let ext = dot.map { String(name[$0...]) } ?? ""
        var out = ""
        for m in "dpnx" where modifiers.contains(m) {
            switch m {
            case "p": out += folder
            case "n": out += stem
            case "x": out += ext
            default: break
            }
        }
        return out
    }

    private mutating func followSet(_ line: SourceLine, program: String) throws(Diagnostic) {
        var body = line.text.dropFirst(program.count)
        while let f = body.first, f == " " || f == "\t" { body = body.dropFirst() }
        if body.lowercased().hasPrefix("/p") {
            // `set /p NAME=prompt`: a value given with --define NAME=VALUE stands for the answer.
            let rest = body.dropFirst(2).drop { $0 == " " || $0 == "\t" }
            let name = rest.firstIndex(of: "=").map { String(rest[..<$0]).uppercased() } ?? ""
            if !name.isEmpty, defined.contains(name) { return }
            throw .error(
                "'set /p' reads \(name.isEmpty ? "a value" : name) from the keyboard; give it with --define \(name.isEmpty ? "NAME" : name)=VALUE",
                at: line.location(at: 0))
        }
        if body.lowercased().hasPrefix("/a") {
            throw .error(
                "'set /a' arithmetic is not followed; define the value with --define NAME=VALUE instead",
                at: line.location(at: 0))
        }
        if body.hasPrefix("\""), let close = body.lastIndex(of: "\""), close > body.startIndex {
            body = body[body.index(after: body.startIndex)..<close]
        }
        guard let eq = body.firstIndex(of: "="), eq != body.startIndex else {
            throw .error("'set' without NAME=value (listing variables) is not followed", at: line.location(at: 0))
        }
        let name = String(body[..<eq]).uppercased()
        var value = String(body[body.index(after: eq)...])
        // cmd keeps trailing blanks in values; they are almost always accidental in netsh arguments.
        while value.last == " " || value.last == "\t" { value.removeLast() }
        if value.isEmpty {
            variables.removeValue(forKey: name)
        } else {
            variables[name] = value
        }
    }

    // MARK: lexical helpers

    private func firstWord(_ text: String) -> String {
        var word = ""
        var inQuotes = false
        for c in text {
            if c == "\"" { inQuotes.toggle() }
            if !inQuotes && (c == " " || c == "\t" || c == "&" || c == "|" || c == ">" || c == "<" || c == "(") {
                if word.isEmpty && c == "(" { word.append(c) }
                break
            }
            word.append(c)
        }
        return word
    }

    /// Scans `chars` from the quote state `inQuotes` (updated to the state at their end): true
    /// when they end with a `^` that is outside quotes and not itself escaped.
    private func continues(_ chars: ArraySlice<Character>, inQuotes: inout Bool) -> Bool {
        var escaped = false
        var lastIsCaret = false
        for c in chars {
            lastIsCaret = false
            if escaped {
                escaped = false
                continue
            }
            if c == "\"" {
                inQuotes.toggle()
            } else if c == "^" && !inQuotes {
                escaped = true
                lastIsCaret = true
            }
        }
        return lastIsCaret && !inQuotes
    }

    struct Unresolved {
        var name: String
        var range: Range<Int>
        var location: SourceLocation
    }

    /// Expands `%NAME%` and `%%`. Unknown names stay as written and are remembered: they are an
    /// error only where the text is used (a netsh argument), not in a line that is skipped anyway.
    private func expand(_ line: SourceLine) throws(Diagnostic) -> (line: SourceLine, unresolved: [Unresolved]) {
        var chars: [Character] = []
        var origins: [SourceLocation] = []
        var unresolved: [Unresolved] = []
        let input = line.characters
        var i = 0
        while i < input.count {
            let c = input[i]
            guard c == "%" else {
                chars.append(c)
                origins.append(line.location(at: i))
                i += 1
                continue
            }
            let at = line.location(at: i)
            if i + 1 < input.count, input[i + 1] == "%" {
                chars.append("%")
                origins.append(at)
                i += 2
                continue
            }
            // %0 and %~[fdpnx]0 name the script itself; %1…%9, %* and other %~ forms are arguments.
            if i + 1 < input.count, input[i + 1] == "0" || input[i + 1] == "~" {
                let (value, next) = try scriptReference(in: input, at: i, location: at)
                chars += value
                origins += Array(repeating: at, count: value.count)
                i = next
                continue
            }
            if i + 1 < input.count, input[i + 1].isNumber || input[i + 1] == "*" {
                throw .error(
                    "batch arguments (%\(input[i + 1])) are not followed: pass the values with --define NAME=VALUE and use %NAME%",
                    at: at)
            }
            guard let close = input[(i + 1)...].firstIndex(of: "%") else {
                chars.append(c)
                origins.append(at)
                i += 1
                continue
            }
            let name = String(input[(i + 1)..<close])
            if name.contains(":") {
                throw .error("variable edits such as %\(name)% are not followed", at: at)
            }
            // A name that is not set stays as written, remembered in case the text is used.
            let value = variables[name.uppercased()].map(Array.init) ?? Array(input[i...close])
            if variables[name.uppercased()] == nil {
                unresolved.append(Unresolved(name: name, range: chars.count..<chars.count + value.count, location: at))
            }
            chars += value
            origins += Array(repeating: at, count: value.count)
            i = close + 1
        }
        return (SourceLine(file: line.file, characters: chars, origins: origins, end: line.end), unresolved)
    }

    /// `%0` or `%~MODIFIERS0` at `i`: the script's path (or part of it) and where the text goes on.
    private func scriptReference(
        in input: [Character], at i: Int, location at: SourceLocation
    ) throws(Diagnostic) -> ([Character], Int) {
        var j = i + 1
        var modifiers = ""
        if input[j] == "~" {
            j += 1
            while j < input.count, input[j].isLetter {
                modifiers.append(input[j])
                j += 1
            }
        }
        guard j < input.count, input[j] == "0" else {
            throw .error(
                "batch arguments (%\(String(input[(i + 1)..<min(j + 1, input.count)]))) are not followed: pass the values with --define NAME=VALUE and use %NAME%",
                at: at)
        }
        guard modifiers.lowercased().allSatisfy({ "fdpnx".contains($0) }) else {
            throw .error(
                "%~\(modifiers)0: only the modifiers f, d, p, n and x are followed (the script's path, folder, name, extension)",
                at: at)
        }
        return (Array(try scriptReference(modifiers.lowercased(), at: at)), j + 1)
    }

    private func checkResolved(
        _ line: SourceLine, unresolved: [Unresolved], from: Int, to: Int, purpose: String
    ) throws(Diagnostic) {
        // `line` may be a suffix of the expanded line: match unresolved names by origin.
        guard from < to else { return }
        let used = Set(line.origins[from..<to])
        for u in unresolved where used.contains(u.location) {
            throw .error(
                "variable %\(u.name)% is not set (define it with 'set \(u.name)=…' in the file or --define \(u.name)=VALUE)",
                at: u.location)
        }
    }

    /// Splits a line at `&`, `&&`, `||` outside quotes and strips redirections; a pipe is an error.
    private func split(_ line: SourceLine) throws(Diagnostic) -> [SourceLine] {
        var segments: [SourceLine] = []
        var chars: [Character] = []
        var origins: [SourceLocation] = []
        let input = line.characters
        var inQuotes = false
        var i = 0
        func flush() {
            segments.append(
                SourceLine(
                    file: line.file, characters: chars, origins: origins,
                    end: origins.last.map { SourceLocation(file: $0.file, line: $0.line, column: $0.column + 1) }
                        ?? line.end))
            chars = []
            origins = []
        }
        while i < input.count {
            let c = input[i]
            if c == "\"" { inQuotes.toggle() }
            if !inQuotes {
                if c == "^", i + 1 < input.count {
                    chars.append(input[i + 1])
                    origins.append(line.location(at: i + 1))
                    i += 2
                    continue
                }
                if c == "&" {
                    flush()
                    i += (i + 1 < input.count && input[i + 1] == "&") ? 2 : 1
                    continue
                }
                if c == "|" {
                    if i + 1 < input.count, input[i + 1] == "|" {
                        flush()
                        i += 2
                        continue
                    }
                    throw .error(
                        "pipes are not followed (rampart runs no other program): take the '|' and what follows off the line, or put REM before it to skip it",
                        at: line.location(at: i))
                }
                if c == "<" {
                    throw .error("input redirection is not followed", at: line.location(at: i))
                }
                if c == ">"
                    || ((c == "1" || c == "2") && i + 1 < input.count && input[i + 1] == ">"
                        && (chars.last == nil || chars.last == " " || chars.last == "\t"))
                {
                    i = Self.endOfRedirection(input, at: i)
                    continue
                }
            }
            chars.append(c)
            origins.append(line.location(at: i))
            i += 1
        }
        flush()
        return segments
    }

    /// Where `[12]>[>]target` or `[12]>&1` at `i` ends: output goes nowhere when rampart runs the command.
    static func endOfRedirection(_ input: [Character], at i: Int) -> Int {
        var j = i
        if input[i] != ">" { j += 1 }
        j += 1
        if j < input.count, input[j] == ">" { j += 1 }
        if j < input.count, input[j] == "&" { j += 1 }
        while j < input.count, input[j] == " " || input[j] == "\t" { j += 1 }
        var quote = false
        while j < input.count {
            let d = input[j]
            if d == "\"" { quote.toggle() }
            if !quote && (d == " " || d == "\t" || d == "&" || d == "|") { break }
            j += 1
        }
        return j
    }
}
