import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// Negotiate in the shapes admins write (issue 34), with real charons and rampartds on a kernel
/// with ESP (on this CI machine: inside the VM of `ESPVirtualMachineTests`): under the web-server
/// example's block-all, for all traffic, and through a NAT.
@Suite(
    .serialized, .enabled(if: KernelIPsec.available, "needs ESP in the kernel; ESPVirtualMachineTests runs it in a VM"))
struct NegotiateShapesTrafficTests {
    /// A host of the lab with its charon, store and rampartd, started with `policy`.
    static func host(_ ns: Namespace, policy: String) throws -> IPsecTests.Host {
        let cli = try RampartCLI()
        let charon = try Charon(ns: ns, directory: cli.directory)
        try cli.exec(policy)
        let daemon = try DaemonHarness(cli: cli, ns: ns, config: IPsecTests.config(charon))
        try daemon.start()
        return IPsecTests.Host(cli: cli, charon: charon, daemon: daemon)
    }

    static func stop(_ hosts: [IPsecTests.Host]) {
        for h in hosts {
            h.daemon.stop()
            h.charon.stop()
            h.cli.cleanup()
        }
    }

    /// One TCP connection from `from` to `to`'s echo server on 5001, lines echoed for `seconds`.
    static func stream(
        from: Namespace, to ns: Namespace, address: String, seconds: Double = 3
    ) throws -> (ok: Bool, text: String) {
        let echo = try ns.spawn(["python3", RampartCLI.probe, "echo", "--tcp", "5001"])
        defer {
            kill(echo.processIdentifier, SIGKILL)
            echo.waitUntilExit()
        }
        _ = pollUntil(seconds: 4) { ((try? ns.run(["ss", "-lnH"]).out) ?? "").contains(":5001 ") }
        // The first SYN starts IKE (the trap holds it): a second connection if the first timed out.
        var last = (ok: false, text: "")
        for _ in 0..<2 where !last.ok {
            let r = try from.run(
                [
                    "python3", RampartCLI.probe, "stream", address, "5001", "--seconds", String(seconds), "--interval",
                    "0.2"
                ], allowFailure: true)
            last = (r.status == 0, r.out + r.err)
        }
        return last
    }

    static func clearOnPort(_ packets: [String], _ port: Int) -> [String] {
        packets.filter {
            ($0.contains(".\(port) ") || $0.contains(".\(port):")) && !$0.contains("ESP(") && !$0.contains("UDP-encap")
        }
    }

    /// (a) The web-server example plus a negotiate rule for one peer: the service runs over ESP
    /// through the block-all, the peer's clear traffic to other ports is blocked, a host without
    /// IPsec is blocked. On main before issue 34 the server's block-all dropped the peer's ESP.
    @Test func theWebServerExampleWithOneNegotiatedPeer() throws {
        try withLab { lab, _ in
            let server = try Self.host(
                lab.server, policy: Fixtures.webServerNegotiating(peer: Lab.internal4, psk: "web-key"))
            let peer = try Self.host(lab.inside, policy: IPsecTests.policy(peer: Lab.serverInternal4, psk: "web-key"))
            defer { Self.stop([server, peer]) }
            let capture = try Capture(lab.server, address: Lab.serverInternal4, directory: server.cli.directory)
            let run = try Self.stream(from: lab.server, to: lab.inside, address: Lab.internal4)
            let packets = try capture.stop()
            #expect(run.ok, "\(run.text)\n\(server.charon.log().suffix(3000))")
            #expect(packets.filter { $0.contains("ESP(spi=0x") }.count >= 20, "\(packets.joined(separator: "\n"))")
            #expect(Self.clearOnPort(packets, 5001).isEmpty, "only ESP on the wire: \(packets.joined(separator: "\n"))")
            print(
                "shape (a): stream \(run.text.trimmingCharacters(in: .whitespacesAndNewlines)); \(packets.count) packets on the wire, "
                    + "\(packets.filter { $0.contains("ESP(spi=0x") }.count) ESP, \(Self.clearOnPort(packets, 5001).count) clear on 5001"
            )
            let counters = try server.daemon.rampart(["counters"]).out
            #expect(counters.contains("ipsec-esp"), "\(counters)")
            // The SA as charon and the kernel hold it: ESP with AES in transport mode, authenticated without error.
            let qm = try server.daemon.rampart(["dynamic", "show", "qmsas"]).out
            #expect(
                qm.contains("INSTALLED") && qm.contains("TRANSPORT") && qm.contains("ESP")
                    && qm.contains("AES_CBC/256/HMAC_SHA1_96"), "\(qm)")
            let state = try lab.server.run(["ip", "-s", "xfrm", "state"]).out
            #expect(
                state.contains("proto esp") && state.contains("enc cbc(aes)") && state.contains("mode transport"),
                "\(state)")
            let flat = try server.daemon.rampart(["dynamic", "show", "stats"]).out.split(
                separator: " ", omittingEmptySubsequences: true
            ).joined(separator: " ")
            #expect(flat.contains("CHILD_SAs installed") && !flat.contains("CHILD_SAs installed 0"), "\(flat)")
            #expect(flat.contains("0 XfrmInStateProtoError"), "no packet failed authentication or decryption\n\(flat)")
            // The peer's clear traffic to another port meets the block-all; so does a host without IPsec.
            try lab.listen(lab.server, tcp: [8080, 5001])
            #expect(try !lab.tcp(from: lab.inside, Lab.serverInternal4, 8080))
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 5001))
            try lab.listen(lab.server, tcp: [80])
            #expect(try lab.tcp(from: lab.external, Lab.serverExternal4, 80), "what the example permits still passes")
        }
    }

    /// (b) "Require security for all traffic" on both hosts: TCP and UDP run over ESP, clear
    /// traffic from a third host is blocked.
    @Test func requireSecurityForAllTrafficBetweenTwoHosts() throws {
        try withLab { lab, _ in
            let a = try Self.host(lab.server, policy: Fixtures.requireSecurity(psk: "all-key"))
            let b = try Self.host(lab.inside, policy: Fixtures.requireSecurity(psk: "all-key"))
            defer { Self.stop([a, b]) }
            let capture = try Capture(lab.server, address: Lab.serverInternal4, directory: a.cli.directory)
            let run = try Self.stream(from: lab.server, to: lab.inside, address: Lab.internal4)
            try lab.listen(lab.inside, tcp: [6001], udp: [5353])
            let udp = a.daemon.eventually(10) {
                (try? lab.udp(from: lab.server, Lab.internal4, 5353, timeout: 1)) == true
            }
            let packets = try capture.stop()
            #expect(run.ok, "\(run.text)\n\(a.charon.log().suffix(3000))")
            #expect(udp, "UDP over the SA\n\(packets.joined(separator: "\n"))")
            #expect(
                Self.clearOnPort(packets, 5001).isEmpty && Self.clearOnPort(packets, 5353).isEmpty,
                "\(packets.joined(separator: "\n"))")
            #expect(packets.filter { $0.contains("ESP(spi=0x") }.count >= 20)
            print(
                "shape (b): stream \(run.text.trimmingCharacters(in: .whitespacesAndNewlines)), UDP over the SA \(udp); \(packets.count) packets, "
                    + "\(packets.filter { $0.contains("ESP(spi=0x") }.count) ESP, \(Self.clearOnPort(packets, 5001).count + Self.clearOnPort(packets, 5353).count) clear"
            )
            // A third host, without IPsec, gets nothing through in clear.
            try lab.listen(lab.server, tcp: [6002])
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 6002))
        }
    }

    /// The server namespace as a NAT router (masquerade) between the inside host and the external one.
    static func natThroughServer(_ lab: Lab) throws {
        try lab.server.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try lab.server.run(
            ["nft", "-f", "-"],
            input: """
                table ip nat {
                    chain post { type nat hook postrouting priority srcnat; ip saddr 198.51.100.0/24 ip daddr 203.0.113.0/24 masquerade; }
                }
                """)
        try lab.inside.run(["ip", "route", "add", "default", "via", Lab.serverInternal4])
    }

    /// (c) The inside host behind a NAT: IKE moves to UDP 4500, ESP travels in UDP on the wire, the
    /// connection works; without the negotiate rule the same datagrams to 4500 are blocked.
    @Test func throughANATWithUDPEncapsulation() throws {
        try withLab { lab, _ in
            try Self.natThroughServer(lab)
            let blockAll = Fixtures.blockAll
            // The responder answers anyone with the key: behind a NAT the peer's address is the NAT's.
            let negotiating = """
                pushd ipsec static
                add filteraction name=Secure action=negotiate qmsecmethods="ESP[AES256,SHA1]"
                add filter filterlist=Svc srcaddr=me dstaddr=any protocol=tcp srcport=5001
                add rule name=svc policy=Closed filterlist=Svc filteraction=Secure psk="nat-key"
                popd

                """
            let responder = blockAll + negotiating
            // Without the negotiate rule, UDP 4500 from behind the NAT is the block-all's; with it, it passes.
            let bare = try RampartCLI()
            defer { bare.cleanup() }
            try bare.exec(blockAll)
            let plain = try DaemonHarness(cli: bare, ns: lab.external, config: "")
            try plain.start()
            try lab.listen(lab.external, tcp: [], udp: [4500])
            #expect(try !lab.udp(from: lab.inside, Lab.external4, 4500), "4500 blocked without a negotiate rule")
            try bare.exec(negotiating)
            plain.signal(SIGHUP)
            #expect(
                plain.eventually(10) { (try? lab.udp(from: lab.inside, Lab.external4, 4500, timeout: 0.5)) == true },
                "4500 passes for a negotiate peer")
            plain.stop()
            lab.stopListeners()

            let initiator =
                blockAll + """
                    pushd ipsec static
                    add filteraction name=Secure action=negotiate qmsecmethods="ESP[AES256,SHA1]"
                    add filter filterlist=Svc srcaddr=me dstaddr=\(Lab.external4) protocol=tcp dstport=5001
                    add rule name=svc policy=Closed filterlist=Svc filteraction=Secure psk="nat-key"
                    popd

                    """
            let b = try Self.host(lab.external, policy: responder)
            let a = try Self.host(lab.inside, policy: initiator)
            defer { Self.stop([a, b]) }
            let capture = try Capture(lab.server, address: Lab.serverExternal4, directory: b.cli.directory)
            let run = try Self.stream(from: lab.inside, to: lab.external, address: Lab.external4)
            let packets = try capture.stop()
            #expect(run.ok, "\(run.text)\n\(a.charon.log().suffix(3000))\n\(b.charon.log().suffix(2000))")
            #expect(
                packets.contains {
                    $0.contains("203.0.113.1.4500 > 203.0.113.10.4500") || $0.contains(".4500: UDP-encap")
                        || $0.contains("UDP-encap")
                },
                "IKE and ESP in UDP 4500 through the NAT\n\(packets.joined(separator: "\n"))")
            #expect(
                packets.filter { $0.contains("UDP-encap") && $0.contains("ESP(spi=0x") }.count >= 10,
                "\(packets.joined(separator: "\n"))")
            #expect(Self.clearOnPort(packets, 5001).isEmpty, "\(packets.joined(separator: "\n"))")
            let mm = try b.daemon.rampart(["dynamic", "show", "mmsas"]).out
            #expect(
                mm.contains("203.0.113.1:") && mm.contains("203.0.113.10:4500") && mm.contains(" peer "),
                "the NAT and the ports: \(mm)")
            let qm = try b.daemon.rampart(["dynamic", "show", "qmsas"]).out
            #expect(qm.contains("ESP-in-UDP"), "\(qm)")
            print(
                "shape (c): stream \(run.text.trimmingCharacters(in: .whitespacesAndNewlines)); \(packets.filter { $0.contains("UDP-encap") && $0.contains("ESP(spi=0x") }.count) "
                    + "ESP-in-UDP packets, \(Self.clearOnPort(packets, 5001).count) clear on 5001\n\(mm)")
        }
    }

    /// Windows' two tunnel rules (out: tunnel=the gateway, in: tunnel=this host) for a network
    /// behind a gateway, on both ends, each under a block-all.
    static func tunnelPolicy(local: String, network: String, gateway: String, me: String) -> String {
        Fixtures.blockAll + """
            pushd ipsec static
            add filteraction name=Secure action=negotiate qmsecmethods="ESP[AES256,SHA1]"
            add filter filterlist=Out srcaddr=\(local) dstaddr=\(network) mirrored=no
            add filter filterlist=In srcaddr=\(network) dstaddr=\(local) mirrored=no
            add rule name=out policy=Closed filterlist=Out filteraction=Secure tunnel=\(gateway) psk="tunnel-key"
            add rule name=in policy=Closed filterlist=In filteraction=Secure tunnel=\(me) psk="tunnel-key"
            popd

            """
    }

    /// (d) `tunnel=` (issue 32, item 5): the server reaches a network behind the inside host (its
    /// gateway) through a tunnel-mode SA: the inner connection to 192.0.2.77 works, the wire
    /// between the endpoints carries only ESP between their own addresses, and charon and the
    /// kernel hold a tunnel-mode SA. Before, the rule was enforced as transport mode and IKE went
    /// to 192.0.2.77 itself.
    @Test func aTunnelToTheNetworkBehindAGateway() throws {
        try withLab { lab, _ in
            let inner = "192.0.2.77"
            try lab.inside.run(["ip", "addr", "add", "\(inner)/32", "dev", "lo"])
            try lab.server.run(["ip", "route", "add", "192.0.2.0/24", "via", Lab.internal4])
            let server = try Self.host(
                lab.server,
                policy: Self.tunnelPolicy(
                    local: "me", network: "192.0.2.0/24", gateway: Lab.internal4, me: Lab.serverInternal4))
            let gateway = try Self.host(
                lab.inside,
                policy: Self.tunnelPolicy(
                    local: "192.0.2.0/24", network: Lab.serverInternal4, gateway: Lab.serverInternal4,
                    me: Lab.internal4))
            defer { Self.stop([server, gateway]) }
            // What each end sends (a capture of both directions would show the decrypted packets too).
            let captures = [
                try Capture(lab.server, address: Lab.serverInternal4, directory: server.cli.directory, sent: true),
                try Capture(lab.inside, address: Lab.internal4, directory: gateway.cli.directory, sent: true)
            ]
            let run = try Self.stream(from: lab.server, to: lab.inside, address: inner)
            let packets = try captures.flatMap { try $0.stop() }
            #expect(run.ok, "\(run.text)\n\(server.charon.log().suffix(3000))\n\(gateway.charon.log().suffix(2000))")
            let esp = packets.filter { $0.contains("ESP(spi=0x") }
            #expect(esp.count >= 20, "\(packets.joined(separator: "\n"))")
            #expect(
                esp.allSatisfy {
                    $0.contains("\(Lab.serverInternal4) > \(Lab.internal4): ESP")
                        || $0.contains("\(Lab.internal4) > \(Lab.serverInternal4): ESP")
                }, "ESP between the endpoints only\n\(esp.joined(separator: "\n"))")
            #expect(
                Self.clearOnPort(packets, 5001).isEmpty && !packets.contains { $0.contains(inner) },
                "the inner addresses never on the wire: \(packets.joined(separator: "\n"))")
            let qm = try server.daemon.rampart(["dynamic", "show", "qmsas"]).out
            #expect(qm.contains("INSTALLED") && qm.contains("TUNNEL"), "\(qm)")
            let state = try lab.server.run(["ip", "xfrm", "state"]).out
            #expect(state.contains("mode tunnel") && !state.contains("mode transport"), "\(state)")
            print(
                "shape (d): stream \(run.text.trimmingCharacters(in: .whitespacesAndNewlines)); \(packets.count) packets on the wire, "
                    + "\(esp.count) ESP between \(Lab.serverInternal4) and \(Lab.internal4), \(Self.clearOnPort(packets, 5001).count) clear"
            )
            // The block-all still holds for clear traffic from elsewhere.
            try lab.listen(lab.server, tcp: [6003])
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 6003))
        }
    }
}
