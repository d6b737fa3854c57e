import Testing
@testable import RampartCompiler
@testable import RampartPolicy

@Suite struct CompilerTests {
    func ids(_ chain: Chain) -> [String] { chain.rules.map(\.id) }

    @Test(arguments: [
        (
            0,
            [
                "exempt-isakmp", "exempt-kerberos", "exempt-kerberos", "exempt-kerberos", "exempt-kerberos",
                "exempt-rsvp", "exempt-broadcast", "exempt-multicast"
            ]
        ),
        (1, ["exempt-isakmp", "exempt-broadcast", "exempt-multicast"]),
        (
            2,
            ["exempt-isakmp", "exempt-kerberos", "exempt-kerberos", "exempt-kerberos", "exempt-kerberos", "exempt-rsvp"]
        ),
        (3, ["exempt-isakmp"])
    ])
    func exemptionsComeFirst(level: Int, expected: [String]) throws {
        var s = try store([("srcaddr=any dstaddr=any", "block")])
        s.config.ipsecExempt = level
        let ruleset = RulesetCompiler().compile(s)
        for chain in ruleset.chains where chain.hook != nil {
            #expect(
                ids(chain) == ["loopback", "icmpv6-nd", "icmpv6-ptb", "icmpv6-mld", "icmpv6-mld"] + expected + ["F6"])
        }
        let text = NftRenderer.table(ruleset)
        #expect(text.contains("tcp sport 88 accept") == (level == 0 || level == 2))
        #expect(text.contains("udp sport 500 udp dport 500 accept comment \"exempt-isakmp\""))
    }

    @Test func noPolicyMeansAcceptEverything() {
        let r = RulesetCompiler().compile(Store())
        #expect(r.chains.map(\.policy) == [.accept, .accept, .accept])
        #expect(r.chains.map(\.name) == ["input", "output", "defrag"], "the defrag chain is in every policy ruleset")
        #expect(r.chains.last == .defrag && r.chains.last?.hook == nil)
        #expect(r.sets.isEmpty)
    }

    @Test func meUsesFibAndIsPrunedWhereItCannotMatch() throws {
        let r = RulesetCompiler().compile(
            try store([("srcaddr=any dstaddr=me protocol=tcp dstport=22 mirrored=no", "permit")]))
        let input = r.chains[0].rules.last!, output = r.chains[1].rules.last!
        #expect(
            NftRenderer.rule(input) == #"fib daddr type local - multicast tcp dport 22 counter accept comment "F6""#)
        #expect(output.id == "exempt-isakmp")
    }

    @Test func serverTypesAndNamesBecomeNamedSetsPerFamily() throws {
        var addresses = DynamicAddresses()
        addresses.dns = [IPAddress("192.0.2.53")!, IPAddress("2001:db8::53")!, IPAddress("192.0.2.53")!]
        addresses.names["update.example.com"] = [
            IPAddress("203.0.113.10")!, IPAddress("203.0.113.200")!, IPAddress("2001:db8::10")!
        ]
        let s = try store([
            ("srcaddr=me dstaddr=DNS protocol=udp dstport=53", "permit"),
            ("srcaddr=me dstaddr=update.example.com dstmask=24 protocol=tcp dstport=443 mirrored=no", "permit")
        ])
        let r = RulesetCompiler().compile(s, addresses: addresses)
        #expect(
            r.sets.map(\.name) == [
                "dns_v4", "dns_v6", "host_update_example_com_p24_v4", "host_update_example_com_p24_v6"
            ])
        #expect(
            r.sets.map { $0.elements.map(\.description) } == [
                ["192.0.2.53"], ["2001:db8::53"], ["203.0.113.0/24"], ["2001:db8::10"]
            ])
        let output = r.chains[1].rules.map(NftRenderer.rule)
        #expect(output.contains(#"fib saddr type local ip daddr @dns_v4 udp dport 53 counter accept comment "F6""#))
        #expect(output.contains(#"fib saddr type local ip6 daddr @dns_v6 udp dport 53 counter accept comment "F6""#))
        #expect(
            output.contains(
                #"fib saddr type local ip daddr @host_update_example_com_p24_v4 tcp dport 443 counter accept comment "F9""#
            ))
    }

    @Test func icmpByNameCoversBothFamilies() throws {
        let r = RulesetCompiler().compile(
            try store([
                ("srcaddr=any dstaddr=me protocol=icmp mirrored=no", "permit"),
                ("srcaddr=any dstaddr=me protocol=1 mirrored=no", "block")
            ]))
        let input = r.chains[0].rules.suffix(3).map(NftRenderer.rule)
        #expect(
            input == [
                #"fib daddr type local - multicast meta l4proto icmp counter drop comment "F9""#,
                #"fib daddr type local - multicast meta l4proto icmp counter accept comment "F6""#,
                #"fib daddr type local - multicast meta l4proto ipv6-icmp counter accept comment "F6""#
            ])
    }

    @Test func negotiateNeverSilentlyPermits() throws {
        let s = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=Strict action=negotiate
            add filteraction name=InPass action=negotiate inpass=yes
            add filteraction name=Soft action=negotiate soft=yes
            add filter filterlist=A srcaddr=192.0.2.1 dstaddr=me mirrored=no
            add filter filterlist=B srcaddr=192.0.2.2 dstaddr=me mirrored=no
            add filter filterlist=C srcaddr=192.0.2.3 dstaddr=me mirrored=no
            add policy name=P assign=yes
            add rule name=a policy=P filterlist=A filteraction=Strict
            add rule name=b policy=P filterlist=B filteraction=InPass
            add rule name=c policy=P filterlist=C filteraction=Soft
            """)
        let input = RulesetCompiler().compile(s).chains[0].rules.filter { $0.id.hasPrefix("F") }.map(NftRenderer.rule)
        #expect(
            input == [
                #"ip saddr 192.0.2.1 fib daddr type local - multicast meta ipsec exists counter accept comment "F5""#,
                #"ip saddr 192.0.2.1 fib daddr type local - multicast counter drop comment "F5""#,
                #"ip saddr 192.0.2.2 fib daddr type local - multicast meta ipsec exists counter accept comment "F7""#,
                #"ip saddr 192.0.2.2 fib daddr type local - multicast counter accept comment "F7""#,
                #"ip saddr 192.0.2.3 fib daddr type local - multicast meta ipsec exists counter accept comment "F9""#,
                #"ip saddr 192.0.2.3 fib daddr type local - multicast counter accept comment "F9""#
            ])
    }

    @Test func dropLoggingFollowsTheDiagnosticsBitmask() throws {
        var s = try store([("srcaddr=any dstaddr=any", "block")])
        for (bits, inLog, outLog, invalid) in [
            (0, false, false, false), (1, true, false, false), (2, false, true, false), (4, false, false, true),
            (7, true, true, true)
        ] {
            s.config.ipsecDiagnostics = bits
            let r = RulesetCompiler().compile(s)
            let text = NftRenderer.table(r)
            #expect(text.contains(#"log prefix "rampart in F6 " group 1000"#) == inLog)
            #expect(text.contains(#"log prefix "rampart out F6 " group 1000"#) == outLog)
            #expect(text.contains(#"ct state invalid counter log prefix "rampart invalid ""#) == invalid)
        }
    }

    @Test func bootModes() throws {
        var c = DynamicConfig()
        c.bootExemptions = try Values.bootExemptions("tcp:0:3389:inbound udp:0:53:outbound icmp:0:0:inbound").get()
        c.bootMode = .permit
        let permit = RulesetCompiler().compileBoot(c)
        #expect(permit.chains.map(\.policy) == [.accept, .accept] && permit.ruleCount == 0)

        c.bootMode = .block
        let block = RulesetCompiler().compileBoot(c)
        #expect(block.chains.map(\.policy) == [.drop, .drop])
        let fixed = ["loopback", "icmpv6-nd", "icmpv6-ptb", "icmpv6-mld", "icmpv6-mld"]
        #expect(
            ids(block.chains[0]) == fixed + [
                "boot-replies", "boot-dhcpv4", "boot-dhcpv6", "bootexempt-1", "bootexempt-3", "bootexempt-3"
            ])
        #expect(ids(block.chains[1]) == fixed + ["boot-replies", "boot-dhcpv4", "boot-dhcpv6", "bootexempt-2"])
        let blockText = NftRenderer.table(block)
        #expect(blockText.contains(#"udp sport 68 udp dport 67 accept comment "boot-dhcpv4""#))
        #expect(blockText.contains(#"udp sport 547 udp dport 546 accept comment "boot-dhcpv6""#))
        #expect(blockText.contains(#"tcp dport 3389 counter accept comment "bootexempt-1""#))

        c.bootMode = .stateful
        c.ipsecDiagnostics = 1
        let stateful = RulesetCompiler().compileBoot(c)
        #expect(stateful.chains.map(\.policy) == [.drop, .accept])
        #expect(stateful.chains[1].rules.isEmpty)
        #expect(stateful.chains[0].rules.last?.id == "boot-log")
        #expect(
            NftRenderer.rule(stateful.chains[0].rules[5])
                == #"ct state established,related accept comment "boot-replies""#)
    }

    @Test func setNamesStayUniqueWhenSanitisingCollides() {
        let names = SetNaming.hostSets([
            .init(name: "a-b.example", prefix: nil), .init(name: "a_b.example", prefix: nil),
            .init(name: "a-b.example", prefix: 24)
        ])
        #expect(Set(names.values).count == 3)
        #expect(names[.init(name: "a-b.example", prefix: 24)] == "host_a_b_example_p24")
    }
}
