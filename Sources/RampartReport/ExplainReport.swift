import FoundationEssentials
import RampartCompiler
import RampartPolicy

/// `rampart explain`: what would happen to one packet, which filter decides, and the filters
/// before it in the order and why each did not match.
public enum ExplainReport {
    static func filterText(_ f: ActiveFilter, rank: Int, _ hook: Chain.Hook) -> String {
        "\(f.id) rank \(rank) (\(f.weight.pairLabel) #\(f.weight.fossenRank), \(f.action(for: hook).rawValue)): \(ActiveListing.matchText(f))  [\(f.origin)]"
    }

    public static func text(
        _ e: ReferenceEvaluator.Explanation, packet: Packet, hook: Chain.Hook, maxConsidered: Int? = nil
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
        if !e.considered.isEmpty {
            lines.append("considered before it, in order:")
            let shown = e.considered.prefix(maxConsidered ?? e.considered.count)
            for c in shown {
                lines.append("  \(filterText(c.filter, rank: c.rank, hook)) — \(c.mismatch) does not match")
            }
            if shown.count < e.considered.count {
                lines.append(
                    "  … and \(e.considered.count - shown.count) more (a group member sees the first \(shown.count); root sees all)"
                )
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func json(
        _ e: ReferenceEvaluator.Explanation, packet: Packet, hook: Chain.Hook, maxConsidered: Int? = nil
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
                    e.considered.prefix(maxConsidered ?? e.considered.count).map {
                        .object(filter($0.filter, $0.rank) + [("mismatch", .string($0.mismatch.description))])
                    })
            ),
            ("consideredTotal", .int(e.considered.count))
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
    public static func run(
        _ words: [String], store: Store, dynamic: DynamicState?, addresses: DynamicAddresses,
        host: Host, at time: Date = Date(), maxConsidered: Int? = nil
    ) -> Result<(text: String, json: JSONValue), PacketQuery.Failure> {
        do throws(PacketQuery.Failure) {
            let query = try PacketQuery.parse(words)
            let packet = try query.packet(on: host)
            let evaluator = ReferenceEvaluator(
                store: store, dynamic: dynamic, addresses: addresses, host: host, at: time)
            let explanation = evaluator.explain(packet, query.hook)
            return .success(
                (
                    ExplainReport.text(explanation, packet: packet, hook: query.hook, maxConsidered: maxConsidered),
                    ExplainReport.json(explanation, packet: packet, hook: query.hook, maxConsidered: maxConsidered)
                ))
        } catch {
            return .failure(error)
        }
    }
}
