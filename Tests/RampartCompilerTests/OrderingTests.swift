import Testing
@testable import RampartCompiler
@testable import RampartPolicy

@Suite struct OrderingTests {
    static let addresses = ["S": "192.0.2.1", "R": "198.51.100.0/24", "A": "any"]
    static let pairs = ["SS", "RS", "SR", "RR", "AS", "SA", "AR", "RA", "AA"]
    static let ports = [
        "protocol=tcp srcport=1024 dstport=80", "protocol=tcp dstport=80", "protocol=tcp srcport=1024", "protocol=tcp",
        "protocol=any"
    ]

    /// Every one of Fossen's 45 ranks, created in reverse order, sorts back into rank order.
    @Test func allFortyFiveFossenRanksInOrder() throws {
        var filters: [(String, String)] = []
        for (p, pair) in Self.pairs.enumerated().reversed() {
            for (q, ports) in Self.ports.enumerated().reversed() {
                let src = Self.addresses[String(pair.first!)]!, dst = Self.addresses[String(pair.last!)]!
                filters.append(
                    ("srcaddr=\(src) dstaddr=\(dst) \(ports) mirrored=no description=rank\(p * 5 + q + 1)", "permit"))
            }
        }
        let active = EffectiveFilters.collect(try store(filters))
        #expect(active.count == 45)
        for hook in [Chain.Hook.input, .output] {
            let sorted = Ordering.sorted(active, for: hook)
            #expect(sorted.map(\.weight.fossenRank) == Array(1...45))
        }
        let labels = Ordering.sorted(active, for: .input).map(\.weight.pairLabel)
        #expect(labels.enumerated().allSatisfy { $1 == Self.pairs[$0 / 5].map(String.init).joined(separator: ",") })
    }

    /// (winner, loser): each pair's first filter must match first.
    static let table: [(String, String, String, String, String)] = [
        // address specificity dominates protocol and ports
        (
            "S,S any protocol beats R,S tcp/80", "srcaddr=192.0.2.1 dstaddr=192.0.2.2", "permit",
            "srcaddr=198.51.100.0/24 dstaddr=192.0.2.2 protocol=tcp dstport=80", "block"
        ),
        (
            "R,S beats S,R", "srcaddr=198.51.100.0/24 dstaddr=192.0.2.2", "permit",
            "srcaddr=192.0.2.2 dstaddr=198.51.100.0/24", "block"
        ),
        (
            "R,R beats A,S", "srcaddr=198.51.100.0/24 dstaddr=203.0.113.0/24", "permit",
            "srcaddr=any dstaddr=192.0.2.2", "block"
        ),
        ("A,S beats S,A", "srcaddr=any dstaddr=192.0.2.2", "permit", "srcaddr=192.0.2.2 dstaddr=any", "block"),
        (
            "A,R beats R,A", "srcaddr=any dstaddr=198.51.100.0/24", "permit", "srcaddr=198.51.100.0/24 dstaddr=any",
            "block"
        ),
        ("R,A beats A,A", "srcaddr=198.51.100.0/24 dstaddr=any", "permit", "srcaddr=any dstaddr=any", "block"),
        // mask bits: more first, destination before source
        ("/24 beats /16", "srcaddr=198.51.100.0/24 dstaddr=me", "permit", "srcaddr=198.51.0.0/16 dstaddr=me", "block"),
        (
            "destination bits first", "srcaddr=198.51.0.0/16 dstaddr=203.0.113.0/24", "permit",
            "srcaddr=198.51.100.0/24 dstaddr=203.0.0.0/16", "block"
        ),
        (
            "IPv6 /64 beats /48", "srcaddr=2001:db8:1:2::/64 dstaddr=me", "permit",
            "srcaddr=2001:db8:1::/48 dstaddr=me", "block"
        ),
        // protocol and port sub-rank
        (
            "both ports beat dst port", "srcaddr=any dstaddr=me protocol=tcp srcport=1024 dstport=80", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=80", "block"
        ),
        (
            "dst port beats src port", "srcaddr=any dstaddr=me protocol=tcp dstport=80", "permit",
            "srcaddr=any dstaddr=me protocol=tcp srcport=80", "block"
        ),
        (
            "src port beats protocol only", "srcaddr=any dstaddr=me protocol=udp srcport=53", "permit",
            "srcaddr=any dstaddr=me protocol=udp", "block"
        ),
        (
            "protocol beats any protocol", "srcaddr=any dstaddr=me protocol=icmp", "permit", "srcaddr=any dstaddr=me",
            "block"
        ),
        // extensions (docs/extensions.md, "Ordering"): a port range or list counts as a given port; within a
        // sub-rank fewer destination ports, then fewer source ports, then a TCP-flags test first
        (
            "single port beats a range", "srcaddr=any dstaddr=me protocol=tcp dstport=80", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=1-1023", "block"
        ),
        (
            "narrow range beats wide range", "srcaddr=any dstaddr=me protocol=tcp dstport=3000-3010", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=1024-65535", "block"
        ),
        (
            "short list beats long list", "srcaddr=any dstaddr=me protocol=tcp dstport=80,443", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=80,443,8080", "block"
        ),
        (
            "list beats the range covering it", "srcaddr=any dstaddr=me protocol=tcp dstport=80,443", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=80-443", "block"
        ),
        (
            "range beats any port", "srcaddr=any dstaddr=me protocol=tcp dstport=1024-65535", "permit",
            "srcaddr=any dstaddr=me protocol=tcp", "block"
        ),
        (
            "source range beats no source port", "srcaddr=any dstaddr=me protocol=tcp srcport=1024-65535 dstport=80",
            "permit", "srcaddr=any dstaddr=me protocol=tcp dstport=80", "block"
        ),
        (
            "dst range beats src port", "srcaddr=any dstaddr=me protocol=tcp dstport=1-1023", "permit",
            "srcaddr=any dstaddr=me protocol=tcp srcport=80", "block"
        ),
        (
            "same dst, narrower src first", "srcaddr=any dstaddr=me protocol=tcp srcport=1024-2047 dstport=80",
            "permit", "srcaddr=any dstaddr=me protocol=tcp srcport=1024-65535 dstport=80", "block"
        ),
        (
            "tcp flags beat none", "srcaddr=any dstaddr=me protocol=tcp dstport=22 tcpflags=syn", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=22", "block"
        ),
        (
            "ports beat tcp flags", "srcaddr=any dstaddr=me protocol=tcp dstport=22", "permit",
            "srcaddr=any dstaddr=me protocol=tcp tcpflags=syn", "block"
        ),
        (
            "addresses still dominate ranges", "srcaddr=192.0.2.7 dstaddr=me protocol=tcp", "permit",
            "srcaddr=any dstaddr=me protocol=tcp dstport=22", "block"
        ),
        // me, server types and DNS names rank as single hosts; ranges as R
        ("me is S", "srcaddr=any dstaddr=me", "permit", "srcaddr=any dstaddr=192.0.2.0/24", "block"),
        ("DNS server type is S", "srcaddr=me dstaddr=DNS", "permit", "srcaddr=me dstaddr=198.51.100.0/24", "block"),
        (
            "DNS name is S", "srcaddr=me dstaddr=update.example.com", "permit", "srcaddr=me dstaddr=198.51.100.0/24",
            "block"
        ),
        ("range is R", "srcaddr=192.0.2.7 dstaddr=me", "permit", "srcaddr=192.0.2.1-192.0.2.9 dstaddr=me", "block"),
        // equal weight: block > negotiate > permit, then creation order
        (
            "block beats permit", "srcaddr=any dstaddr=me protocol=tcp dstport=22", "block",
            "srcaddr=any dstaddr=me protocol=tcp dstport=22", "permit"
        ),
        ("negotiate beats permit", "srcaddr=any dstaddr=me", "negotiate", "srcaddr=any dstaddr=me", "permit"),
        ("block beats negotiate", "srcaddr=any dstaddr=me", "block", "srcaddr=any dstaddr=me", "negotiate")
    ]

    @Test(arguments: table)
    func winner(_ row: (String, String, String, String, String)) throws {
        let (name, winner, winnerAction, loser, loserAction) = row
        // Create the loser first, so creation order never explains the result.
        let active = EffectiveFilters.collect(
            try store([(loser + " mirrored=no", loserAction), (winner + " mirrored=no", winnerAction)]))
        let sorted = Ordering.sorted(active, for: .input)
        #expect(sorted.first?.origin.rule == "R1", "\(name)")
    }

    /// The Fossen label of an extension filter is its sub-rank's: a range is a given port.
    @Test func extensionFiltersKeepTheirFossenRank() throws {
        let active = EffectiveFilters.collect(
            try store([
                (
                    "srcaddr=any dstaddr=me protocol=tcp srcport=1024-65535 dstport=80,443 tcpflags=syn mirrored=no",
                    "permit"
                )
            ]))
        #expect(active.map(\.weight.fossenRank) == [21])
        #expect(active.map(\.weight.destinationPortCount) == [2] && active.map(\.weight.sourcePortCount) == [64512])
    }

    @Test func creationOrderBreaksFullTies() throws {
        let active = EffectiveFilters.collect(
            try store([
                ("srcaddr=any dstaddr=me mirrored=no", "permit"), ("srcaddr=any dstaddr=me mirrored=no", "permit")
            ]))
        #expect(Ordering.sorted(active, for: .input).map(\.origin.rule) == ["R0", "R1"])
    }

    @Test func dynamicRulesUseTheirDirectionalAction() throws {
        var dynamic = DynamicState()
        var rule = DynamicState.Rule(
            seq: 1, filter: Filter(seq: 1, source: .any, destination: .me, mirrored: false), mmpolicy: "m",
            inbound: .permit, outbound: .block)
        rule.filter.seq = 1
        dynamic.rules = [rule]
        let active = EffectiveFilters.collect(
            try store([("srcaddr=any dstaddr=me mirrored=no", "negotiate")]), dynamic: dynamic)
        #expect(Ordering.sorted(active, for: .input).map(\.id) == ["F6", "D1"])
        #expect(active.last?.origin.description == "dynamic")
    }
}

@Suite struct MirrorTests {
    @Test func mirrorSwapsAddressesMasksAndPorts() throws {
        let active = EffectiveFilters.collect(
            try store([
                ("srcaddr=any dstaddr=198.51.100.0/24 protocol=tcp srcport=1024 dstport=80 mirrored=yes", "permit")
            ]))
        #expect(active.count == 2)
        let (a, b) = (active[0], active[1])
        #expect(a.id == "F6" && b.id == "F6m" && b.isMirror)
        #expect(
            a.source == .any && a.destination == .subnet(IPAddress("198.51.100.0")!, prefix: 24) && a.sourcePort == 1024
                && a.destinationPort == 80)
        #expect(
            b.source == .subnet(IPAddress("198.51.100.0")!, prefix: 24) && b.destination == .any && b.sourcePort == 80
                && b.destinationPort == 1024)
        // Each half is ordered by its own weight: (A,R) rank 31 and (R,A) rank 36.
        #expect(a.weight.fossenRank == 31 && b.weight.fossenRank == 36)
    }

    @Test func symmetricMirrorCollapses() throws {
        #expect(EffectiveFilters.collect(try store([("srcaddr=any dstaddr=any mirrored=yes", "block")])).count == 1)
        #expect(EffectiveFilters.collect(try store([("srcaddr=any dstaddr=me mirrored=no", "block")])).count == 1)
    }

    @Test func onlyAssignedPoliciesAndActiveRulesCount() throws {
        let s = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=p action=permit
            add filter filterlist=L srcaddr=any dstaddr=me
            add policy name=Unassigned
            add rule name=R policy=Unassigned filterlist=L filteraction=p
            add policy name=Assigned assign=yes
            add rule name=Off policy=Assigned filterlist=L filteraction=p activate=no
            add rule name=On policy=Assigned filterlist=L filteraction=p
            set store location=persistent
            add filteraction name=b action=block
            add filter filterlist=M srcaddr=198.51.100.0/24 dstaddr=me mirrored=no
            add policy name=Persist assign=yes
            add rule name=Keep policy=Persist filterlist=M filteraction=b
            """)
        let active = EffectiveFilters.collect(s)
        #expect(
            active.map(\.origin.description) == [
                "persistent/Persist/Keep/M/#1", "local/Assigned/On/L/#1", "local/Assigned/On/L/#1"
            ])
    }
}
