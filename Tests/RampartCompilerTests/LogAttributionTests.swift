import Testing
@testable import RampartCompiler
import RampartPolicy

/// Logged headers become packets the evaluators read, and a log prefix names its filter, also
/// for a grouped rule (through the element of its set that holds the packet).
@Suite struct LogAttributionTests {
    static func ipv4(
        proto: UInt8, _ source: [UInt8], _ destination: [UInt8], transport: [UInt8], fragmentOffset: UInt16 = 0
    ) -> [UInt8] {
        [
            0x45, 0, 0, UInt8(20 + transport.count), 0, 0, UInt8(fragmentOffset >> 8), UInt8(fragmentOffset & 0xff), 64,
            proto, 0, 0
        ] + source + destination + transport
    }

    @Test func ipv4HeadersBecomePackets() throws {
        let udp = try #require(
            Packet(
                headers: Self.ipv4(
                    proto: 17, [203, 0, 113, 10], [203, 0, 113, 1], transport: [0x9c, 0x40, 0x17, 0x71, 0, 8, 0, 0])[
                        ...], interface: "eth0"))
        #expect(
            udp
                == Packet(
                    source: IPAddress("203.0.113.10")!, destination: IPAddress("203.0.113.1")!, proto: 17,
                    sourcePort: 40000, destinationPort: 6001, interface: "eth0"))
        let ping = try #require(
            Packet(
                headers: Self.ipv4(proto: 1, [192, 0, 2, 1], [192, 0, 2, 2], transport: [8, 0, 0, 0])[...],
                interface: "eth0"))
        #expect(ping.proto == 1 && ping.icmpType == 8)
        // A later fragment has no ports to read; a header shorter than it says is nothing.
        let fragment = try #require(
            Packet(
                headers: Self.ipv4(
                    proto: 6, [192, 0, 2, 1], [192, 0, 2, 2], transport: [0, 80, 0, 22], fragmentOffset: 185)[...],
                interface: "eth0"))
        #expect(fragment.sourcePort == 0 && fragment.destinationPort == 0)
        #expect(Packet(headers: [0x45, 0, 0, 20, 0, 0][...], interface: "eth0") == nil)
        #expect(Packet(headers: [][...], interface: "eth0") == nil)
        #expect(Packet(headers: [0x25] + [UInt8](repeating: 0, count: 40)[...], interface: "eth0") == nil)
    }

    @Test func ipv6ExtensionHeadersAreSkipped() throws {
        let source = IPAddress("2001:db8:100::10")!, destination = IPAddress("2001:db8:100::1")!
        func bytes(_ a: IPAddress) -> [UInt8] {
            (0..<16).map { UInt8(truncatingIfNeeded: a.numeric >> UInt128(120 - 8 * $0)) }
        }
        // Hop-by-hop options (8 bytes, next header TCP), then TCP 50000 → 443.
        let header: [UInt8] = [0x60, 0, 0, 0, 0, 28, 0, 64] + bytes(source) + bytes(destination)
        let packet = try #require(
            Packet(headers: (header + [6, 0, 0, 0, 0, 0, 0, 0] + [0xc3, 0x50, 0x01, 0xbb])[...], interface: "eth1"))
        #expect(
            packet
                == Packet(
                    source: source, destination: destination, proto: 6, sourcePort: 50000, destinationPort: 443,
                    interface: "eth1"))
        #expect(Packet(headers: (header + [6, 0, 0])[...], interface: "eth1") == nil, "a truncated extension header")
    }

    @Test func prefixesNameTheirFilter() throws {
        var store = Store()
        var interpreter = Interpreter(store: store)
        try ScriptRunner.run(
            ScriptRunner.lines(
                of: """
                    pushd ipsec static
                    add filteraction name=Block action=block
                    add filter filterlist=Ban srcaddr=203.0.113.5 dstaddr=me protocol=udp dstport=6001 mirrored=no
                    add filter filterlist=Ban srcaddr=203.0.113.6 dstaddr=me protocol=udp dstport=6002 mirrored=no
                    add policy name=P assign=yes
                    add rule name=b policy=P filterlist=Ban filteraction=Block
                    popd
                    ipsec dynamic set config ipsecdiagnostics 7

                    """, file: "t"), in: &interpreter)
        store = interpreter.store
        let ruleset = RulesetCompiler().compile(store)
        let set = try #require(ruleset.filterSets.first)
        let packet = Packet(
            source: IPAddress("203.0.113.6")!, destination: IPAddress("192.0.2.1")!, proto: 17, sourcePort: 1,
            destinationPort: 6002)
        let grouped = try #require(LogAttribution(prefix: "rampart in \(set.name) ", packet: packet, ruleset: ruleset))
        let expected = ReferenceEvaluator(
            store: store, addresses: DynamicAddresses(), host: Host(localAddresses: [IPAddress("192.0.2.1")!])
        ).verdict(packet, .input)
        #expect(grouped == LogAttribution(kind: .filter, direction: "in", id: expected.decidedBy))
        #expect(expected.decidedBy == "F4", "the second filter (the list itself is 2)")
        #expect(
            LogAttribution(prefix: "rampart in \(set.name) ", packet: nil, ruleset: ruleset)?.id == nil,
            "without the packet, no element")
        #expect(
            LogAttribution(prefix: "rampart out F12m ", packet: nil, ruleset: ruleset)
                == LogAttribution(kind: .filter, direction: "out", id: "F12m"))
        #expect(
            LogAttribution(prefix: "rampart invalid ", packet: nil, ruleset: ruleset)
                == LogAttribution(kind: .invalid, direction: nil, id: nil))
        #expect(
            LogAttribution(prefix: "rampart boot in ", packet: nil, ruleset: ruleset)
                == LogAttribution(kind: .boot, direction: "in", id: nil))
        for foreign in ["", "iptables DROP ", "rampart", "rampart sideways F1 ", "rampart boot left "] {
            #expect(LogAttribution(prefix: foreign, packet: nil, ruleset: ruleset) == nil, "\(foreign)")
        }
    }
}

/// What the kernel's rule counters say was sent to NFLOG: the figure lost drops are reconciled with.
@Suite struct LoggedPacketsTests {
    @Test func eachLogRuleCountsOnceThroughItsOwnCounterOrItsDropRule() {
        func rule(
            _ chain: String, _ id: String, _ packets: UInt64, log: UInt16? = nil, counted: Bool = true
        ) -> RuleCounter {
            RuleCounter(chain: chain, handle: 0, id: id, packets: packets, bytes: 0, logGroup: log, counted: counted)
        }
        let rules = [
            rule("input", "F1", 5),  // a negotiate filter's protected accept
            rule("input", "F1", 0, log: 1000, counted: false), rule("input", "F1", 7),  // log, then its drop
            rule("input", "log-invalid", 3, log: 1000),  // a counted log rule is its own count
            rule("input", "other", 0, log: 7, counted: false), rule("input", "F2", 100),  // another group
            rule("input", "input_f1_v4", 0, log: 1000, counted: false), rule("input", "input_f1_v4", 11),
            rule("output", "boot-log", 2, log: 1000),
            rule("output", "F9", 0, log: 1000, counted: false),  // last of its chain: nothing follows
            rule("input", "F10", 40)
        ]
        #expect(RuleCounter.loggedPackets(rules, group: 1000) == 7 + 3 + 11 + 2)
        #expect(RuleCounter.loggedPackets(rules, group: 7) == 100)
        #expect(RuleCounter.loggedPackets([], group: 1000) == 0)
    }
}
