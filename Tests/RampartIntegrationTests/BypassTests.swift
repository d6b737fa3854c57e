import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// Packets that must not slip past a filter on `me` (issue 29): datagrams to broadcast and
/// multicast addresses are addressed to this host as much as unicast ones.
@Suite(.serialized) struct BypassTests {
    typealias L = Lab

    /// Sends two datagrams to each destination from the internal client and returns what the
    /// server's sockets on `ports` received, as "PORT DESTINATION" lines.
    func received(_ lab: Lab, ports: [Int], destinations: [String], size: Int = 0) throws -> [String] {
        let sink = try lab.server.spawnCapturing([
            "python3", RampartCLI.probe, "sink", "--udp", ports.map(String.init).joined(separator: ","), "--seconds",
            "60"
        ])
        try waitUntil("the sink listens") {
            ports.allSatisfy { p in (try? lab.server.run(["ss", "-lnuH"]).out.contains(":\(p) ")) ?? false }
        }
        for destination in destinations {
            for port in ports {
                let from = destination.contains(":") ? L.internal6 : L.internal4
                try lab.inside.run([
                    "python3", RampartCLI.probe, "send", destination, String(port), "--from", from, "--count", "2",
                    "--size", String(size)
                ])
            }
        }
        // Last, to a port the sink listens on and every policy here permits: the end marker.
        try lab.inside.run([
            "python3", RampartCLI.probe, "send", L.serverInternal4, String(ports.last!), "--from", L.internal4, "--end"
        ])
        return sink.finish().split(separator: "\n").map(String.init).filter { $0 != "ready" && $0 != "done" }
    }

    static let everyone = [
        L.serverInternal4, "198.51.100.255", "255.255.255.255", "224.0.0.1", "ff02::1", L.serverInternal6
    ]

    @Test func blockToMeCoversBroadcastAndMulticast() throws {
        let script = """
            ipsec dynamic set config ipsecexempt value=3
            ipsec static add filteraction name=Block action=block
            ipsec static add filteraction name=Permit action=permit
            ipsec static add filter filterlist=Syslog srcaddr=any dstaddr=me protocol=udp dstport=514
            ipsec static add filter filterlist=Open srcaddr=any dstaddr=me protocol=udp dstport=515
            ipsec static add policy name=P assign=yes
            ipsec static add rule name=syslog policy=P filterlist=Syslog filteraction=Block
            ipsec static add rule name=open policy=P filterlist=Open filteraction=Permit
            """
        try withAppliedLab(script) { lab, _ in
            let got = try received(lab, ports: [514, 515], destinations: Self.everyone)
            #expect(
                got.filter { $0.hasPrefix("514 ") } == [], "blocked to me, whatever the destination address: \(got)")
            // The same datagrams to a port the policy leaves open all arrive: the probe reaches the host.
            #expect(Set(got.filter { $0.hasPrefix("515 ") }) == Set(Self.everyone.map { "515 \($0)" }), "\(got)")
            #expect(got.filter { $0.hasPrefix("515 ") }.count == 2 * Self.everyone.count)
        }
    }

    /// Datagrams larger than the link's MTU arrive in fragments; with or without conntrack in the
    /// ruleset (ipsecdiagnostics bit 4), the filters see them reassembled (issue 29, item 9).
    @Test(arguments: [0, 4])
    func fragmentedDatagramsToAPermittedPortArrive(diagnostics: Int) throws {
        try withAppliedLab("ipsec dynamic set config ipsecdiagnostics value=\(diagnostics)\n" + Self.blockAllButUDP515)
        { lab, _ in
            let got = try received(
                lab, ports: [514, 515], destinations: [L.serverInternal4, L.serverInternal6], size: 4000)
            #expect(
                got.sorted() == [
                    "515 \(L.serverInternal4)", "515 \(L.serverInternal4)", "515 \(L.serverInternal6)",
                    "515 \(L.serverInternal6)"
                ],
                "every 4,000-byte datagram to the permitted port, none to the blocked one: \(got)")
        }
    }

    /// Everything to `me` blocked but UDP 515, exemptions at level 3 (none for broadcast or multicast).
    static let blockAllButUDP515 = """
        ipsec dynamic set config ipsecexempt value=3
        ipsec static add filteraction name=Block action=block
        ipsec static add filteraction name=Permit action=permit
        ipsec static add filter filterlist=Everything srcaddr=any dstaddr=me
        ipsec static add filter filterlist=Open srcaddr=any dstaddr=me protocol=udp dstport=515
        ipsec static add policy name=P assign=yes
        ipsec static add rule name=deny policy=P filterlist=Everything filteraction=Block
        ipsec static add rule name=open policy=P filterlist=Open filteraction=Permit
        """

    @Test func blockAllToMeCoversBroadcastAndMulticast() throws {
        try withAppliedLab(Self.blockAllButUDP515) { lab, cli in
            let got = try received(lab, ports: [514, 515], destinations: Self.everyone)
            #expect(got.filter { $0.hasPrefix("514 ") } == [], "\(got)")
            #expect(got.filter { $0.hasPrefix("515 ") }.count == 2 * Self.everyone.count, "\(got)")
            // explain, run where the subnet is, names the block-all filter for its broadcast.
            for destination in ["198.51.100.255", "255.255.255.255", "224.0.0.1"] {
                let text = try cli.run(
                    ["explain", "in", "udp", "\(L.internal4):40000", "to", "\(destination):514"], in: lab.server
                ).out
                #expect(text.contains("drop") && text.contains("decided by: F"), "\(destination): \(text)")
            }
        }
    }
}

/// Neighbour discovery is exempt only as it comes from the link (hop limit 255), and a router
/// advertisement, which anyone on the link can send, does not make its sender a GATEWAY unless
/// rampartd.conf says so (issue 29, item 3).
@Suite(.serialized) struct NeighbourDiscoveryTests {
    typealias L = Lab

    static let policy = """
        ipsec dynamic set config ipsecexempt value=3
        ipsec static add filteraction name=Block action=block
        ipsec static add filteraction name=Permit action=permit
        ipsec static add filter filterlist=Rest srcaddr=any dstaddr=me
        ipsec static add filter filterlist=Snmp srcaddr=GATEWAY dstaddr=me protocol=udp dstport=161 mirrored=no
        ipsec static add filter filterlist=Inside srcaddr=2001:db8:100::10 dstaddr=me protocol=58 mirrored=no
        ipsec static add policy name=P assign=yes
        ipsec static add rule name=rest policy=P filterlist=Rest filteraction=Block
        ipsec static add rule name=snmp policy=P filterlist=Snmp filteraction=Permit
        ipsec static add rule name=inside policy=P filterlist=Inside filteraction=Block
        """

    func device(_ ns: Namespace) throws -> String {
        let links = try ns.run(["ip", "-o", "link", "show"]).out.split(separator: "\n")
        let line = try #require(links.first { !$0.contains(" lo:") })
        return String(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces).split(separator: "@")[0])
    }

    /// The packets the counter of the filter on 2001:db8:100::10's ICMPv6 has counted.
    func insideCount(_ ns: Namespace) throws -> Int {
        let listing = try ns.run(["nft", "list", "chain", "inet", "rampart", "input"]).out
        let line = try #require(
            listing.split(separator: "\n").first { $0.contains("2001:db8:100::10") && $0.contains("drop") })
        let words = line.split(separator: " ")
        let at = try #require(words.firstIndex(of: "packets"))
        return try #require(Int(words[at + 1]))
    }

    @Test func onlyNeighbourDiscoveryFromTheLinkIsExempt() throws {
        try withAppliedLab(Self.policy) { lab, _ in
            let dev = try device(lab.inside)
            let before = try insideCount(lab.server)
            // Solicitations for the server's address from the inside's global address: 5 as a neighbour
            // sends them, then 5 with the hop limit of a packet that crossed a router.
            let send = { (hops: Int) in
                try lab.inside.run([
                    "python3", RampartCLI.probe, "nd", "ns", "--dev", dev, "--to", L.serverInternal6, "--src",
                    L.internal6,
                    "--hops", String(hops), "--count", "5"
                ])
            }
            _ = try send(255)
            #expect(try insideCount(lab.server) == before, "hop limit 255: exempt, the filters never see them")
            _ = try send(64)
            #expect(try insideCount(lab.server) == before + 5, "hop limit 64: the policy decides (blocked)")
        }
    }

    /// Packet too big passes a block-all (path MTU discovery for the flows it permits), and MLD
    /// does on the link, in and out (issue 29, item 15); an echo request, for comparison, is the
    /// policy's. Counted by the counter of the filter that blocks the inside's ICMPv6.
    @Test func packetTooBigAndMulticastListenerDiscoveryPassABlockAll() throws {
        try withAppliedLab(Self.policy) { lab, _ in
            let dev = try device(lab.inside)
            func send(_ type: Int, to: String, hops: Int) throws {
                try lab.inside.run([
                    "python3", RampartCLI.probe, "nd", String(type), "--dev", dev, "--to", to, "--src", L.internal6,
                    "--hops", String(hops), "--count", "3"
                ])
            }
            let before = try insideCount(lab.server)
            try send(2, to: L.serverInternal6, hops: 64)
            try send(143, to: "ff02::1", hops: 1)
            #expect(try insideCount(lab.server) == before, "packet too big and an MLD report pass before any filter")
            try send(128, to: L.serverInternal6, hops: 64)
            try send(143, to: "ff02::1", hops: 64)
            #expect(
                try insideCount(lab.server) == before + 6,
                "an echo request, and MLD that did not stay on the link, are the policy's")
            // The server's own reports when it joins a group leave it (the block-all's output half counts none).
            let output = { try lab.server.run(["nft", "list", "chain", "inet", "rampart", "output"]).out }
            #expect(try output().contains("ip6 hoplimit 1 accept comment \"icmpv6-mld\""))
        }
    }

    @Test func aRouterAdvertisementDoesNotMakeAGatewayUnlessConfigured() throws {
        try withLab { lab, cli in
            try cli.exec(Self.policy)
            let daemon = try DaemonHarness(
                cli: cli, ns: lab.server, config: "resolv_conf = \(cli.directory.path)/none.conf\n")
            defer { daemon.stop() }
            try daemon.start()
            let router = try lab.inside.run([
                "python3", RampartCLI.probe, "nd", "ra", "--dev", try device(lab.inside), "--hops", "255"
            ]).out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try waitUntil("the server has a default route from the advertisement") {
                try lab.server.run(["ip", "-6", "route", "show", "default"]).out.contains("via \(router) ")
            }
            try waitUntil("rampartd says it ignored the advertised router") {
                daemon.log().contains("\(router) is a default router by a router advertisement")
            }
            #expect(daemon.log().contains("not taken as a GATEWAY"), "\(daemon.log())")
            #expect(try !lab.server.run(["nft", "list", "set", "inet", "rampart", "gateway_v6"]).out.contains(router))
            // Trusted on request: the set follows at the next reload.
            try "resolv_conf = \(cli.directory.path)/none.conf\ngateway_from_router_advertisements = yes\n".write(
                toFile: daemon.configPath, atomically: true, encoding: .utf8)
            try daemon.rampart(["reload"])
            try waitUntil("the advertised router is a GATEWAY") {
                try lab.server.run(["nft", "list", "set", "inet", "rampart", "gateway_v6"]).out.contains(router)
            }
        }
    }
}
