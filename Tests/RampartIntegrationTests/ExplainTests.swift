import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// `rampart explain` against real probes: for every probe of the web-server example, the explained
/// verdicts of its packet and of the reply say whether the connection works, and the filter the
/// explanation names is the one whose counter the probe's packets increment.
@Suite(.serialized) struct ExplainTests {
    typealias L = Lab

    struct Probe {
        var inbound: Bool
        var client: KeyPath<Lab, Namespace>
        var clientAddress: String
        var serverAddress: String
        var proto: String
        var port: Int
    }

    static func endpoint(_ address: String, _ port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// The JSON verdict and deciding rule of one explained packet, run in the server's namespace.
    static func explain(
        _ cli: RampartCLI, _ lab: Lab, _ addresses: String, _ words: [String]
    ) throws -> (verdict: String, id: String?) {
        let out = try cli.run(["explain", "--json", "--addresses", addresses] + words, in: lab.server).out
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let decided = json["decidedBy"] as? [String: Any]
        return (json["verdict"] as! String, (decided?["id"] ?? decided?["rule"]) as? String)
    }

    /// Packets counted per rule id (`rampart counters --json` in the server).
    static func counters(_ cli: RampartCLI, _ lab: Lab) throws -> [String: Int] {
        let out = try cli.run(["counters", "--json"], in: lab.server).out
        var totals: [String: Int] = [:]
        for row in try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]] {
            totals[row["id"] as! String, default: 0] += row["packets"] as! Int
        }
        return totals
    }

    @Test func everyProbeOfTheWebServerExampleIsAsExplained() throws {
        try withLab { lab, cli in
            try cli.exec(try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))
            let addresses = try cli.addresses(
                #"{"dns": ["198.51.100.10", "2001:db8:100::10"], "wins": [], "dhcp": [], "gateway": [], "names": {}}"#)
            try cli.run(["apply", "--addresses", addresses], in: lab.server)
            try lab.listen(lab.server, tcp: [80, 443, 21, 3389, 8080])
            try lab.listen(lab.inside, tcp: [80, 53], udp: [53])
            try lab.listen(lab.external, tcp: [80, 53], udp: [53])
            var probes: [Probe] = []
            for port in [80, 443, 21, 3389, 8080] {
                probes.append(
                    Probe(
                        inbound: true, client: \.inside, clientAddress: L.internal4, serverAddress: L.serverInternal4,
                        proto: "tcp", port: port))
                probes.append(
                    Probe(
                        inbound: true, client: \.external, clientAddress: L.external4, serverAddress: L.serverExternal4,
                        proto: "tcp", port: port))
                probes.append(
                    Probe(
                        inbound: true, client: \.external, clientAddress: L.external6, serverAddress: L.serverExternal6,
                        proto: "tcp", port: port))
            }
            probes.append(
                Probe(
                    inbound: true, client: \.inside, clientAddress: L.internal6, serverAddress: L.serverInternal6,
                    proto: "tcp", port: 80))
            for (client, address, server) in [
                (\Lab.external, L.external4, L.serverExternal4), (\Lab.external, L.external6, L.serverExternal6),
                (\Lab.inside, L.internal4, L.serverInternal4)
            ] {
                probes.append(
                    Probe(
                        inbound: false, client: client, clientAddress: address, serverAddress: server, proto: "tcp",
                        port: 80))
            }
            for (client, address, server) in [
                (\Lab.inside, L.internal4, L.serverInternal4), (\Lab.inside, L.internal6, L.serverInternal6),
                (\Lab.external, L.external4, L.serverExternal4)
            ] {
                probes.append(
                    Probe(
                        inbound: false, client: client, clientAddress: address, serverAddress: server, proto: "udp",
                        port: 53))
                probes.append(
                    Probe(
                        inbound: false, client: client, clientAddress: address, serverAddress: server, proto: "tcp",
                        port: 53))
            }
            var permitted = 0, blocked = 0
            for (i, p) in probes.enumerated() {
                let ephemeral = 41000 + i
                // The first packet and its reply, as they pass the server's hooks.
                let (first, reply): ([String], [String])
                if p.inbound {
                    first = [
                        "in", p.proto, Self.endpoint(p.clientAddress, ephemeral), "to",
                        Self.endpoint(p.serverAddress, p.port)
                    ]
                    reply = [
                        "out", p.proto, Self.endpoint(p.serverAddress, p.port), "to",
                        Self.endpoint(p.clientAddress, ephemeral)
                    ]
                } else {
                    first = [
                        "out", p.proto, Self.endpoint(p.serverAddress, ephemeral), "to",
                        Self.endpoint(p.clientAddress, p.port)
                    ]
                    reply = [
                        "in", p.proto, Self.endpoint(p.clientAddress, p.port), "to",
                        Self.endpoint(p.serverAddress, ephemeral)
                    ]
                }
                // The reply belongs to the connection the first packet opened (what a stateful mirror asks).
                let a = try Self.explain(cli, lab, addresses, first),
                    b = try Self.explain(cli, lab, addresses, reply + ["state=established"])
                let explained = a.verdict == "accept" && b.verdict == "accept"
                let before = try Self.counters(cli, lab)
                let from = p.inbound ? lab[keyPath: p.client] : lab.server
                let target = p.inbound ? p.serverAddress : p.clientAddress
                let works =
                    p.proto == "tcp"
                    ? try lab.tcp(from: from, target, p.port, sourcePort: ephemeral)
                    : try lab.udp(from: from, target, p.port, sourcePort: ephemeral)
                #expect(
                    works == explained,
                    "\(first.joined(separator: " ")): explained \(a) then \(reply.joined(separator: " ")): \(b), but the probe \(works ? "got through" : "did not")"
                )
                let after = try Self.counters(cli, lab)
                if let id = a.id, id.hasPrefix("F") {
                    #expect(
                        (after[id] ?? 0) > (before[id] ?? 0),
                        "\(first.joined(separator: " ")): the explained filter \(id) counted no packet")
                }
                if explained { permitted += 1 } else { blocked += 1 }
            }
            #expect(
                permitted >= 10 && blocked >= 8,
                "the probes cover both outcomes: \(permitted) permitted, \(blocked) blocked")
        }
    }
}

/// Grouped filters compile to rules over sets whose elements keep their filters: real traffic
/// is dropped or passes as listed, every element counts exactly the packets of its filter, and
/// `rampart explain` names the same filter.
@Suite(.serialized) struct GroupedFilterTests {
    typealias L = Lab

    /// The datagrams of one sender to one port; the packet counter of filter `id` afterwards.
    static func send(_ count: Int, from ns: Namespace, _ source: String, to destination: String, _ port: Int) throws {
        let family = source.contains(":") ? "AF_INET6" : "AF_INET"
        try ns.run([
            "python3", "-c",
            """
            import socket
            s = socket.socket(socket.\(family), socket.SOCK_DGRAM)
            s.bind(("\(source)", 0))
            for _ in range(\(count)):
                # EPERM: the sender's own output hook dropped it (each send is still one packet).
                try: s.sendto(b"x" * 32, ("\(destination)", \(port)))
                except PermissionError: pass
            """
        ])
    }

    static func packets(_ cli: RampartCLI, _ ns: Namespace, _ id: String) throws -> Int {
        let out = try cli.run(["counters", "--json"], in: ns).out
        return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]).filter {
            $0["id"] as? String == id
        }.reduce(0) { $0 + ($1["packets"] as! Int) }
    }

    /// One run of each grouped shape (IPv4 and IPv6 hosts and prefixes concatenated with a port,
    /// addresses alone, ports alone) with a host block inside a permitted prefix: each probe's
    /// datagrams are counted, exactly, by the filter `explain` names, and pass or not as it says.
    /// Both passes of a protected packet (issue 34), as docs/ipsec.md and `explain --help` show them:
    /// the ESP packet first (passed for a negotiate peer, the block-all's otherwise), then the clear one.
    @Test func explainShowsBothPassesOfAProtectedPacket() throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(try Fixtures.webServerNegotiating(peer: "198.51.100.20"))
        try withLab { lab, _ in
            func explain(_ words: [String]) throws -> String { try cli.run(["explain"] + words, in: lab.server).out }
            let reply = try explain(["in", "tcp", "198.51.100.20:5001", "to", "me:40000", "--ipsec"])
            #expect(
                reply.contains("verdict: permit")
                    && reply.contains(
                        "as ESP 198.51.100.20 -> 198.51.100.1: it passes (ipsec-esp); the clear packet's pass decides")
                    && reply.contains("negotiate: protected by an IPsec SA, so permitted"), "\(reply)")
            let natT = try explain(["in", "tcp", "198.51.100.20:5001", "to", "me:40000", "--nat-t"])
            #expect(
                natT.contains("as ESP in UDP 4500") && natT.contains("it passes (ipsec-ike)")
                    && natT.contains("verdict: permit"), "\(natT)")
            #expect(try explain(["in", "esp", "198.51.100.20", "me"]).contains("decided by: ipsec-esp"))
            let stranger = try explain(["in", "esp", "198.51.100.21", "me"])
            #expect(stranger.contains("verdict: block") && !stranger.contains("ipsec-esp"), "\(stranger)")
            let help = try explain(["in", "tcp", "192.0.2.20:51000", "to", "me:5001", "--ipsec"])
            #expect(help.contains("verdict: block") && help.contains("so the packet is never decrypted"), "\(help)")
            let json =
                try JSONSerialization.jsonObject(
                    with: Data(
                        try cli.run(
                            ["explain", "--json", "out", "tcp", "me:40000", "to", "198.51.100.20:5001", "--ipsec"],
                            in: lab.server
                        ).out.utf8)) as? [String: Any]
            let pass = json?["encryptedPass"] as? [String: Any]
            #expect(
                json?["verdict"] as? String == "accept" && pass?["protocol"] as? Int == 50
                    && pass?["decidedBy"] as? String == "ipsec-esp", "\(String(describing: json))")
        }
    }

    @Test func everyGroupedShapeCountsExactlyPerFilter() throws {
        try withLab { lab, cli in
            try cli.exec(
                """
                pushd ipsec static
                add filteraction name=Permit action=permit
                add filteraction name=Block action=block
                add filter filterlist=P srcaddr=\(L.external4) dstaddr=me protocol=udp dstport=5001 mirrored=no
                add filter filterlist=P srcaddr=203.0.113.99 dstaddr=me protocol=udp dstport=5002 mirrored=no
                add filter filterlist=P srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=udp dstport=5003 mirrored=no
                add filter filterlist=P srcaddr=192.0.2.0 srcmask=24 dstaddr=me protocol=udp dstport=5004 mirrored=no
                add filter filterlist=P srcaddr=\(L.external6) dstaddr=me protocol=udp dstport=5005 mirrored=no
                add filter filterlist=P srcaddr=2001:db8:203::99 dstaddr=me protocol=udp dstport=5006 mirrored=no
                add filter filterlist=P srcaddr=2001:db8:100::/64 dstaddr=me protocol=udp dstport=5007 mirrored=no
                add filter filterlist=P srcaddr=2001:db8:99::/64 dstaddr=me protocol=udp dstport=5008 mirrored=no
                add filter filterlist=P srcaddr=2001:db8:98::/64 dstaddr=me protocol=udp dstport=5011 mirrored=no
                add filter filterlist=P srcaddr=any dstaddr=me protocol=udp dstport=5009 mirrored=no
                add filter filterlist=P srcaddr=any dstaddr=me protocol=udp dstport=5010 mirrored=no
                add filter filterlist=B srcaddr=\(L.internal6) dstaddr=me mirrored=no
                add filter filterlist=B srcaddr=2001:db8:100::99 dstaddr=me mirrored=no
                add policy name=Shapes assign=yes
                add rule name=p policy=Shapes filterlist=P filteraction=Permit
                add rule name=b policy=Shapes filterlist=B filteraction=Block
                popd
                """)
            try cli.run(["apply"], in: lab.server)
            let listing = try lab.server.nftList()
            let input = listing.components(separatedBy: "chain input")[1].components(separatedBy: "chain output")[0]
            for shape in [
                "ip saddr . udp dport @input_f", "ip saddr & 255.255.255.0 . udp dport @input_f",
                "ip6 saddr . udp dport @input_f",
                "ip6 saddr & ffff:ffff:ffff:ffff:: . udp dport @input_f", "ip6 saddr @input_f", "udp dport @input_f"
            ] {
                #expect(input.contains(shape), "\(shape) in\n\(input)")
            }
            // The /64 holding the blocked host keeps its place after the block: the only plain rule.
            #expect(
                input.components(separatedBy: "comment \"F").count - 1 == 1, "every other filter is in a set:\n\(input)"
            )
            let none = try cli.addresses(#"{"dns": [], "wins": [], "dhcp": [], "gateway": [], "names": {}}"#)
            try lab.listen(lab.server, tcp: [], udp: [5001, 5003, 5005, 5007, 5009])
            let probes: [(Namespace, String, String, Int, String)] = [
                (lab.external, L.external4, L.serverExternal4, 5001, "accept"),
                (lab.inside, L.internal4, L.serverInternal4, 5003, "accept"),
                (lab.external, L.external6, L.serverExternal6, 5005, "accept"),
                (lab.inside, L.internal6, L.serverInternal6, 5007, "drop"),
                (lab.inside, L.internal4, L.serverInternal4, 5009, "accept")
            ]
            var ids: Set<String> = []
            for (ns, source, destination, port, verdict) in probes {
                let words = [
                    "in", "udp", ExplainTests.endpoint(source, 40000), "to", ExplainTests.endpoint(destination, port)
                ]
                let explained = try ExplainTests.explain(cli, lab, none, words)
                #expect(explained.verdict == verdict, "\(words)")
                let id = try #require(explained.id)
                #expect(id.hasPrefix("F"), "\(words) is decided by a filter, not \(id)")
                ids.insert(id)
                #expect(try lab.udp(from: ns, destination, port) == (verdict == "accept"), "\(words)")
                let before = try Self.packets(cli, lab.server, id)
                try Self.send(9, from: ns, source, to: destination, port)
                #expect(
                    try Self.packets(cli, lab.server, id) - before == 9,
                    "\(words): the element of \(id) counted exactly 9 datagrams")
            }
            #expect(ids.count == probes.count, "five probes, five filters: \(ids)")
        }
    }

    @Test func aBlockListIsOneRuleWithExactCountsPerFilter() throws {
        try withLab { lab, cli in
            var lines = [
                "pushd ipsec static", "add filteraction name=Block action=block", "add policy name=Ban assign=yes"
            ]
            for i in 20..<70 {
                lines.append("add filter filterlist=Banned srcaddr=203.0.113.\(i) dstaddr=me mirrored=no")
            }
            lines.append("add filter filterlist=Banned srcaddr=\(L.external4) dstaddr=me mirrored=no")
            lines.append("add filter filterlist=Banned srcaddr=2001:db8:203::\(99) dstaddr=me mirrored=no")
            lines += ["add rule name=Ban policy=Ban filterlist=Banned filteraction=Block", "popd"]
            try cli.exec(lines.joined(separator: "\n") + "\n")
            try cli.run(["apply"], in: lab.server)
            let listing = try lab.server.nftList()
            let input = listing.components(separatedBy: "chain input")[1].components(separatedBy: "chain output")[0]
            #expect(
                input.components(separatedBy: "@input_f").count - 1 == 1,
                "one rule for the run of 51 IPv4 hosts:\n\(input)"
            )
            #expect(listing.contains("comment \"F51\""), "elements carry their filters' ids")
            try lab.listen(lab.server, tcp: [80], udp: [9999])
            #expect(try lab.tcp(from: lab.inside, L.serverInternal4, 80), "a host not on the list passes")
            #expect(try !lab.tcp(from: lab.external, L.serverExternal4, 80), "a listed host is dropped")
            // The filter for the external client, as explain names it, counts exactly what it sent.
            let explained = try cli.run(
                ["explain", "--json", "in", "udp", "\(L.external4):40000", "to", "\(L.serverExternal4):9999"],
                in: lab.server
            ).out
            let json = try JSONSerialization.jsonObject(with: Data(explained.utf8)) as! [String: Any]
            #expect(json["verdict"] as? String == "drop")
            let id = try #require((json["decidedBy"] as? [String: Any])?["id"] as? String)
            func packets(_ id: String) throws -> Int {
                let out = try cli.run(["counters", "--json"], in: lab.server).out
                return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]).filter {
                    $0["id"] as? String == id
                }.reduce(0) { $0 + ($1["packets"] as! Int) }
            }
            let before = try packets(id)
            let sent = 7
            try lab.external.run([
                "python3", "-c",
                """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("\(L.external4)", 40000))
                for _ in range(\(sent)): s.sendto(b"x" * 32, ("\(L.serverExternal4)", 9999))
                """
            ])
            #expect(try packets(id) - before == sent, "the element of \(id) counted exactly the \(sent) datagrams")
            #expect(try packets("F1") == 0, "another element counted nothing")
        }
    }
}
