import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// Real packets between namespaces: what the policy says is what the kernel enforces.
@Suite(.serialized) struct TrafficTests {
    typealias L = Lab

    static var example: String { (try? String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)) ?? "" }

    @Test func webServerExampleEnforcesTheArticlesPolicy() throws {
        let dns = #"{"dns": ["198.51.100.10", "2001:db8:100::10"], "wins": [], "dhcp": [], "gateway": [], "names": {}}"#
        try withAppliedLab(Self.example, addresses: dns) { lab, _ in
            try lab.listen(lab.server, tcp: [80, 443, 21, 3389, 8080])
            try lab.listen(lab.inside, tcp: [80, 53], udp: [53])
            try lab.listen(lab.external, tcp: [80, 53], udp: [53])
            // Inbound web from both clients, IPv4 and IPv6.
            for (client, v4, v6) in [
                (lab.inside, L.serverInternal4, L.serverInternal6), (lab.external, L.serverExternal4, L.serverExternal6)
            ] {
                for port in [80, 443] {
                    #expect(try lab.tcp(from: client, v4, port), "tcp \(port) over IPv4 from \(client.name)")
                    #expect(try lab.tcp(from: client, v6, port), "tcp \(port) over IPv6 from \(client.name)")
                }
            }
            // FTP and Terminal Services from the internal network only (an IPv4 network).
            for port in [21, 3389] {
                #expect(try lab.tcp(from: lab.inside, L.serverInternal4, port), "tcp \(port) from internal")
                #expect(try !lab.tcp(from: lab.external, L.serverExternal4, port), "tcp \(port) from external")
                #expect(
                    try !lab.tcp(from: lab.external, L.serverExternal6, port), "tcp \(port) from external over IPv6")
            }
            #expect(try !lab.tcp(from: lab.external, L.serverExternal4, 8080), "an unlisted port")
            // Sending from port 80 or 443 reaches no local service: the outbound web filters'
            // reply halves are stateful (issue 29, item 16; a stateless mirror admitted this).
            for (port, source) in [(3389, 80), (3389, 443), (8080, 80)] {
                #expect(
                    try !lab.tcp(from: lab.external, L.serverExternal4, port, sourcePort: source),
                    "tcp \(source) -> \(port) from external")
                #expect(
                    try !lab.tcp(from: lab.external, L.serverExternal6, port, sourcePort: source),
                    "tcp \(source) -> \(port) from external over IPv6")
            }
            // Outbound HTTP works; other outbound traffic does not.
            #expect(try lab.tcp(from: lab.server, L.external4, 80))
            #expect(try lab.tcp(from: lab.server, L.external6, 80))
            #expect(try lab.tcp(from: lab.server, L.internal4, 80))
            // DNS only to the address in the DNS set.
            #expect(try lab.udp(from: lab.server, L.internal4, 53))
            #expect(try lab.tcp(from: lab.server, L.internal4, 53))
            #expect(try lab.udp(from: lab.server, L.internal6, 53))
            #expect(try !lab.udp(from: lab.server, L.external4, 53))
            #expect(try !lab.tcp(from: lab.server, L.external4, 53))
            #expect(try !lab.udp(from: lab.server, L.external6, 53))
        }
    }

    @Test func blockAllBlocksEverythingButLoopbackAndNeighbourDiscovery() throws {
        let script =
            "pushd ipsec static\nadd filteraction name=B action=block\nadd filter filterlist=Everything srcaddr=any dstaddr=any\nadd policy name=P assign=yes\nadd rule name=R policy=P filterlist=Everything filteraction=B\n"
        try withAppliedLab(script) { lab, _ in
            try lab.listen(lab.server, tcp: [80])
            try lab.listen(lab.inside, tcp: [80])
            #expect(try !lab.tcp(from: lab.inside, L.serverInternal4, 80))
            #expect(try !lab.tcp(from: lab.inside, L.serverInternal6, 80))
            #expect(try !lab.tcp(from: lab.server, L.internal4, 80))
            #expect(try lab.tcp(from: lab.server, "127.0.0.1", 80), "loopback")
            #expect(try lab.tcp(from: lab.server, "::1", 80), "loopback over IPv6")
        }
    }

    @Test(arguments: [false, true])
    func mirroredFiltersLetRepliesOut(mirrored: Bool) throws {
        let script = """
            pushd ipsec static
            add filteraction name=B action=block
            add filteraction name=P action=permit
            add filter filterlist=Everything srcaddr=any dstaddr=any
            add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=\(mirrored ? "yes" : "no")
            add policy name=P assign=yes
            add rule name=R policy=P filterlist=Everything filteraction=B
            add rule name=W policy=P filterlist=Web filteraction=P
            """
        try withAppliedLab(script) { lab, _ in
            try lab.listen(lab.server, tcp: [80])
            // Forget the neighbours: IPv6 must resolve them again through the block-all policy,
            // which works only because neighbour discovery is always permitted.
            try lab.server.run(["ip", "neigh", "flush", "all"])
            try lab.inside.run(["ip", "neigh", "flush", "all"])
            // Without the mirror the SYN gets in but the SYN-ACK is blocked on its way out.
            #expect(try lab.tcp(from: lab.inside, L.serverInternal4, 80) == mirrored)
            #expect(try lab.tcp(from: lab.inside, L.serverInternal6, 80) == mirrored)
        }
    }

    @Test func bootModeBlockAllowsOnlyExemptionsAndDHCP() throws {
        let script =
            "ipsec dynamic set config bootmode block\nipsec dynamic set config bootexemptions tcp:0:22:inbound\n"
        try withAppliedLab(script, boot: true) { lab, _ in
            try lab.listen(lab.server, tcp: [22, 80])
            try lab.listen(lab.inside, tcp: [80], udp: [67])
            #expect(try lab.tcp(from: lab.inside, L.serverInternal4, 22), "boot exemption")
            #expect(try lab.tcp(from: lab.inside, L.serverInternal6, 22), "boot exemption over IPv6")
            #expect(try !lab.tcp(from: lab.inside, L.serverInternal4, 80))
            #expect(try !lab.tcp(from: lab.server, L.internal4, 80), "outbound is blocked too")
            #expect(try lab.udp(from: lab.server, L.internal4, 67, sourcePort: 68), "DHCP client to server")
            #expect(try !lab.udp(from: lab.server, L.internal4, 67, sourcePort: 1068), "not DHCP")
        }
    }

    @Test func bootModeStatefulLetsOutboundAndItsRepliesOnly() throws {
        let script =
            "ipsec dynamic set config bootmode stateful\nipsec dynamic set config bootexemptions tcp:0:22:inbound\n"
        try withAppliedLab(script, boot: true) { lab, _ in
            try lab.listen(lab.server, tcp: [22, 80])
            try lab.listen(lab.inside, tcp: [80], udp: [53])
            #expect(try lab.tcp(from: lab.server, L.internal4, 80), "outbound and its replies")
            #expect(try lab.tcp(from: lab.server, L.internal6, 80), "outbound and its replies over IPv6")
            #expect(try lab.udp(from: lab.server, L.internal4, 53), "UDP replies return")
            #expect(try !lab.tcp(from: lab.inside, L.serverInternal4, 80), "unsolicited inbound")
            #expect(try lab.tcp(from: lab.inside, L.serverInternal4, 22), "boot exemption")
        }
    }

    @Test func bootModePermitLetsEverythingThrough() throws {
        try withAppliedLab("ipsec dynamic set config bootmode permit\n", boot: true) { lab, _ in
            try lab.listen(lab.server, tcp: [80])
            try lab.listen(lab.inside, tcp: [80])
            #expect(try lab.tcp(from: lab.inside, L.serverInternal4, 80))
            #expect(try lab.tcp(from: lab.server, L.internal6, 80))
        }
    }

    @Test(arguments: [0, 3])
    func kerberosExemptionIsASourcePortHole(level: Int) throws {
        let script = Fixtures.blockAll + "ipsec dynamic set config ipsecexempt \(level)\n"
        try withAppliedLab(script) { lab, _ in
            try lab.listen(lab.server, tcp: [80])
            #expect(
                try lab.tcp(from: lab.external, L.serverExternal4, 80, sourcePort: 88) == (level == 0),
                "source port 88 at ipsecexempt \(level)")
            #expect(try !lab.tcp(from: lab.external, L.serverExternal4, 80, sourcePort: 1088))
        }
    }
}
