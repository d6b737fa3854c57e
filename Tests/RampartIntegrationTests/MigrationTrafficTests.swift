import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// A policy imported from a Windows registry export, enforced by rampartd on real traffic: its
/// DNS and GATEWAY special filters follow resolv.conf and the default routes, its LAN-only rule
/// takes the veth links and not the tun link, its dial-up rule the reverse (issue 32).
@Suite(.serialized) struct MigrationTrafficTests {
    static let export = Fixtures.repositoryRoot.appendingPathComponent(
        "Tests/RampartCLITests/Golden/windows/branch.reg"
    )
    .path
    static let dial4 = "192.0.2.2", serverDial4 = "192.0.2.1"
    static let dial6 = "2001:db8:2::2", serverDial6 = "2001:db8:2::1"

    /// A point-to-point tun link between the server and `dial` (`probe.py tunlink`).
    final class TunLink {
        let relay: ChildProcess
        let dial: Namespace

        init(_ server: Namespace) throws {
            dial = try Namespace("dial")
            relay = try ChildProcess([
                "/usr/bin/python3", RampartCLI.probe, "tunlink", server.name, dial.name, "--name", "ppp0"
            ])
            try waitUntil("the tun link exists", seconds: 10) {
                let here = try server.run(["ip", "link", "show", "ppp0"], allowFailure: true).status
                let there = try dial.run(["ip", "link", "show", "ppp0"], allowFailure: true).status
                return here == 0 && there == 0
            }
            for (ns, v4, peer, v6) in [
                (server, serverDial4, dial4, serverDial6), (dial, dial4, serverDial4, dial6)
            ] {
                try ns.run(["ip", "addr", "add", v4, "peer", peer, "dev", "ppp0"])
                try ns.run(["ip", "-6", "addr", "add", "\(v6)/64", "dev", "ppp0", "nodad"])
                try ns.run(["ip", "link", "set", "ppp0", "up"])
            }
        }

        deinit {
            kill(relay.processIdentifier, SIGKILL)
            relay.waitUntilExit()
            dial.delete()
        }
    }

    @Test func anImportedPolicyWithServerTypesAndConnectionTypes() throws {
        try withLab { lab, cli in
            let link = try TunLink(lab.server)
            let resolv = try cli.file("resolv.conf", "nameserver \(Lab.internal4)\nnameserver \(Lab.internal6)\n")
            try lab.server.run(["ip", "route", "replace", "default", "via", Lab.external4])
            try lab.server.run(["ip", "-6", "route", "replace", "default", "via", Lab.external6])
            let daemon = try DaemonHarness(cli: cli, ns: lab.server, config: "resolv_conf = \(resolv)\n")
            defer { daemon.stop() }
            try daemon.start()
            let imported = try daemon.rampart(["import", Self.export])
            #expect(imported.status == 0, "\(imported.out)\(imported.err)")
            #expect(try daemon.rampart(["status"]).out.contains("local: Branch Server"))
            let ruleset = try lab.server.nftList()
            #expect(ruleset.contains("meta iiftype < 512") && ruleset.contains("meta iiftype >= 512"), "\(ruleset)")

            try lab.listen(lab.inside, tcp: [53], udp: [53, 123])
            try lab.listen(lab.external, tcp: [53], udp: [53, 123])
            try lab.listen(lab.server, tcp: [22, 80])
            // DNS: the servers of resolv.conf, and no one else.
            for (dns, other) in [(Lab.internal4, Lab.external4), (Lab.internal6, Lab.external6)] {
                #expect(try lab.udp(from: lab.server, dns, 53), "DNS to \(dns)")
                #expect(try lab.tcp(from: lab.server, dns, 53), "DNS over TCP to \(dns)")
                #expect(try !lab.udp(from: lab.server, other, 53), "not DNS: \(other)")
            }
            // GATEWAY: the default routes' next hops, and no one else.
            for (gateway, other) in [(Lab.external4, Lab.internal4), (Lab.external6, Lab.internal6)] {
                #expect(try lab.udp(from: lab.server, gateway, 123), "NTP to the gateway \(gateway)")
                #expect(try !lab.udp(from: lab.server, other, 123), "not the gateway: \(other)")
            }
            // SSH from the LAN (veth: Ethernet) only; the web site for dial-up (tun) only.
            for (lan, dial) in [(Lab.serverInternal4, Self.serverDial4), (Lab.serverInternal6, Self.serverDial6)] {
                #expect(try lab.tcp(from: lab.inside, lan, 22), "SSH over the LAN to \(lan)")
                #expect(try !lab.tcp(from: link.dial, dial, 22), "SSH over dial-up to \(dial)")
                #expect(try lab.tcp(from: link.dial, dial, 80), "web over dial-up to \(dial)")
                #expect(try !lab.tcp(from: lab.inside, lan, 80), "web over the LAN to \(lan)")
            }

            // The sets follow the system: a new gateway, and the old one is refused.
            try lab.server.run(["ip", "route", "replace", "default", "via", Lab.internal4])
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.internal4) }") })
            #expect(try lab.udp(from: lab.server, Lab.internal4, 123))
            #expect(try !lab.udp(from: lab.server, Lab.external4, 123))
            // explain names the rule's conntype as the reason on the other kind of interface.
            let explained = try daemon.rampart([
                "explain", "in", "tcp", "\(Self.dial4):40000", "to", "me:22", "--conntype", "dialup"
            ])
            #expect(explained.out.contains("on eth0 (dialup)\nverdict: block (drop)"), "\(explained.out)")
            #expect(
                explained.out.contains(
                    "[local/Branch Server/SSH from the LAN/SSH/#1] — interface type (its rule has conntype=lan; the interface is dialup) does not match"
                ), "\(explained.out)")
        }
    }
}
