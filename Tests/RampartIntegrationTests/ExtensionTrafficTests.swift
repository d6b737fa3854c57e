import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// The filter-language extensions on real packets between namespaces.
@Suite(.serialized) struct ExtensionTrafficTests {
    typealias L = Lab

    @Test func portRangesAndListsOpenExactlyTheirPorts() throws {
        let script = """
            pushd ipsec static
            add filteraction name=B action=block
            add filteraction name=P action=permit
            add filter filterlist=In srcaddr=any dstaddr=me mirrored=no
            add filter filterlist=Open srcaddr=any dstaddr=me protocol=tcp dstport=80,443,8080,3000-3999
            add filter filterlist=Open srcaddr=any dstaddr=me protocol=udp srcport=1024-65535 dstport=5000-5010
            add policy name=P assign=yes
            add rule name=in policy=P filterlist=In filteraction=B
            add rule name=open policy=P filterlist=Open filteraction=P
            """
        try withAppliedLab(script) { lab, _ in
            let open = [80, 443, 8080, 3000, 3500, 3999], closed = [81, 2999, 4000, 9000]
            try lab.listen(lab.server, tcp: open + closed, udp: [5000, 5010, 5011])
            for port in open {
                #expect(try lab.tcp(from: lab.external, L.serverExternal4, port), "tcp \(port) is in the list")
                #expect(try lab.tcp(from: lab.inside, L.serverInternal6, port), "tcp \(port) over IPv6")
            }
            for port in closed {
                #expect(try !lab.tcp(from: lab.external, L.serverExternal4, port), "tcp \(port) is outside the list")
            }
            #expect(try lab.udp(from: lab.external, L.serverExternal4, 5000, sourcePort: 40000))
            #expect(try lab.udp(from: lab.external, L.serverExternal4, 5010, sourcePort: 1024))
            #expect(
                try !lab.udp(from: lab.external, L.serverExternal4, 5011, sourcePort: 40000),
                "udp 5011 is past the range")
            #expect(
                try !lab.udp(from: lab.external, L.serverExternal4, 5000, sourcePort: 1000), "a source port below 1024")
        }
    }

    /// A schedule switched by a faked clock (`apply --at`), in local time on both sides of
    /// Europe's 2026 spring-forward night.
    @Test func aScheduledRuleIsInForceOnlyInsideItsWindow() throws {
        let script = Fixtures.officeRDP
        try withLab { lab, cli in
            try cli.exec(script)
            try lab.listen(lab.server, tcp: [3389])
            for (time, open, what) in [
                ("2026-03-27T07:30:00Z", true, "Friday 08:30 CET"),
                ("2026-03-27T17:30:00Z", false, "Friday 18:30 CET"),
                ("2026-03-28T10:00:00Z", false, "Saturday"),
                (
                    "2026-03-30T06:30:00Z", true,
                    "Monday 08:30 CEST (06:30 UTC: a winter UTC window would still be closed)"
                ),
                ("2026-03-30T16:30:00Z", false, "Monday 18:30 CEST")
            ] {
                try cli.run(["apply", "--at", time], in: lab.server)
                #expect(try lab.tcp(from: lab.external, L.serverExternal4, 3389) == open, "\(what)")
            }
            let bad = try cli.run(["apply", "--at", "monday morning"], in: lab.server, allowFailure: true)
            #expect(bad.status != 0 && bad.err.contains("is not an ISO 8601 time"))
        }
    }

    /// The classic the article says IPSec cannot express: no incoming connections, while replies
    /// to this host's own connections come in.
    @Test func aSynFilterBlocksIncomingConnectionsButNotReplies() throws {
        let script = """
            pushd ipsec static
            add filteraction name=B action=block
            add filter filterlist=NoConnections srcaddr=any dstaddr=me protocol=tcp tcpflags=syn mirrored=no
            add policy name=P assign=yes
            add rule name=nc policy=P filterlist=NoConnections filteraction=B
            """
        try withAppliedLab(script) { lab, cli in
            try lab.listen(lab.server, tcp: [22, 80])
            try lab.listen(lab.external, tcp: [80])
            try lab.listen(lab.inside, tcp: [443])
            #expect(try !lab.tcp(from: lab.external, L.serverExternal4, 80), "an incoming connection over IPv4")
            #expect(try !lab.tcp(from: lab.inside, L.serverInternal6, 22), "an incoming connection over IPv6")
            #expect(try lab.tcp(from: lab.server, L.external4, 80), "an outbound connection: its SYN-ACK comes in")
            #expect(try lab.tcp(from: lab.server, L.internal6, 443), "the same over IPv6")
            // UDP is not TCP: untouched.
            try lab.listen(lab.server, tcp: [], udp: [53])
            #expect(try lab.udp(from: lab.external, L.serverExternal4, 53))
            // Exactly the two connection attempts (one SYN each within the probe's 0.6 s) hit the
            // filter; the replies and the UDP datagram did not.
            let counters = try cli.run(["counters"], in: lab.server).out
            let row = counters.split(separator: "\n").map { $0.split(separator: " ") }.first {
                $0.count > 3 && $0[1] == "F3"
            }
            #expect(row?[2] == "2", "\(counters)")
        }
    }
}

/// An address group edited through rampartd while traffic flows: the set changes, the rules
/// (their handles and counters) do not.
@Suite(.serialized) struct AddressGroupTrafficTests {
    static let policy = """
        pushd ipsec static
        add filteraction name=B action=block
        add filteraction name=P action=permit
        add addressgroup name=Admins addresses=192.0.2.200,2001:db8:100::10
        add filter filterlist=SSH srcaddr=any dstaddr=me protocol=tcp dstport=22 mirrored=no
        add filter filterlist=Admins srcaddr=group:Admins dstaddr=me protocol=tcp dstport=22
        add policy name=P assign=yes
        add rule name=ssh policy=P filterlist=SSH filteraction=B
        add rule name=admins policy=P filterlist=Admins filteraction=P
        """

    /// `handle N` of every rule, in order: the same list before and after means no rule was replaced.
    static func handles(_ listing: String) -> [String] {
        listing.split(separator: "\n").compactMap { line in
            line.range(of: "# handle ").map { String(line[$0.upperBound...]) }
        }
    }

    @Test func aGroupChangedLiveLetsItsNewMemberInAndNoOneElse() throws {
        try withLab { lab, cli in
            try cli.exec(Self.policy)
            let daemon = try DaemonHarness(cli: cli, ns: lab.server)
            defer { daemon.stop() }
            try daemon.start()
            try lab.listen(lab.server, tcp: [22])
            #expect(try !lab.tcp(from: lab.inside, Lab.serverInternal4, 22), "198.51.100.10 is not an admin yet")
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal6, 22), "its IPv6 address is")
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 22))
            let before = try lab.server.run(["nft", "-a", "list", "table", "inet", "rampart"]).out

            let changed = try daemon.rampart(["static", "set", "addressgroup", "name=Admins", "add=\(Lab.internal4)"])
            #expect(changed.status == 0, "\(changed.err)")
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal4, 22), "198.51.100.10 is an admin now")
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 22), "203.0.113.10 still is not")
            let after = try lab.server.run(["nft", "-a", "list", "table", "inet", "rampart"]).out
            #expect(
                Self.handles(after) == Self.handles(before) && !Self.handles(before).isEmpty,
                "rules were replaced:\n\(before)\n\(after)")
            #expect(after.contains("198.51.100.10") && !before.contains("198.51.100.10"))
            #expect(daemon.log().contains("as a delta: +0 −0 rules, +0 −0 elements, 1 sets"), "\(daemon.log())")
            // The block filter's counter kept its drops from before the change: three blocked
            // attempts of one SYN each (two before, one after); a replaced rule would show 1.
            let counters = try cli.run(["counters"], in: lab.server).out
            let row = counters.split(separator: "\n").map { $0.split(separator: " ") }.first {
                $0.count > 7 && $0[7].contains("/ssh/SSH/")
            }
            #expect(row?[2] == "3", "\(counters)")
        }
    }
}

/// The shipped example of the extensions does what its comments say.
@Suite(.serialized) struct ExtensionsExampleTests {
    @Test func theExamplePolicyEnforcesItsComments() throws {
        try withLab { lab, cli in
            try cli.exec(try String(contentsOfFile: Fixtures.extensionsExample, encoding: .utf8))
            // Tuesday 2026-12-01 10:00 CET: office hours.
            try cli.run(["apply", "--at", "2026-12-01T09:00:00Z"], in: lab.server)
            try lab.listen(lab.server, tcp: [22, 80, 443, 3000, 3389, 9999])
            try lab.listen(lab.external, tcp: [80])
            #expect(try lab.tcp(from: lab.external, Lab.serverExternal4, 443), "web on the list")
            #expect(try lab.tcp(from: lab.external, Lab.serverExternal4, 3000), "app range")
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 9999), "no other connection in")
            #expect(try !lab.tcp(from: lab.external, Lab.serverExternal4, 22), "203.0.113.10 is not an admin")
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal4, 22), "the admin LAN")
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal4, 3389), "RDP in office hours")
            #expect(try lab.tcp(from: lab.server, Lab.external4, 80), "this host's own connections get their replies")
            // Saturday: RDP closed, the rest unchanged.
            try cli.run(["apply", "--at", "2026-12-05T09:00:00Z"], in: lab.server)
            #expect(try !lab.tcp(from: lab.inside, Lab.serverInternal4, 3389), "RDP outside office hours")
            #expect(try lab.tcp(from: lab.inside, Lab.serverInternal4, 22))
        }
    }
}
