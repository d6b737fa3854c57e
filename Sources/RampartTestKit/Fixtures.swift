import Foundation

/// Policies for tests and benchmarks: fixed examples and generated ones of realistic shapes.
public enum Fixtures {
    /// The repository checkout (for example policies and scripts).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    public static var webServerExample: String {
        repositoryRoot.appendingPathComponent("etc/rampart/examples/web-server.netsh").path
    }
    public static var extensionsExample: String {
        repositoryRoot.appendingPathComponent("etc/rampart/examples/extensions.netsh").path
    }

    /// Every address form and action in one policy: IPv6 prefix, IPv4 range, server type, host
    /// name, protocol number, negotiate with inpass, block, and exemption level 0.
    public static let mixedFamilies = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filteraction name=Secure action=negotiate inpass=yes qmsec="ESP[3DES,SHA1]:3600s"
        add filter filterlist=Mixed srcaddr=2001:db8:1::/48 dstaddr=me protocol=tcp dstport=22
        add filter filterlist=Mixed srcaddr=192.0.2.10-192.0.2.20 dstaddr=me protocol=udp srcport=123 dstport=123
        add filter filterlist=Mixed srcaddr=me dstaddr=GATEWAY protocol=icmp mirrored=yes
        add filter filterlist=Mixed srcaddr=me dstaddr=update.example.com protocol=tcp dstport=443
        add filter filterlist=Mixed srcaddr=any dstaddr=me protocol=47 mirrored=no
        add filter filterlist=Ipsec srcaddr=198.51.100.0/24 dstaddr=me
        add filter filterlist=Ban srcaddr=203.0.113.66 dstaddr=me mirrored=no
        add policy name=Mixed assign=yes
        add rule name=m policy=Mixed filterlist=Mixed filteraction=Permit
        add rule name=s policy=Mixed filterlist=Ipsec filteraction=Secure
        add rule name=b policy=Mixed filterlist=Ban filteraction=Block
        popd
        ipsec dynamic set config ipsecexempt 0
        """

    /// Remote desktop blocked except from 203.0.113.0/24 in Berlin office hours (a schedule).
    public static let officeRDP = """
        pushd ipsec static
        add schedule name=Office days=mon-fri hours=08:00-18:00 timezone=Europe/Berlin
        add filteraction name=B action=block
        add filteraction name=P action=permit
        add filter filterlist=RDP srcaddr=any dstaddr=me protocol=tcp dstport=3389 mirrored=no
        add filter filterlist=RDPOpen srcaddr=203.0.113.0/24 dstaddr=me protocol=tcp dstport=3389 mirrored=no
        add policy name=P assign=yes
        add rule name=closed policy=P filterlist=RDP filteraction=B
        add rule name=office policy=P filterlist=RDPOpen filteraction=P schedule=Office

        """

    /// The filter-language extensions: port ranges and lists on both sides, TCP-flag tests (the
    /// classic "no incoming connections, replies pass"), address groups of both families (one with
    /// IPv6 members only), IPv4 and IPv6, mirrored and one-way.
    public static let extensions = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Conn srcaddr=any dstaddr=me protocol=tcp tcpflags=syn mirrored=no
        add filter filterlist=Open srcaddr=any dstaddr=me protocol=tcp dstport=22,80,443,8080 mirrored=no
        add filter filterlist=Open srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp dstport=3000-3999
        add filter filterlist=Open srcaddr=2001:db8:1::/48 dstaddr=me protocol=udp srcport=1024-65535 dstport=53,5353
        add filter filterlist=Open srcaddr=me dstaddr=any protocol=tcp srcport=32768-60999 tcpflags=!syn mirrored=no
        add filter filterlist=Ban srcaddr=203.0.113.0 srcmask=24 dstaddr=me protocol=tcp dstport=1-1023 tcpflags=syn+ack/syn+ack mirrored=no
        add filter filterlist=Ban srcaddr=any dstaddr=me protocol=udp dstport=137-139,445 mirrored=no
        add addressgroup name=Admins addresses=192.0.2.10,198.51.100.0/25,203.0.113.7-203.0.113.9,2001:db8:1::/48
        add addressgroup name=Empty-ish addresses=2001:db8:99::1
        add filter filterlist=Admin srcaddr=group:Admins dstaddr=me protocol=tcp dstport=22
        add filter filterlist=Admin srcaddr=me dstaddr=group:Empty-ish mirrored=no
        add policy name=Ext assign=yes
        add rule name=admin policy=Ext filterlist=Admin filteraction=Permit
        add rule name=open policy=Ext filterlist=Open filteraction=Permit
        add rule name=conn policy=Ext filterlist=Conn filteraction=Block
        add rule name=ban policy=Ext filterlist=Ban filteraction=Block
        popd

        """

    /// Every grouped shape: address and port concatenated (IPv4 hosts, /24 and /17; IPv6 /48
    /// and hosts; mirrored, so the output chain has `daddr . sport`), addresses alone (hosts and
    /// a /26, IPv4 and IPv6 /64s) and ports alone, with a host block inside a permitted subnet.
    public static let groupedShapes = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Svc srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp dstport=22
        add filter filterlist=Svc srcaddr=203.0.113.0 srcmask=24 dstaddr=me protocol=tcp dstport=80
        add filter filterlist=Svc srcaddr=198.51.100.7 dstaddr=me protocol=tcp dstport=25
        add filter filterlist=Svc srcaddr=198.51.100.8 dstaddr=me protocol=tcp dstport=26
        add filter filterlist=Svc srcaddr=198.51.128.0 srcmask=17 dstaddr=me protocol=udp dstport=53
        add filter filterlist=Svc srcaddr=192.0.0.0 srcmask=17 dstaddr=me protocol=udp dstport=54
        add filter filterlist=Svc srcaddr=2001:db8:1::/48 dstaddr=me protocol=tcp dstport=443
        add filter filterlist=Svc srcaddr=2001:db8:2::/48 dstaddr=me protocol=tcp dstport=8443
        add filter filterlist=Svc srcaddr=2001:db8:3::7 dstaddr=me protocol=tcp dstport=443
        add filter filterlist=Svc srcaddr=2001:db8:3::8 dstaddr=me protocol=tcp dstport=444
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8080 mirrored=no
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8081 mirrored=no
        add filter filterlist=Ban srcaddr=203.0.113.5 dstaddr=me mirrored=no
        add filter filterlist=Ban srcaddr=203.0.113.6 dstaddr=me mirrored=no
        add filter filterlist=Ban srcaddr=203.0.113.64 srcmask=26 dstaddr=me mirrored=no
        add filter filterlist=Ban srcaddr=198.51.100.9 dstaddr=me mirrored=no
        add filter filterlist=Ban srcaddr=2001:db8:bad:1::/64 dstaddr=me mirrored=no
        add filter filterlist=Ban srcaddr=2001:db8:bad:2::/64 dstaddr=me mirrored=no
        add policy name=Shapes assign=yes
        add rule name=s policy=Shapes filterlist=Svc filteraction=Permit
        add rule name=w policy=Shapes filterlist=Web filteraction=Permit
        add rule name=b policy=Shapes filterlist=Ban filteraction=Block
        popd

        """

    /// `filters` filters over many /32 and /24 sources, TCP/UDP ports, permit and block.
    public static func synthetic(filters: Int) -> String {
        var lines = [
            "pushd ipsec static", "add filteraction name=Permit action=permit",
            "add filteraction name=Block action=block"
        ]
        for i in 0..<filters {
            let third = (i / 250) % 256, fourth = i % 250 + 1
            let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3]
            let src = i % 5 == 0 ? "\(net).0 srcmask=24" : "\(third % 2 == 0 ? "198.51" : "203.0").\(third).\(fourth)"
            let proto = i % 2 == 0 ? "tcp" : "udp"
            lines.append(
                "add filter filterlist=L\(i % 2) srcaddr=\(src) dstaddr=me protocol=\(proto) dstport=\(1 + i % 1024) mirrored=no"
            )
        }
        lines += [
            "add policy name=Synthetic assign=yes",
            "add rule name=Allowed policy=Synthetic filterlist=L0 filteraction=Permit",
            "add rule name=Denied policy=Synthetic filterlist=L1 filteraction=Block", "popd"
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A block list shaped like the published ~1,850-line netsh ban scripts: one block filter per
    /// address or subnet (some duplicated), mirrored, plus a management permit.
    public static func blocklist(entries: Int) -> String {
        var lines = [
            "pushd ipsec static", "add filteraction name=Block action=block",
            "add filteraction name=Permit action=permit",
            "add policy name=Blocklist assign=yes"
        ]
        for i in 0..<entries {
            let a = 1 + (i * 7) % 223, b = (i * 13) % 256, c = (i * 29) % 256
            let address =
                i % 10 == 0
                ? "\(a).\(b).0.0 srcmask=255.255.0.0"
                : (i % 4 == 0 ? "\(a).\(b).\(c).0 srcmask=24" : "\(a).\(b).\(c).\(1 + i % 254)")
            lines.append("add filter filterlist=Banned srcaddr=\(address) dstaddr=me description=\"ban \(i)\"")
        }
        lines += [
            "add filter filterlist=Mgmt srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp dstport=22",
            "add rule name=Ban policy=Blocklist filterlist=Banned filteraction=Block",
            "add rule name=Mgmt policy=Blocklist filterlist=Mgmt filteraction=Permit", "popd"
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Issue 34's shapes of negotiate. (a) the web-server example plus a negotiate rule for one
    /// peer's TCP 5001, under its block-all.
    public static func webServerNegotiating(peer: String, psk: String = "issue 34 key") throws -> String {
        try String(contentsOfFile: webServerExample, encoding: .utf8) + """

            pushd ipsec static
            add filteraction name=Secure action=negotiate qmsecmethods="ESP[AES256,SHA1] ESP[3DES,SHA1]"
            add filter filterlist="Secure 5001" srcaddr=me dstaddr=\(peer) protocol=tcp dstport=5001
            add filter filterlist="Secure 5001" srcaddr=me dstaddr=\(peer) protocol=tcp srcport=5001
            add rule name="Secure 5001" policy="Web Server" filterlist="Secure 5001" filteraction=Secure psk="\(psk)"
            popd

            """
    }

    /// (b) Windows' "Secure Server (Require Security)": all IP traffic negotiated, ICMP permitted.
    public static func requireSecurity(psk: String = "issue 34 key") -> String {
        """
        pushd ipsec static
        add filteraction name="Require Security" action=negotiate qmsecmethods="ESP[AES256,SHA1] ESP[3DES,SHA1]"
        add filteraction name=Permit action=permit
        add filter filterlist="All IP Traffic" srcaddr=me dstaddr=any description="All IP traffic"
        add filter filterlist="All ICMP Traffic" srcaddr=me dstaddr=any protocol=icmp description="All ICMP traffic"
        add policy name="Secure Server" mmsecmethods="AES256-SHA256-14 3DES-SHA1-2" assign=yes
        add rule name="All IP" policy="Secure Server" filterlist="All IP Traffic" filteraction="Require Security" psk="\(psk)"
        add rule name="All ICMP" policy="Secure Server" filterlist="All ICMP Traffic" filteraction=Permit
        popd
        ipsec dynamic set config ipsecexempt 3

        """
    }

    /// (c) negotiate with whole networks of both families under a block-all (the peers of a host
    /// behind a NAT appear as the NAT's addresses).
    /// Rules by interface type: SSH from the LAN only, a web port for dial-up (PPP, tun) only,
    /// grouped runs of each, and a block of everything else on every interface.
    public static let connectionTypes = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Everything srcaddr=any dstaddr=me
        add filter filterlist=Ssh srcaddr=any dstaddr=me protocol=tcp dstport=22
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=443
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8080
        add filter filterlist=Bad srcaddr=192.0.2.7 dstaddr=me
        add filter filterlist=Bad srcaddr=192.0.2.8 dstaddr=me
        add filter filterlist=Bad srcaddr=2001:db8::7 dstaddr=me
        add policy name=C assign=yes
        add rule name=block policy=C filterlist=Everything filteraction=Block
        add rule name=ssh policy=C filterlist=Ssh filteraction=Permit conntype=lan
        add rule name=web policy=C filterlist=Web filteraction=Permit conntype=dialup
        add rule name=bad policy=C filterlist=Bad filteraction=Block conntype=dialup
        popd

        """

    public static let negotiateSubnets = """
        pushd ipsec static
        add filteraction name=Secure action=negotiate qmsecmethods="ESP[AES256,SHA1]"
        add filteraction name=Block action=block
        add filter filterlist=Peers srcaddr=me dstaddr=203.0.113.0/24 protocol=tcp dstport=5001
        add filter filterlist=Peers srcaddr=me dstaddr=2001:db8:5::/64
        add filter filterlist=Everything srcaddr=any dstaddr=any
        add policy name=Subnets assign=yes
        add rule name=peers policy=Subnets filterlist=Peers filteraction=Secure psk="issue 34 key"
        add rule name=everything policy=Subnets filterlist=Everything filteraction=Block
        popd

        """

    /// A domain policy that blocks SSH to this host (the fleet's engine and hung-etcd tests).
    public static let fleetBlockSSH = """
        pushd ipsec static
        add filteraction name=Block action=block
        add filter filterlist="SSH" srcaddr=any dstaddr=me protocol=tcp dstport=22
        add policy name="Fleet" assign=yes
        add rule name="No SSH" policy="Fleet" filterlist="SSH" filteraction=Block
        """

    /// Everything blocked: policy `Closed`, to which tests add their own rules.
    public static let blockAll = """
        pushd ipsec static
        add filteraction name=Block action=block
        add filter filterlist=Everything srcaddr=any dstaddr=any
        add policy name=Closed assign=yes
        add rule name=everything policy=Closed filterlist=Everything filteraction=Block
        popd

        """
}
