import Foundation
import Testing
import RampartControl
import RampartNamespaceKit
import RampartTestKit

/// The server types follow the system live: resolv.conf and the default routes.
@Suite(.serialized) struct DynamicAddressTests {
    static let policy = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Everything srcaddr=any dstaddr=any
        add filter filterlist=Dns srcaddr=me dstaddr=DNS protocol=udp dstport=53 mirrored=yes
        add filter filterlist=Dns srcaddr=me dstaddr=DNS protocol=tcp dstport=53 mirrored=yes
        add filter filterlist=Dns srcaddr=me dstaddr=GATEWAY protocol=icmp mirrored=yes
        add policy name=P assign=yes
        add rule name=Block policy=P filterlist=Everything filteraction=Block
        add rule name=Dns policy=P filterlist=Dns filteraction=Permit
        """

    @Test func dnsServersFollowResolvConfWithoutAReload() throws {
        try withLab { lab, cli in
            try cli.exec(Self.policy)
            let resolv = cli.directory.appendingPathComponent("resolv.conf").path
            let resolved = cli.directory.appendingPathComponent("resolved-upstream.conf").path
            try "# generated\nnameserver \(Lab.internal4) ; the internal client\n".write(
                toFile: resolv, atomically: true, encoding: .utf8)
            let daemon = try DaemonHarness(
                cli: cli, ns: lab.server, config: "resolv_conf = \(resolv)\nresolved_resolv_conf = \(resolved)\n")
            defer { daemon.stop() }
            try daemon.start()
            try lab.listen(lab.inside, tcp: [53], udp: [53])
            try lab.listen(lab.external, tcp: [53], udp: [53])
            #expect(try lab.udp(from: lab.server, Lab.internal4, 53))
            #expect(try !lab.udp(from: lab.server, Lab.external4, 53))

            // Rename-replace (what resolvconf and dhclient-script do): server B in, server A out.
            try "nameserver \(Lab.external4)\nnameserver \(Lab.external6)\n".write(
                toFile: resolv, atomically: true, encoding: .utf8)
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.external4) }") })
            #expect(try lab.udp(from: lab.server, Lab.external4, 53))
            #expect(try lab.tcp(from: lab.server, Lab.external4, 53))
            #expect(try lab.udp(from: lab.server, Lab.external6, 53))
            #expect(try !lab.udp(from: lab.server, Lab.internal4, 53))

            // In-place rewrite (the file itself is watched, as under an `ip netns exec` bind mount).
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: resolv))
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data("nameserver \(Lab.internal4)\n".utf8))
            try handle.close()
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.internal4) }") })
            #expect(try lab.udp(from: lab.server, Lab.internal4, 53))

            // A symlink swap, then an in-place change of the symlink's new target.
            let target = cli.directory.appendingPathComponent("resolv-target.conf").path
            try "nameserver \(Lab.external4)\n".write(toFile: target, atomically: true, encoding: .utf8)
            try sh(["ln", "-sfn", target, resolv])
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.external4) }") })
            let targetHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
            try targetHandle.truncate(atOffset: 0)
            try targetHandle.write(contentsOf: Data("nameserver \(Lab.internal4)\n".utf8))
            try targetHandle.close()
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.internal4) }") })
            try FileManager.default.removeItem(atPath: resolv)

            // systemd-resolved's stub: the real servers come from resolved's own file.
            try "nameserver \(Lab.external4)\n".write(toFile: resolved, atomically: true, encoding: .utf8)
            try "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n".write(
                toFile: resolv, atomically: true, encoding: .utf8)
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.external4) }") })

            let log = daemon.log()
            #expect(!log.contains("reloading"), "set updates, not reloads")
            #expect(log.contains("DNS servers now \(Lab.external4)"))
            let shown = try daemon.rampart(["show", "dynamic"])
            #expect(
                shown.out.contains("DNS      \(Lab.external4)  from \(resolved) (systemd-resolved's upstream servers)"),
                "\(shown.out)")
            #expect(try daemon.rampart(["show", "dynamic", "--json"]).out.contains(#""GATEWAY""#))
        }
    }

    @Test func theGatewaySetFollowsTheDefaultRoute() throws {
        try withLab { lab, cli in
            try cli.exec(Self.policy)
            let daemon = try DaemonHarness(
                cli: cli, ns: lab.server, config: "resolv_conf = \(cli.directory.path)/none.conf\n")
            defer { daemon.stop() }
            try daemon.start()
            #expect(try !lab.server.nftList().contains("elements = { \(Lab.internal4) }"))
            try lab.server.run(["ip", "route", "replace", "default", "via", Lab.internal4])
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.internal4) }") })
            try lab.server.run(["ip", "route", "replace", "default", "via", Lab.external4])
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.external4) }") })
            try lab.server.run(["ip", "-6", "route", "replace", "default", "via", Lab.external6])
            #expect(try daemon.eventually(1) { try lab.server.nftList().contains("elements = { \(Lab.external6) }") })
            try lab.server.run(["ip", "route", "del", "default"])
            #expect(try daemon.eventually(1) { try !lab.server.nftList().contains("elements = { \(Lab.external4) }") })
            #expect(!daemon.log().contains("reloading"))
        }
    }

    @Test func dhcpAndWinsFollowTheLeaseFiles() throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(
            """
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filter filterlist=L srcaddr=me dstaddr=DHCP protocol=udp dstport=67
            add filter filterlist=L srcaddr=me dstaddr=WINS protocol=udp dstport=137
            add policy name=P assign=yes
            add rule name=R policy=P filterlist=L filteraction=Permit
            """)
        let leases = cli.directory.appendingPathComponent("dhcp")
        let networkd = cli.directory.appendingPathComponent("netif-leases")
        try FileManager.default.createDirectory(at: leases, withIntermediateDirectories: true)
        func lease(_ server: String, _ wins: String) -> String {
            "lease {\n  interface \"eth0\";\n  option dhcp-server-identifier \(server);\n  option netbios-name-servers \(wins);\n}\n"
        }
        try lease("192.0.2.67", "192.0.2.137").write(
            to: leases.appendingPathComponent("dhclient.eth0.leases"), atomically: true, encoding: .utf8)
        let smb = cli.directory.appendingPathComponent("smb.conf").path
        let ns = try Namespace("lease")
        defer { ns.delete() }
        let daemon = try DaemonHarness(
            cli: cli, ns: ns,
            config: """
                resolv_conf = \(cli.directory.path)/none.conf
                dhclient_leases = \(leases.path)
                networkd_leases = \(networkd.path)
                dhcpcd_leases = \(cli.directory.path)/none
                networkmanager_leases = \(cli.directory.path)/none
                smb_conf = \(smb)
                """)
        defer { daemon.stop() }
        try daemon.start()
        let first = try ns.nftList()
        #expect(first.contains("elements = { 192.0.2.67 }") && first.contains("elements = { 192.0.2.137 }"), "\(first)")
        // dhclient appends a newer lease: the last one counts.
        let handle = try FileHandle(forWritingTo: leases.appendingPathComponent("dhclient.eth0.leases"))
        handle.seekToEndOfFile()
        handle.write(Data(lease("198.51.100.67", "198.51.100.137").utf8))
        try handle.close()
        #expect(try daemon.eventually(1) { try ns.nftList().contains("elements = { 198.51.100.67 }") })
        #expect(try ns.nftList().contains("elements = { 198.51.100.137 }"))
        // A networkd lease directory that appears later, and Samba's WINS server, add to the sets.
        try FileManager.default.createDirectory(at: networkd, withIntermediateDirectories: true)
        try
            "# This is private data. Do not parse.\nADDRESS=203.0.113.10\nSERVER_ADDRESS=203.0.113.67\nDNS=203.0.113.53\n"
            .write(to: networkd.appendingPathComponent("2"), atomically: true, encoding: .utf8)
        #expect(try daemon.eventually(1) { try ns.nftList().contains("203.0.113.67") })
        try "[global]\n  wins server = 203.0.113.137\n".write(toFile: smb, atomically: true, encoding: .utf8)
        #expect(try daemon.eventually(1) { try ns.nftList().contains("203.0.113.137") })
        #expect(!daemon.log().contains("reloading"))
        let shown = try daemon.rampart(["show", "dynamic"]).out
        #expect(shown.contains("DHCP     198.51.100.67, 203.0.113.67"), "\(shown)")
    }

    /// A host name in a filter, resolved through a DNS server in another namespace (dnsmasq), and
    /// re-resolved at the next refresh after its record changes.
    @Test func hostNamesResolveThroughATestDNSServerAndRefresh() throws {
        if (try? sh(["which", "dnsmasq"]))?.status != 0 {
            try sh([
                "sh", "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null"
            ])
        }
        try withLab { lab, cli in
            try cli.exec(
                """
                pushd ipsec static
                add filteraction name=Permit action=permit
                add filter filterlist=L srcaddr=me dstaddr=update.example.test protocol=tcp dstport=443
                add policy name=P assign=yes
                add rule name=R policy=P filterlist=L filteraction=Permit
                """)
            // `ip netns exec` shows /etc/netns/NAME/resolv.conf as the namespace's /etc/resolv.conf.
            let netnsEtc = "/etc/netns/\(lab.server.name)"
            try FileManager.default.createDirectory(atPath: netnsEtc, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: netnsEtc) }
            try "nameserver \(Lab.internal4)\n".write(
                toFile: netnsEtc + "/resolv.conf", atomically: true, encoding: .utf8)
            let hosts = cli.directory.appendingPathComponent("hosts").path
            let pidFile = cli.directory.appendingPathComponent("dnsmasq.pid").path
            // dnsmasq daemonizes (closing every inherited descriptor) and leaves its pid in a file.
            func stopDNS() {
                if let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap({
                    Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }) {
                    kill(pid, SIGKILL)
                    _ = pollUntil(seconds: 2) { kill(pid, 0) != 0 }
                }
                try? FileManager.default.removeItem(atPath: pidFile)
            }
            func serveDNS(_ v4: String) throws {
                stopDNS()
                try "\(v4) update.example.test\n2001:db8:203::80 update.example.test\n".write(
                    toFile: hosts, atomically: true, encoding: .utf8)
                try lab.inside.run([
                    "dnsmasq", "--no-resolv", "--no-hosts", "--addn-hosts=\(hosts)",
                    "--listen-address=\(Lab.internal4)",
                    "--bind-interfaces", "--port=53", "--pid-file=\(pidFile)", "--user=root"
                ])
                try waitUntil("dnsmasq listens", seconds: 5) {
                    try lab.inside.run(["ss", "-lnuH"]).out.contains(":53 ")
                }
            }
            try serveDNS("203.0.113.80")
            defer { stopDNS() }
            let daemon = try DaemonHarness(
                cli: cli, ns: lab.server,
                config: "resolv_conf = \(cli.directory.path)/none.conf\ndns_refresh_seconds = 1\n"
            )
            defer { daemon.stop() }
            try daemon.start()
            #expect(
                try daemon.eventually(5) { try lab.server.nftList().contains("elements = { 203.0.113.80 }") },
                "\(daemon.log())")
            #expect(try lab.server.nftList().contains("elements = { 2001:db8:203::80 }"))
            try serveDNS("203.0.113.81")
            #expect(try daemon.eventually(5) { try lab.server.nftList().contains("elements = { 203.0.113.81 }") })
            let shown = try daemon.rampart(["show", "dynamic"]).out
            #expect(
                shown.contains("update.example.test  203.0.113.81, 2001:db8:203::80")
                    || shown.contains("update.example.test  2001:db8:203::80, 203.0.113.81"), "\(shown)")
            // The DNS server goes away: the last known addresses stay, and the failure shows.
            stopDNS()
            #expect(
                try daemon.eventually(15) { try daemon.rampart(["show", "dynamic"]).out.contains("LAST LOOKUP FAILED") }
            )
            #expect(try lab.server.nftList().contains("elements = { 203.0.113.81 }"))
            #expect(try daemon.rampart(["status"]).out.contains("LOOKUP:      update.example.test failed"))
        }
    }

    /// Sources whose directories do not exist when rampartd starts — systemd-resolved's
    /// /run/systemd/resolve (resolv.conf a symlink into it), a DHCP client's first lease directory two
    /// levels down — are watched from their nearest existing ancestor and followed once they appear.
    @Test func sourcesInDirectoriesThatAppearLaterAreFollowed() throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(
            """
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filter filterlist=L srcaddr=me dstaddr=DNS protocol=udp dstport=53
            add filter filterlist=L srcaddr=me dstaddr=DHCP protocol=udp dstport=67
            add policy name=P assign=yes
            add rule name=R policy=P filterlist=L filteraction=Permit
            """)
        let root = cli.directory.path
        let resolv = root + "/etc/resolv.conf"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        // As on a systemd-resolved machine: a symlink into a directory nothing has created yet.
        try FileManager.default.createSymbolicLink(
            atPath: resolv, withDestinationPath: root + "/run/systemd/resolve/stub-resolv.conf")
        let ns = try Namespace("late")
        defer { ns.delete() }
        let daemon = try DaemonHarness(
            cli: cli, ns: ns,
            config: """
                resolv_conf = \(resolv)
                resolved_resolv_conf = \(root)/run/systemd/resolve/resolv.conf
                dhclient_leases = \(root)/var/lib/dhcp
                networkd_leases = \(root)/none
                dhcpcd_leases = \(root)/none
                networkmanager_leases = \(root)/none
                smb_conf = \(root)/none.conf
                """)
        defer { daemon.stop() }
        try daemon.start()
        #expect(try !ns.nftList().contains("192.0.2.53"))
        try FileManager.default.createDirectory(
            atPath: root + "/run/systemd/resolve", withIntermediateDirectories: true)
        try "nameserver 192.0.2.53\n".write(
            toFile: root + "/run/systemd/resolve/stub-resolv.conf", atomically: true, encoding: .utf8)
        let dns = try daemon.eventually(5) { try ns.nftList().contains("elements = { 192.0.2.53 }") }
        #expect(dns, "the DNS set follows the file in the new directory")
        try FileManager.default.createDirectory(atPath: root + "/var/lib/dhcp", withIntermediateDirectories: true)
        try "lease {\n  interface \"eth0\";\n  option dhcp-server-identifier 192.0.2.67;\n}\n"
            .write(toFile: root + "/var/lib/dhcp/dhclient.eth0.leases", atomically: true, encoding: .utf8)
        let dhcp = try daemon.eventually(5) { try ns.nftList().contains("elements = { 192.0.2.67 }") }
        #expect(dhcp, "the DHCP set follows the lease in the new directory")
    }
}
