/// What a command shows; rendered as text or JSON at the edge (see `ShowRenderer`).
public enum Output: Sendable, Equatable {
    case objects(ShowObjects)
    case storeLocation(StoreLocation)
    case config(DynamicConfig)
    case dynamic(DynamicState)
    case text(String)
    /// `dynamic show mmsas|qmsas|stats`: answered from charon and the kernel at the edge.
    case ipsec(IPsecQuery)
}

/// Which IPsec view a `show` asked for, and its selection.
public struct IPsecQuery: Sendable, Equatable {
    public enum View: String, Sendable, Equatable { case mainMode = "mmsas", quickMode = "qmsas", stats }
    public var view: View
    /// Only SAs with this local address / this peer (nil: any).
    public var source: String?
    public var destination: String?
    /// `show stats type=`: ike, ipsec or all.
    public var ike = true, ipsec = true

    public init(view: View, source: String? = nil, destination: String? = nil) {
        self.view = view
        self.source = source
        self.destination = destination
    }
}

/// The objects a `show` command selected, with the location they came from.
public struct ShowObjects: Sendable, Equatable {
    public var location: StoreLocation
    public var policies: [Policy] = []
    public var filterLists: [FilterList] = []
    public var filterActions: [FilterAction] = []
    public var addressGroups: [AddressGroup] = []
    public var schedules: [Schedule] = []
    public var verbose: Bool = false

    public init(location: StoreLocation) { self.location = location }
}

/// A file a command wants written (`exportpolicy`); written only when the whole script succeeded.
public struct PendingFile: Sendable, Equatable {
    public var path: String
    public var contents: String
}

/// Runs parsed commands against a `Store` value. It never does I/O itself: files to write are
/// queued in `pendingFiles`, files to read come through `readFile`, so a failed script changes nothing.
public struct Interpreter {
    public var store: Store
    /// Runtime-only state; nil when no daemon holds it (dynamic rule commands are then an error).
    public var dynamic: DynamicState?
    public var location: StoreLocation = .local
    public internal(set) var diagnostics: [Diagnostic] = []
    public internal(set) var outputs: [Output] = []
    public internal(set) var pendingFiles: [PendingFile] = []
    public var readFile: (String) throws -> String
    public var makeGUID: () -> String
    /// Where a relative `exportpolicy`/`importpolicy` path is resolved.
    public var workingDirectory: String
    /// Match keys of the filters of lists that `add filter` has touched, so the duplicate warning
    /// costs O(1) per filter in scripts of thousands. Dropped by every other command.
    var filterKeys: [String: Set<Filter.MatchKey>] = [:]
    /// The store the transaction began with, and the numbers `add filter` may take back from it
    /// per list (`FilterIdentity`), built when a list is first added to.
    let initialStore: Store
    var reusableIDs: [String: [String: [Int]]] = [:]
    /// The numbers of the filters of lists `add filter` touched: dropped with `filterKeys`.
    var listSeqs: [String: Set<Int>] = [:]

    public init(
        store: Store, dynamic: DynamicState? = nil, workingDirectory: String = ".",
        readFile: @escaping (String) throws -> String = { path in throw ValueError("cannot read \(path)") },
        makeGUID: @escaping () -> String = Interpreter.randomGUID
    ) {
        self.store = store
        self.initialStore = store
        self.dynamic = dynamic
        self.workingDirectory = workingDirectory
        self.readFile = readFile
        self.makeGUID = makeGUID
    }

    public static func randomGUID() -> String {
        var g = SystemRandomNumberGenerator()
        func hex(_ n: Int) -> String {
            (0..<n).map { _ in String(UInt8.random(in: 0...15, using: &g), radix: 16) }.joined()
        }
        return "{\(hex(8))-\(hex(4))-\(hex(4))-\(hex(4))-\(hex(12))}"
    }

    public mutating func warn(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.warning(message, at: location))
    }

    mutating func emit(_ output: Output) { outputs.append(output) }

    mutating func queue(_ file: PendingFile) { pendingFiles.append(file) }

    /// Runs one command. On error the interpreter's state is unspecified: callers run scripts on a copy.
    public mutating func execute(_ command: ParsedCommand) throws(Diagnostic) {
        diagnostics += command.warnings
        if !(command.spec.verb == "add" && command.spec.noun == "filter") {
            filterKeys.removeAll()
            listSeqs.removeAll()
        }
        let args = Args(command: command)
        switch command.spec.context {
        case .static: try executeStatic(args)
        case .dynamic: try executeDynamic(args)
        case .ipsec: emit(.text(ScriptWriter.dump(store)))
        }
    }

    /// The objects of the selected store location, mutated in place (no copy per command).
    var current: PolicyStore {
        get { store[location] }
        _modify { yield &store[location] }
    }
}

/// Typed access to a command's bound arguments; every failure names the argument's location.
struct Args {
    let command: ParsedCommand

    var spec: CommandSpec { command.spec }

    func argument(_ name: String) -> CommandArgument? { command.first(name) }

    func has(_ name: String) -> Bool { command.has(name) }

    func required(_ name: String) throws(Diagnostic) -> CommandArgument {
        guard let a = command.first(name) else {
            throw .error("'\(spec.name)' needs \(name)=", at: command.end)
        }
        return a
    }

    /// A text value. `\'` stands for `"` inside double quotes (netsh's convention for rootca; rampart's
    /// own dump and export write every embedded double quote that way, so it applies to all text).
    func string(_ name: String) -> String? { command.first(name)?.value.replacingQuoteEscapes }

    func value<T>(_ name: String, _ parse: (String) -> Result<T, ValueError>) throws(Diagnostic) -> T? {
        guard let a = command.first(name) else { return nil }
        switch parse(a.value) {
        case .success(let v): return v
        case .failure(let e): throw .error("\(name): \(e.message)", at: a.location)
        }
    }

    func bool(_ name: String) throws(Diagnostic) -> Bool? { try value(name, Values.yesNo) }

    func int(_ name: String, _ range: ClosedRange<Int>) throws(Diagnostic) -> Int? {
        try value(name) { Values.integer($0, in: range) }
    }

    /// A name for a new or renamed object: non-empty and not the keyword `all`.
    func objectName(_ name: String) throws(Diagnostic) -> String? {
        guard let a = command.first(name) else { return nil }
        let trimmed = a.value.trimmingBlanks
        guard !trimmed.isEmpty else { throw .error("\(name) must not be empty", at: a.location) }
        guard !trimmed.caseInsensitiveEquals("all") else {
            throw .error("'all' is a keyword and cannot be used as a name", at: a.location)
        }
        return a.value
    }

    /// A required name for a new object.
    func newName(_ name: String) throws(Diagnostic) -> String {
        guard let value = try objectName(name) else { throw .error("'\(spec.name)' needs \(name)=", at: command.end) }
        return value
    }

    /// True when the first parameter is the keyword `all` (`delete policy all`, `del rule all X`).
    func isAll(_ name: String) -> Bool {
        guard let a = command.first(name), !a.quoted else { return false }
        return a.value.caseInsensitiveEquals("all")
    }

    /// The auth-method arguments in command-line order, which is their preference order.
    func authMethods() throws(Diagnostic) -> [AuthMethod]? {
        var found: [(SourceLocation, AuthMethod?)] = []
        if let k = command.first("kerberos") {
            switch Values.yesNo(k.value) {
            case .success(let yes): found.append((k.location, yes ? .kerberos : nil))
            case .failure(let e): throw .error("kerberos: \(e.message)", at: k.location)
            }
        }
        if let psk = command.first("psk") {
            guard !psk.value.isEmpty else { throw .error("psk must not be empty", at: psk.location) }
            found.append((psk.location, .presharedKey(psk.value)))
        }
        for ca in command.arguments["rootca"] ?? [] {
            guard !ca.value.isEmpty else { throw .error("rootca must not be empty", at: ca.location) }
            found.append((ca.location, .rootCA(ca.value.replacingQuoteEscapes)))
        }
        if found.isEmpty { return nil }
        return found.sorted { ($0.0.line, $0.0.column) < ($1.0.line, $1.0.column) }.compactMap(\.1)
    }
}

extension String {
    var trimmingBlanks: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    /// netsh writes an embedded double quote inside `rootca="…"` as `\'`.
    var replacingQuoteEscapes: String {
        var out = ""
        var chars = self[...]
        while let c = chars.first {
            if c == "\\", chars.dropFirst().first == "'" {
                out.append("\"")
                chars = chars.dropFirst(2)
            } else {
                out.append(c)
                chars = chars.dropFirst()
            }
        }
        return out
    }
}

/// "did you mean" candidates: the closest names by edit distance, or one the name is a prefix of.
func suggestion(for name: String, among names: [String]) -> String {
    let lower = name.lowercased()
    var best: (String, Int)?
    for candidate in names {
        let c = candidate.lowercased()
        var d = editDistance(lower, c)
        if c.hasPrefix(lower) || lower.hasPrefix(c) { d = min(d, 1) }
        if d <= max(2, lower.count / 3), d < (best?.1 ?? Int.max) { best = (candidate, d) }
    }
    return best.map { "; did you mean '\($0.0)'?" } ?? ""
}

func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    for i in 1...x.count {
        var row = [i] + Array(repeating: 0, count: y.count)
        for j in 1...y.count {
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        previous = row
    }
    return previous[y.count]
}
