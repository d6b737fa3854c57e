import RampartPolicy

/// The rulesets rampartd enforces the moment it starts, before any store is read (reference §6.2).
/// - permit: everything passes.
/// - block: everything is dropped, in and out, except loopback, ICMPv6 neighbour discovery,
///   DHCPv4/DHCPv6, the boot exemptions, and the replies to what those let through.
/// - stateful: outbound passes and its replies return; inbound passes only for loopback,
///   neighbour discovery, DHCP and inbound boot exemptions.
public extension RulesetCompiler {
    func compileBoot(_ config: DynamicConfig) -> Ruleset {
        switch config.bootMode {
        case .permit:
            return Ruleset(chains: [
                Chain(name: "input", hook: .input, policy: .accept),
                Chain(name: "output", hook: .output, policy: .accept)
            ])
        case .block, .stateful:
            var input = Chain(name: "input", hook: .input, policy: .drop)
            input.rules = bootRules(.input, config)
            if config.logsInboundDrops {
                input.rules.append(RuleSpec([], countedLog("rampart boot in "), id: "boot-log"))
            }
            var output = Chain(name: "output", hook: .output, policy: config.bootMode == .block ? .drop : .accept)
            if config.bootMode == .block {
                output.rules = bootRules(.output, config)
                if config.logsOutboundDrops {
                    output.rules.append(RuleSpec([], countedLog("rampart boot out "), id: "boot-log"))
                }
            }
            return Ruleset(chains: [input, output])
        }
    }

    private func bootRules(_ hook: Chain.Hook, _ config: DynamicConfig) -> [RuleSpec] {
        var rules = RulesetCompiler.baseRules(hook)
        rules.append(RuleSpec([.ctState([.established, .related])], [.accept], id: "boot-replies"))
        // DHCP client traffic: v4 68 -> 67 out, 67 -> 68 in; v6 546 -> 547 out, 547 -> 546 in.
        let (v4, v6): ((UInt16, UInt16), (UInt16, UInt16)) =
            hook == .input ? ((67, 68), (547, 546)) : ((68, 67), (546, 547))
        rules.append(
            RuleSpec(
                [.port(.source, proto: 17, port: v4.0), .port(.destination, proto: 17, port: v4.1)], [.accept],
                id: "boot-dhcpv4"))
        rules.append(
            RuleSpec(
                [.port(.source, proto: 17, port: v6.0), .port(.destination, proto: 17, port: v6.1)], [.accept],
                id: "boot-dhcpv6"))
        let direction: DynamicConfig.Direction = hook == .input ? .inbound : .outbound
        for (i, e) in config.bootExemptions.enumerated() where e.direction == direction {
            var m: [Match] = []
            switch e.proto {
            case .any: break
            case .icmp: m.append(.l4proto(1))
            case .number(let n):
                if e.sourcePort != 0 { m.append(.port(.source, proto: n, port: e.sourcePort)) }
                if e.destinationPort != 0 { m.append(.port(.destination, proto: n, port: e.destinationPort)) }
                if m.isEmpty { m.append(.l4proto(n)) }
            }
            rules.append(RuleSpec(m, [.counter, .accept], id: "bootexempt-\(i + 1)", origin: e.description))
            if e.proto == .icmp {
                rules.append(
                    RuleSpec([.l4proto(58)], [.counter, .accept], id: "bootexempt-\(i + 1)", origin: e.description))
            }
        }
        return rules
    }
}
