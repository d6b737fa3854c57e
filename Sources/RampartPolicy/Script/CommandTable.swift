import FoundationEssentials

/// Every `netsh ipsec` command rampart understands, with its parameters in documented order.
/// Untagged values fill parameters in this order; tags may be shortened to an unambiguous prefix.
public struct CommandSpec: Sendable {
    public enum Context: String, Sendable {
        case ipsec, `static`, dynamic
    }

    public struct Parameter: Sendable {
        public var name: String
        /// Only reachable as `name=value` (an alternative to the first parameter, such as `guid=`).
        public var taggedOnly: Bool = false
        /// May be given more than once (`rootca=`).
        public var repeatable: Bool = false
        /// Takes every remaining untagged word (`set config bootexemptions a b c`).
        public var rest: Bool = false
        /// Free text: following untagged words are joined into it.
        public var freeText: Bool = false

        init(
            _ name: String, taggedOnly: Bool = false, repeatable: Bool = false, rest: Bool = false,
            freeText: Bool = false
        ) {
            self.name = name
            self.taggedOnly = taggedOnly
            self.repeatable = repeatable
            self.rest = rest
            self.freeText = freeText
        }
    }

    public var context: Context
    public var verb: String
    /// nil for verbs without an object (`exportpolicy`, `dump`).
    public var noun: String?
    public var parameters: [Parameter]

    public var name: String { [context.rawValue, verb, noun].compactMap { $0 }.joined(separator: " ") }
}

private typealias P = CommandSpec.Parameter

private func p(_ names: String...) -> [P] {
    names.map { n in
        switch n {
        case "description": return P(n, freeText: true)
        case "guid", "id", "rule*": return P(n.replacing("*", with: ""), taggedOnly: true)
        case "rootca": return P(n, repeatable: true)
        default: return P(n)
        }
    }
}

private let policyParams = [
    "description", "mmpfs", "qmpermm", "mmlifetime", "activatedefaultrule", "pollinginterval", "assign"
]
private let addFilterParams = [
    "filterlist", "srcaddr", "dstaddr", "description", "protocol", "mirrored", "srcmask", "dstmask", "srcport",
    "dstport", "tcpflags"
]
private let filterActionParams = ["description", "qmpfs", "inpass", "soft", "action", "qmsecmethods"]
private let dynamicRuleIdentity = [
    "srcaddr", "dstaddr", "protocol", "srcport", "dstport", "mirrored", "conntype", "srcmask", "dstmask",
    "tunneldstaddress", "tcpflags"
]
private let showFormat = ["level", "format", "wide"]

extension CommandSpec {
    public static let all: [CommandSpec] = {
        func s(_ verb: String, _ noun: String?, _ params: [P]) -> CommandSpec {
            CommandSpec(context: .static, verb: verb, noun: noun, parameters: params)
        }
        func d(_ verb: String, _ noun: String?, _ params: [P]) -> CommandSpec {
            CommandSpec(context: .dynamic, verb: verb, noun: noun, parameters: params)
        }
        var table: [CommandSpec] = [
            s("add", "policy", p("name") + policyParams.flatMap { p($0) } + p("mmsecmethods")),
            s(
                "set", "policy",
                p("name", "guid", "newname")
                    + p(
                        "description", "mmpfs", "qmpermm", "mmlifetime", "activatedefaultrule", "pollinginterval",
                        "assign", "gponame", "mmsecmethods")),
            s("delete", "policy", p("name")),
            s("add", "filterlist", p("name", "description")),
            s("set", "filterlist", p("name", "guid", "newname", "description")),
            s("delete", "filterlist", p("name")),
            s("add", "filter", addFilterParams.flatMap { p($0) }),
            s(
                "delete", "filter",
                p(
                    "filterlist", "srcaddr", "dstaddr", "protocol", "mirrored", "srcmask", "dstmask", "srcport",
                    "dstport", "tcpflags")),
            s("add", "filteraction", p("name") + filterActionParams.flatMap { p($0) }),
            s("set", "filteraction", p("name", "guid", "newname") + filterActionParams.flatMap { p($0) }),
            s("delete", "filteraction", p("name")),
            s(
                "add", "rule",
                p(
                    "name", "policy", "filterlist", "filteraction", "tunnel", "conntype", "activate", "description",
                    "kerberos", "psk", "rootca", "schedule")),
            s(
                "set", "rule",
                p(
                    "name", "id", "policy", "newname", "description", "filterlist", "filteraction", "tunnel",
                    "conntype", "activate", "kerberos", "psk", "rootca", "schedule")),
            s("delete", "rule", p("name", "id", "policy")),
            s("set", "defaultrule", p("policy", "qmpfs", "activate", "qmsecmethods", "kerberos", "psk", "rootca")),
            s("delete", "all", []),
            s("add", "addressgroup", p("name", "addresses", "description")),
            s("set", "addressgroup", p("name", "newname", "addresses", "add", "remove", "description")),
            s("delete", "addressgroup", p("name")),
            s("show", "addressgroup", p("name") + showFormat.flatMap { p($0) }),
            s("add", "schedule", p("name", "days", "hours", "timezone", "description")),
            s("set", "schedule", p("name", "newname", "days", "hours", "timezone", "description")),
            s("delete", "schedule", p("name")),
            s("show", "schedule", p("name") + showFormat.flatMap { p($0) }),
            s("set", "store", p("location", "domain")),
            s("set", "batch", p("mode")),
            s("show", "all", p("format", "wide")),
            s("show", "policy", p("name") + showFormat.flatMap { p($0) }),
            s("show", "filterlist", p("name", "rule*", "level", "format", "resolvedns", "wide")),
            s("show", "filteraction", p("name", "rule*") + showFormat.flatMap { p($0) }),
            s("show", "rule", p("name", "id", "policy", "type") + showFormat.flatMap { p($0) }),
            s("show", "store", []),
            s("show", "gpoassignedpolicy", p("name")),
            s("exportpolicy", nil, p("file")),
            s("importpolicy", nil, p("file")),
            s("dump", nil, []),
            d("add", "mmpolicy", p("name", "qmpermm", "mmlifetime", "softsaexpirationtime", "mmsecmethods")),
            d("set", "mmpolicy", p("name", "qmpermm", "mmlifetime", "softsaexpirationtime", "mmsecmethods")),
            d("delete", "mmpolicy", p("name")),
            d("add", "qmpolicy", p("name", "soft", "pfsgroup", "qmsecmethods")),
            d("set", "qmpolicy", p("name", "soft", "pfsgroup", "qmsecmethods")),
            d("delete", "qmpolicy", p("name")),
            d(
                "add", "rule",
                p(
                    "srcaddr", "dstaddr", "mmpolicy", "qmpolicy", "protocol", "srcport", "dstport", "mirrored",
                    "conntype",
                    "actioninbound", "actionoutbound", "srcmask", "dstmask", "tunneldstaddress", "kerberos", "psk",
                    "rootca", "tcpflags")),
            d(
                "set", "rule",
                p(
                    "srcaddr", "dstaddr", "protocol", "srcport", "dstport", "mirrored", "conntype", "srcmask",
                    "dstmask",
                    "tunneldstaddress", "mmpolicy", "qmpolicy", "actioninbound", "actionoutbound", "kerberos", "psk",
                    "rootca", "tcpflags")),
            d("delete", "rule", dynamicRuleIdentity.flatMap { p($0) }),
            d("delete", "all", []),
            d("set", "config", [P("property"), P("value", rest: true)]),
            d("show", "config", []),
            d("show", "all", p("resolvedns")),
            d("show", "mmpolicy", p("name")),
            d("show", "qmpolicy", p("name")),
            d(
                "show", "rule",
                p("type", "srcaddr", "dstaddr", "srcmask", "dstmask", "protocol", "srcport", "dstport", "resolvedns")),
            d("show", "mmfilter", p("name", "type", "srcaddr", "dstaddr", "srcmask", "dstmask", "resolvedns")),
            d(
                "show", "qmfilter",
                p(
                    "name", "type", "srcaddr", "dstaddr", "srcmask", "dstmask", "protocol", "srcport", "dstport",
                    "actioninbound", "actionoutbound", "resolvedns")),
            d("show", "mmsas", p("all", "srcaddr", "dstaddr", "format", "resolvedns")),
            d("show", "qmsas", p("all", "srcaddr", "dstaddr", "protocol", "format", "resolvedns")),
            d("show", "stats", p("type")),
            d("dump", nil, []),
            CommandSpec(context: .ipsec, verb: "dump", noun: nil, parameters: [])
        ]
        table.sort { $0.name < $1.name }
        return table
    }()

    static func lookup(context: Context, verb: String, noun: String?) -> CommandSpec? {
        all.first { $0.context == context && $0.verb == verb && $0.noun == noun }
    }

    static func verbs(in context: Context) -> [String] {
        var seen: [String] = []
        for spec in all where spec.context == context && !seen.contains(spec.verb) { seen.append(spec.verb) }
        return seen
    }

    static func nouns(in context: Context, verb: String) -> [String] {
        all.filter { $0.context == context && $0.verb == verb }.compactMap(\.noun)
    }
}

/// Resolves a keyword the netsh way: an exact match wins, else a unique prefix; an ambiguous
/// prefix is an error naming the candidates.
enum KeywordMatch {
    case found(String)
    case ambiguous([String])
    case none

    init(_ word: String, in candidates: [String]) {
        let w = word.lowercased()
        if candidates.contains(w) {
            self = .found(w)
            return
        }
        let hits = candidates.filter { $0.hasPrefix(w) }
        switch hits.count {
        case 0: self = .none
        case 1: self = .found(hits[0])
        default: self = .ambiguous(hits)
        }
    }
}

/// What running a command can touch: this, not the words typed, decides who may run it.
public enum CommandAccess: Sendable, Equatable {
    /// Reads only: `show`, `dump`, `exportpolicy` (its file is written by the client, as the
    /// user who asked), and `set store`/`set batch`, which change only how the script itself runs.
    case query
    /// Changes the store or the runtime state.
    case change
}

extension CommandSpec {
    public var access: CommandAccess {
        switch (verb, noun) {
        case ("show", _), ("dump", _), ("exportpolicy", _), ("set", "store"), ("set", "batch"): return .query
        default: return .change
        }
    }

    /// `importpolicy` reads a file with the daemon's privileges.
    public var readsFiles: Bool { verb == "importpolicy" }
}
