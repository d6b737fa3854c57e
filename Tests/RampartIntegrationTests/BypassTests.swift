import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// Packets that must not slip past a filter on `me` (issue 29): datagrams to broadcast and
/// multicast addresses are addressed to this host as much as unicast ones.
@Suite(.serialized) struct BypassTests {
    typealias L = Lab

    func withLab(_ script: String, _ body: (Lab, RampartCLI) throws -> Void) throws {
        let lab = try Lab()
        defer { lab.teardown() }
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(script)
        try cli.run(["apply"], in: lab.server)
        try body(lab, cli)
    }

    /// Sends two datagrams to each destination from the internal client and returns what the
    /// server's sockets on `ports` received, as "PORT DESTINATION" lines.
    func received(_ lab: Lab, ports: [Int], destinations: [String]) throws -> [String] {
        let sink = try lab.server.spawnCapturing(["python3", RampartCLI.probe, "sink", "--udp", ports.map(String.init).joined(separator: ","), "--seconds", "5"])
        try waitUntil("the sink listens") { ports.allSatisfy { p in (try? lab.server.run(["ss", "-lnuH"]).out.contains(":\(p) ")) ?? false } }
        for destination in destinations {
            for port in ports {
                let from = destination.contains(":") ? L.internal6 : L.internal4
                try lab.inside.run(["python3", RampartCLI.probe, "send", destination, String(port), "--from", from, "--count", "2"])
            }
        }
        return sink.finish().split(separator: "\n").map(String.init).filter { $0 != "ready" && $0 != "done" }
    }

    static let everyone = [L.serverInternal4, "198.51.100.255", "255.255.255.255", "224.0.0.1", "ff02::1", L.serverInternal6]

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
        try withLab(script) { lab, _ in
            let got = try received(lab, ports: [514, 515], destinations: Self.everyone)
            #expect(got.filter { $0.hasPrefix("514 ") } == [], "blocked to me, whatever the destination address: \(got)")
            // The same datagrams to a port the policy leaves open all arrive: the probe reaches the host.
            #expect(Set(got.filter { $0.hasPrefix("515 ") }) == Set(Self.everyone.map { "515 \($0)" }), "\(got)")
            #expect(got.filter { $0.hasPrefix("515 ") }.count == 2 * Self.everyone.count)
        }
    }

    @Test func blockAllToMeCoversBroadcastAndMulticast() throws {
        let script = """
            ipsec dynamic set config ipsecexempt value=3
            ipsec static add filteraction name=Block action=block
            ipsec static add filteraction name=Permit action=permit
            ipsec static add filter filterlist=Everything srcaddr=any dstaddr=me
            ipsec static add filter filterlist=Open srcaddr=any dstaddr=me protocol=udp dstport=515
            ipsec static add policy name=P assign=yes
            ipsec static add rule name=deny policy=P filterlist=Everything filteraction=Block
            ipsec static add rule name=open policy=P filterlist=Open filteraction=Permit
            """
        try withLab(script) { lab, cli in
            let got = try received(lab, ports: [514, 515], destinations: Self.everyone)
            #expect(got.filter { $0.hasPrefix("514 ") } == [], "\(got)")
            #expect(got.filter { $0.hasPrefix("515 ") }.count == 2 * Self.everyone.count, "\(got)")
            // explain, run where the subnet is, names the block-all filter for its broadcast.
            for destination in ["198.51.100.255", "255.255.255.255", "224.0.0.1"] {
                let text = try cli.run(["explain", "in", "udp", "\(L.internal4):40000", "to", "\(destination):514"], in: lab.server).out
                #expect(text.contains("drop") && text.contains("decided by: F"), "\(destination): \(text)")
            }
        }
    }
}
