import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// `rampart explain`: what would happen to one packet, which filter decides, and the filters
/// before it in the order and why each did not match.
public enum ExplainReport {
    static func filterText(_ f: ActiveFilter, rank: Int, _ hook: Chain.Hook) -> String {
        "\(f.id) rank \(rank) (\(f.weight.pairLabel) #\(f.weight.fossenRank), \(f.action(for: hook).rawValue)): \(ActiveListing.matchText(f))  [\(f.origin)]"
    }

    /// The filters shown of those considered before the decision: the nearest few (brief), or
    /// every one in order up to a member's bound (`--all`).
    public struct Considered: Sendable {
        public var shown: [ReferenceEvaluator.NearMiss]
        public var total: Int
        public var all: Bool
        public init(shown: [ReferenceEvaluator.NearMiss], total: Int, all: Bool) {
            self.shown = shown
            self.total = total
            self.all = all
        }
    }

    /// "destination address and destination port do not match: DNS has no addresses here"
    static func missText(_ m: ReferenceEvaluator.NearMiss) -> String {
        let parts = m.mismatches.map(\.description)
        let verb = parts.count == 1 ? "does not match" : "do not match"
        let what =
            parts.count <= 2
            ? parts.joined(separator: " and ") : parts.dropLast().joined(separator: ", ") + " and " + parts.last!
        return "\(what) \(verb)" + (m.empty.isEmpty ? "" : ": " + m.empty.joined(separator: "; "))
    }

    public static func text(
        _ e: ReferenceEvaluator.Explanation, packet: Packet, hook: Chain.Hook, considered: Considered
    ) -> String {
        var lines = [
            "\(hook == .input ? "in" : "out") \(packet)",
            "verdict: \(e.verdict.action == .accept ? "permit" : "block") (\(e.verdict.action))"
        ]
        if let pass = e.encryptedPass {
            lines.append(passLine(pass, hook))
            if pass.decided { lines.append("the encrypted packet's pass:") }
        }
        if let fixed = e.fixedRule {
            lines.append("decided by: \(fixed): \(fixedRuleText(fixed)), before any filter")
        } else if let f = e.filter, let rank = e.rank {
            lines.append("decided by: " + filterText(f, rank: rank, hook))
            if f.action(for: hook) == .negotiate {
                lines.append(
                    "  negotiate: "
                        + (packet.ipsec
                            ? "protected by an IPsec SA, so permitted"
                            : f.soft || (hook == .input && f.inpass)
                                ? "clear traffic permitted (\(f.soft ? "soft" : "inpass"))"
                                : "clear traffic blocked (no SA, no inpass/soft)"))
            }
            if hook == .input && ActiveListing.admitsAnyLocalPort(f) {
                lines.append(
                    "  note: \(f.id) is a reply half: it admits anyone sending from port \(f.sourcePort) to every local port, not only replies; mirrored=stateful would admit only replies (docs/extensions.md)"
                )
            }
        } else {
            lines.append("decided by: no filter matches: permitted (as in Windows)")
        }
        lines += consideredLines(considered, hook)
        return lines.joined(separator: "\n") + "\n"
    }

    static func consideredLines(_ c: Considered, _ hook: Chain.Hook) -> [String] {
        guard c.total > 0 else { return [] }
        var lines =
            c.all
            ? ["considered before it, in order:"]
            : ["nearest that did not match, of \(c.total) considered before it:"]
        for m in c.shown { lines.append("  \(filterText(m.filter, rank: m.rank, hook)) — \(missText(m))") }
        let more = c.total - c.shown.count
        if more > 0 {
            lines.append(
                c.all
                    ? "  … and \(more) more (a group member sees the first \(c.shown.count); root sees all)"
                    : "  … and \(more) more: --all lists every filter considered, in order")
        }
        return lines
    }

    public static func json(
        _ e: ReferenceEvaluator.Explanation, packet: Packet, hook: Chain.Hook, considered: Considered
    ) -> JSONValue {
        func filter(_ f: ActiveFilter, _ rank: Int) -> [(String, JSONValue)] {
            [
                ("id", .string(f.id)), ("rank", .int(rank)), ("class", .string(f.weight.pairLabel)),
                ("fossenRank", .int(f.weight.fossenRank)),
                ("action", .string(f.action(for: hook).rawValue)), ("match", .string(ActiveListing.matchText(f))),
                ("origin", .string(f.origin.description))
            ]
        }
        var decided: JSONValue = .null
        if let fixed = e.fixedRule {
            decided = .object([("rule", .string(fixed))])
        } else if let f = e.filter, let rank = e.rank {
            decided = .object(filter(f, rank))
        }
        return .object([
            ("direction", .string(hook == .input ? "in" : "out")),
            (
                "packet",
                .object([
                    ("source", .string(packet.source.description)),
                    ("destination", .string(packet.destination.description)),
                    ("protocol", .int(Int(packet.proto))), ("sourcePort", .int(Int(packet.sourcePort))),
                    ("destinationPort", .int(Int(packet.destinationPort))), ("icmpType", .int(Int(packet.icmpType))),
                    ("interface", .string(packet.interface)), ("ipsec", .bool(packet.ipsec)),
                    ("natTraversal", .bool(packet.natTraversal))
                ])
            ),
            ("verdict", .string(e.verdict.action.rawValue)),
            ("decidedBy", decided),
            (
                "encryptedPass",
                e.encryptedPass.map { pass in
                    .object([
                        ("protocol", .int(Int(pass.packet.proto))), ("verdict", .string(pass.verdict.action.rawValue)),
                        ("decidedBy", pass.verdict.decidedBy.map { .string($0) } ?? .null),
                        ("decided", .bool(pass.decided))
                    ])
                } ?? .null
            ),
            (
                "considered",
                .array(
                    considered.shown.map { m in
                        .object(
                            filter(m.filter, m.rank) + [
                                ("mismatch", .string(m.mismatches.first?.description ?? "")),
                                ("mismatches", .array(m.mismatches.map { .string($0.description) })),
                                ("empty", .array(m.empty.map { .string($0) }))
                            ])
                    })
            ),
            ("consideredTotal", .int(considered.total)), ("detail", .string(considered.all ? "all" : "brief"))
        ])
    }

    /// The other pass of a packet an SA carries (`Packet.throughBothPasses`).
    static func passLine(_ pass: ReferenceEvaluator.EncryptedPass, _ hook: Chain.Hook) -> String {
        let what = pass.packet.proto == 50 ? "ESP" : "ESP in UDP 4500"
        let order = hook == .input ? "arrives encrypted first" : "leaves encrypted after the clear pass"
        let outcome =
            pass.verdict.action == .accept
            ? "passes (\(pass.verdict.decidedBy ?? "no filter matches"))"
            : "is dropped (\(pass.verdict.decidedBy ?? "?"))"
        let after =
            pass.decided
            ? (hook == .input ? ", so the packet is never decrypted" : ", so the packet never leaves")
            : "; the clear packet's pass decides"
        return
            "ipsec: the packet \(order), as \(what) \(pass.packet.source) -> \(pass.packet.destination): it \(outcome)\(after)"
    }

    static func fixedRuleText(_ rule: String) -> String {
        switch rule {
        case "loopback": return "loopback traffic is never filtered"
        case "icmpv6-nd": return "IPv6 neighbour discovery from the link (hop limit 255) is never filtered"
        case "icmpv6-ptb": return "ICMPv6 packet too big is never filtered (path MTU discovery)"
        case "icmpv6-mld": return "multicast listener discovery on the link (hop limit 1) is never filtered"
        case "exempt-isakmp": return "ISAKMP (UDP 500 to 500) is always exempt"
        case "ipsec-esp", "ipsec-ah":
            return
                "ESP and AH of a negotiate filter's peer pass; the clear packet inside is what the filters decide (docs/ipsec.md)"
        case "ipsec-ike":
            return "IKE of a negotiate filter's peer (UDP 500 and 4500, NAT traversal) passes (docs/ipsec.md)"
        default: return "exempt at the configured ipsecexempt level"
        }
    }
}

/// The whole of `rampart explain`, from the words to the rendering, as the CLI (offline) and
/// rampartd (on what it enforces) both run it.
public enum ExplainRun {
    /// The filters a brief answer shows.
    public static let nearestShown = 5

    /// `words` may hold `all` (`--all`): every filter considered, up to `maxConsidered`.
    public static func run(
        _ words: [String], store: Store, dynamic: DynamicState?, addresses: DynamicAddresses,
        host: Host, at time: Date = Date(), maxConsidered: Int? = nil
    ) -> Result<(text: String, json: JSONValue), PacketQuery.Failure> {
        do throws(PacketQuery.Failure) {
            let all = words.contains("all")
            let query = try PacketQuery.parse(words.filter { $0 != "all" })
            let packet = try query.packet(on: host)
            let evaluator = ReferenceEvaluator(
                store: store, dynamic: dynamic, addresses: addresses, host: host, at: time)
            let explanation = evaluator.explain(packet, query.hook)
            // The filters considered are those of the pass that decided: the encrypted one's when it dropped.
            let decided = explanation.encryptedPass.flatMap { $0.decided ? $0.packet : nil } ?? packet
            let shown =
                all
                ? explanation.considered.prefix(maxConsidered ?? explanation.considered.count).map {
                    evaluator.nearMiss($0.filter, rank: $0.rank, decided, query.hook)
                }
                : evaluator.nearest(explanation, decided, query.hook, limit: nearestShown)
            let considered = ExplainReport.Considered(shown: shown, total: explanation.considered.count, all: all)
            return .success(
                (
                    ExplainReport.text(explanation, packet: packet, hook: query.hook, considered: considered),
                    ExplainReport.json(explanation, packet: packet, hook: query.hook, considered: considered)
                ))
        } catch {
            return .failure(error)
        }
    }
}
