import Testing
import RampartTestKit
@testable import RampartCompiler
@testable import RampartPolicy

/// Negotiate in the shapes admins write (issue 34): under a block-all, for all traffic, with whole
/// networks. The negotiate peers' ESP, AH and IKE pass before the filters, the clear packet inside
/// is what the filters decide, and a protected packet passes only if its encrypted pass does too —
/// in the reference evaluator and in the compiled ruleset alike.
struct NegotiateShapesTests {
    static let me4 = IPAddress("192.0.2.1")!, me6 = IPAddress("2001:db8::1")!
    static let host = Host(
        localAddresses: [me4, me6], broadcastAddresses: [IPAddress("192.0.2.255")!], anycastAddresses: [])

    struct Probe {
        var hook: Chain.Hook
        var packet: Packet
        var expected: PacketVerdict.Action
        var decidedBy: String?
    }

    static func inbound(
        _ from: String, proto: UInt8, sport: UInt16 = 0, dport: UInt16 = 0, ipsec: Bool = false, natT: Bool = false
    ) -> Packet {
        let a = IPAddress(from)!
        var p = Packet(
            source: a, destination: a.family == .ipv4 ? me4 : me6, proto: proto, sourcePort: sport,
            destinationPort: dport, ipsec: ipsec)
        p.natTraversal = natT
        return p
    }

    static func outbound(
        _ to: String, proto: UInt8, sport: UInt16 = 0, dport: UInt16 = 0, ipsec: Bool = false, natT: Bool = false
    ) -> Packet {
        let a = IPAddress(to)!
        var p = Packet(
            source: a.family == .ipv4 ? me4 : me6, destination: a, proto: proto, sourcePort: sport,
            destinationPort: dport, ipsec: ipsec)
        p.natTraversal = natT
        return p
    }

    func check(_ store: Store, _ probes: [Probe]) {
        let reference = ReferenceEvaluator(store: store, addresses: DynamicAddresses(), host: Self.host)
        let compiled = RulesetEvaluator(ruleset: RulesetCompiler().compile(store), host: Self.host)
        for probe in probes {
            let expected = reference.verdict(probe.packet, probe.hook),
                actual = compiled.verdict(probe.packet, probe.hook)
            #expect(expected == actual, "\(probe.hook) \(probe.packet): reference \(expected), ruleset \(actual)")
            #expect(expected.action == probe.expected, "\(probe.hook) \(probe.packet): \(expected)")
            if let id = probe.decidedBy {
                #expect(expected.decidedBy == id, "\(probe.hook) \(probe.packet): \(expected)")
            }
        }
    }

    /// (a) The web-server example plus a negotiate rule for one peer's TCP 5001.
    @Test func underTheWebServersBlockAllOnlyThePeersIPsecPasses() throws {
        let store = try storeFrom(Fixtures.webServerNegotiating(peer: "198.51.100.20"))
        let peer = "198.51.100.20", stranger = "198.51.100.21"
        check(
            store,
            [
                Probe(hook: .input, packet: Self.inbound(peer, proto: 50), expected: .accept, decidedBy: "ipsec-esp"),
                Probe(hook: .input, packet: Self.inbound(peer, proto: 51), expected: .accept, decidedBy: "ipsec-ah"),
                Probe(
                    hook: .input, packet: Self.inbound(peer, proto: 17, sport: 1024, dport: 500), expected: .accept,
                    decidedBy: "ipsec-ike"),
                Probe(
                    hook: .input, packet: Self.inbound(peer, proto: 17, sport: 4500, dport: 4500), expected: .accept,
                    decidedBy: "ipsec-ike"),
                Probe(hook: .output, packet: Self.outbound(peer, proto: 50), expected: .accept, decidedBy: "ipsec-esp"),
                Probe(
                    hook: .output, packet: Self.outbound(peer, proto: 17, sport: 4500, dport: 31000), expected: .accept,
                    decidedBy: "ipsec-ike"),
                // Only the peer: anyone else's ESP and NAT-T meet the block-all.
                Probe(hook: .input, packet: Self.inbound(stranger, proto: 50), expected: .drop),
                Probe(
                    hook: .input, packet: Self.inbound(stranger, proto: 17, sport: 4500, dport: 4500), expected: .drop),
                Probe(hook: .output, packet: Self.outbound(stranger, proto: 50), expected: .drop),
                // The service over the SA passes both passes; in clear it is dropped; the peer's clear
                // traffic to other ports is the block-all's.
                Probe(
                    hook: .output, packet: Self.outbound(peer, proto: 6, sport: 40000, dport: 5001, ipsec: true),
                    expected: .accept),
                Probe(
                    hook: .input, packet: Self.inbound(peer, proto: 6, sport: 5001, dport: 40000, ipsec: true),
                    expected: .accept),
                Probe(
                    hook: .input,
                    packet: Self.inbound(peer, proto: 6, sport: 5001, dport: 40000, ipsec: true, natT: true),
                    expected: .accept),
                Probe(hook: .output, packet: Self.outbound(peer, proto: 6, sport: 40000, dport: 5001), expected: .drop),
                Probe(hook: .input, packet: Self.inbound(peer, proto: 6, sport: 40000, dport: 22), expected: .drop),
                // A protected packet from a host that is no peer: its ESP never gets in.
                Probe(
                    hook: .input, packet: Self.inbound(stranger, proto: 6, sport: 5001, dport: 40000, ipsec: true),
                    expected: .drop)
            ])
    }

    /// (b) "Secure Server (Require Security)": all IP traffic negotiated with anyone, ICMP permitted.
    @Test func requireSecurityForAllTrafficPassesIPsecAndProtectedTrafficOnly() throws {
        let store = try storeFrom(Fixtures.requireSecurity())
        check(
            store,
            [
                Probe(
                    hook: .input, packet: Self.inbound("203.0.113.9", proto: 50), expected: .accept,
                    decidedBy: "ipsec-esp"),
                Probe(
                    hook: .input, packet: Self.inbound("2001:db8:7::9", proto: 17, sport: 4500, dport: 4500),
                    expected: .accept, decidedBy: "ipsec-ike"),
                Probe(
                    hook: .input, packet: Self.inbound("203.0.113.9", proto: 6, sport: 51000, dport: 80, ipsec: true),
                    expected: .accept),
                Probe(
                    hook: .input,
                    packet: Self.inbound("203.0.113.9", proto: 17, sport: 51000, dport: 53, ipsec: true, natT: true),
                    expected: .accept),
                Probe(
                    hook: .input, packet: Self.inbound("203.0.113.9", proto: 6, sport: 51000, dport: 80),
                    expected: .drop),
                Probe(
                    hook: .output, packet: Self.outbound("203.0.113.9", proto: 17, sport: 40000, dport: 53),
                    expected: .drop),
                Probe(
                    hook: .output,
                    packet: Self.outbound("203.0.113.9", proto: 17, sport: 40000, dport: 53, ipsec: true),
                    expected: .accept),
                Probe(hook: .input, packet: Self.inbound("203.0.113.9", proto: 1), expected: .accept)
            ])
    }

    /// (c) Whole networks of both families under a block-all (a NAT's addresses are such peers).
    @Test func negotiatePeersThatAreNetworksOfBothFamilies() throws {
        let store = try storeFrom(Fixtures.negotiateSubnets)
        check(
            store,
            [
                Probe(
                    hook: .input, packet: Self.inbound("203.0.113.77", proto: 17, sport: 3000, dport: 4500),
                    expected: .accept, decidedBy: "ipsec-ike"),
                Probe(
                    hook: .input, packet: Self.inbound("2001:db8:5::9", proto: 50), expected: .accept,
                    decidedBy: "ipsec-esp"),
                Probe(
                    hook: .input, packet: Self.inbound("198.51.100.9", proto: 17, sport: 3000, dport: 4500),
                    expected: .drop),
                Probe(hook: .input, packet: Self.inbound("2001:db8:6::9", proto: 50), expected: .drop),
                Probe(
                    hook: .output,
                    packet: Self.outbound("2001:db8:5::9", proto: 6, sport: 40000, dport: 22, ipsec: true),
                    expected: .accept),
                Probe(
                    hook: .output,
                    packet: Self.outbound("203.0.113.77", proto: 6, sport: 40000, dport: 22, ipsec: true),
                    expected: .drop)
            ])
    }

    @Test func thePeersAreTheRemoteSidesOfNegotiateFiltersOnly() throws {
        let store = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=S action=negotiate qmsecmethods="ESP[AES256,SHA1]"
            add filteraction name=P action=permit
            add filter filterlist=N srcaddr=me dstaddr=192.0.2.20 protocol=tcp dstport=5001
            add filter filterlist=N srcaddr=198.51.100.0/24 dstaddr=me protocol=udp dstport=53
            add filter filterlist=N srcaddr=192.0.2.20 dstaddr=me protocol=tcp dstport=22
            add filter filterlist=O srcaddr=me dstaddr=203.0.113.5
            add policy name=X assign=yes
            add rule name=n policy=X filterlist=N filteraction=S psk="k"
            add rule name=o policy=X filterlist=O filteraction=P
            popd
            """)
        let transport = NegotiationTransport(EffectiveFilters.collect(store))
        #expect(
            transport.peers.map(\.address) == [
                .subnet(IPAddress("192.0.2.20")!, prefix: 32), .subnet(IPAddress("198.51.100.0")!, prefix: 24)
            ])
        #expect(
            NegotiationTransport(EffectiveFilters.collect(try storeFrom(Fixtures.requireSecurity()))).peers.map(
                \.address) == [.any])
        #expect(NegotiationTransport(EffectiveFilters.collect(try storeFrom(Fixtures.mixedFamilies))).peers.count == 1)
        let plain = try storeFrom(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))
        #expect(NegotiationTransport(EffectiveFilters.collect(plain)).isEmpty)
        #expect(
            !RulesetCompiler().compile(plain).chains.flatMap(\.rules).contains { $0.id.hasPrefix("ipsec-") },
            "no negotiate filter, no IPsec rule")
    }
}
