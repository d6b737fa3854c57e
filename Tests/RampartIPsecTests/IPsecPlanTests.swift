import Foundation
import Testing
import RampartCompiler
@testable import RampartIPsec
import RampartPolicy
import RampartVici

private func storeFrom(_ script: String) throws -> Store {
    var i = Interpreter(store: Store())
    try ScriptRunner.run(ScriptRunner.lines(of: script, file: "t.netsh"), in: &i)
    return i.store
}

private func plan(
    _ body: String, policy: String = "add policy name=P assign=yes", rule: String = "psk=k"
) throws -> IPsecPlan {
    let script =
        "pushd ipsec static\n\(body)\n\(policy)\nadd rule name=R policy=P filterlist=L filteraction=N \(rule)\n"
    return IPsecPlan.make(try storeFrom(script))
}

@Suite struct IPsecPlanTests {
    @Test func oneConnectionPerRuleOneChildPerFilter() throws {
        let p = try plan(
            """
            add filteraction name=N action=negotiate qmsecmethods="ESP[3DES,SHA1]:100000k/2000s ESP[AES256,SHA1]"
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7 protocol=tcp dstport=80
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7 protocol=udp srcport=53
            """)
        #expect(p.connections.count == 1)
        let c = try #require(p.connections.first)
        #expect(c.name == "rampart-l1" && c.remoteAddresses == ["192.0.2.7"] && c.remoteID == "192.0.2.7")
        #expect(c.version == 2 && c.proposals == ["default"] && c.rekeySeconds == 480 * 60)
        #expect(c.children.map(\.localTS) == ["dynamic[tcp]", "dynamic[udp/53]"])
        #expect(c.children.map(\.remoteTS) == ["192.0.2.7/32[tcp/80]", "192.0.2.7/32[udp]"])
        #expect(c.children.allSatisfy { $0.espProposals == ["3des-sha1", "aes256-sha1"] && $0.ahProposals.isEmpty })
        #expect(c.children[0].lifeSeconds == 2000 && c.children[0].lifeBytes == 100_000 * 1024)
        #expect(c.children.map(\.reqid) == [IPsecPlan.firstReqid, IPsecPlan.firstReqid + 1])
        #expect(c.children.allSatisfy { $0.startAction == "trap" })
        #expect(p.secrets == [IPsecPlan.Secret(id: "rampart-l1-psk", key: "k", owners: ["192.0.2.7"])])
        #expect(
            p.reqids[c.children[0].filterID] == [IPsecPlan.firstReqid] && c.children[0].name == c.children[0].filterID)
    }

    @Test func mainModeOffersPFSAndAH() throws {
        let p = try plan(
            """
            add filteraction name=N action=negotiate qmpfs=yes qmsecmethods="AH[SHA1]:300s AH[MD5]"
            add filter filterlist=L srcaddr=me dstaddr=198.51.100.0 dstmask=24
            """,
            policy: "add policy name=P assign=yes mmsecmethods=\"3DES-SHA1-2 AES256-SHA256-14 DES-MD5-1\" mmlifetime=60"
        )
        let c = try #require(p.connections.first)
        #expect(c.proposals == ["3des-sha1-modp1024", "aes256-sha256-modp2048", "des-md5-modp768"])
        #expect(c.rekeySeconds == 3600)
        #expect(c.remoteAddresses == ["%any"] && c.remoteID == nil, "a subnet: any peer in it")
        #expect(c.children.first?.ahProposals == ["sha1-modp1024", "md5-modp1024"])
        #expect(c.children.first?.espProposals == [])
        #expect(c.children.first?.lifeSeconds == 300)
        #expect(c.children.first?.remoteTS == "198.51.100.0/24")
        #expect(p.secrets.first?.owners == [])
    }

    @Test func whatCannotBeNegotiatedIsSaidAndSkipped() throws {
        let kerberos = try plan(
            """
            add filteraction name=N action=negotiate
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7
            """, rule: "kerberos=yes")
        #expect(kerberos.connections.isEmpty)
        #expect(kerberos.refused.first?.contains("kerberos authentication needs Active Directory") == true)

        let bundle = try plan(
            """
            add filteraction name=N action=negotiate qmsecmethods="AH[SHA1]+ESP[3DES,SHA1] ESP[3DES,MD5]"
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7
            """)
        #expect(bundle.connections.first?.children.first?.espProposals == ["3des-md5"])
        #expect(bundle.warnings.contains { $0.contains("AH+ESP bundles") })

        let onlyBundles = try plan(
            """
            add filteraction name=N action=negotiate qmsecmethods="AH[SHA1]+ESP[3DES,SHA1]"
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7
            """)
        #expect(onlyBundles.connections.isEmpty && onlyBundles.refused.contains { $0.contains("no offer") })

        let dns = try plan(
            """
            add filteraction name=N action=negotiate
            add filter filterlist=L srcaddr=me dstaddr=DNS
            """)
        #expect(dns.connections.isEmpty && dns.refused.contains { $0.contains("literal addresses") })
    }

    @Test func softAndInpassAnswerButDoNotTrap() throws {
        for flag in ["soft=yes", "inpass=yes"] {
            let p = try plan(
                """
                add filteraction name=N action=negotiate \(flag)
                add filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=22
                """)
            let child = try #require(p.connections.first?.children.first)
            #expect(child.startAction == "none")
            #expect(child.localTS == "dynamic[tcp/22]" && child.remoteTS == "0.0.0.0/0[tcp],::/0[tcp]")
        }
    }

    @Test func permitAndBlockRulesAndUnassignedPoliciesGiveNothing() throws {
        let p = try plan(
            """
            add filteraction name=N action=block
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7
            """)
        #expect(p.isEmpty && p.refused.isEmpty)
    }

    @Test func theLoadConnMessageIsSwanctlsConnectionSection() throws {
        let p = try plan(
            """
            add filteraction name=N action=negotiate qmsecmethods="ESP[AES128,SHA1]:3600s"
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7 protocol=tcp dstport=443
            """)
        let m = IPsecSync.message(try #require(p.connections.first))
        let conn = try #require(m.section("rampart-l1"))
        #expect(conn.string("version") == "2" && conn.list("remote_addrs") == ["192.0.2.7"])
        #expect(
            conn.section("local-1")?.string("auth") == "psk" && conn.section("remote-1")?.string("id") == "192.0.2.7")
        let name = try #require(p.connections.first?.children.first?.name)
        let child = try #require(conn.section("children")?.section(name))
        #expect(child.string("mode") == "transport" && child.string("start_action") == "trap")
        #expect(child.list("local_ts") == ["dynamic[tcp]"] && child.list("remote_ts") == ["192.0.2.7/32[tcp/443]"])
        #expect(child.list("esp_proposals") == ["aes128-sha1"])
        #expect(child.string("life_time") == "3600s" && child.string("rekey_time") == "3240s")
        #expect(child.string("reqid") == String(IPsecPlan.firstReqid))
        // It encodes within VICI's limits and decodes to the same tree.
        let bytes = try m.encoded()
        #expect(try ViciMessage(decoding: bytes[...]) == m)
    }

    @Test func rootCABecomesCertificateAuthenticationBoundToThatCA() throws {
        let dn = "C=US, O=Rampart Test, CN=Rampart Test CA"
        let p = try plan(
            """
            add filteraction name=N action=negotiate
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7 protocol=tcp dstport=443
            """, rule: "rootca=\"\(dn)\" psk=fallback kerberos=yes")
        let c = try #require(p.connections.first)
        #expect(c.authentication == .certificate(ca: dn) && p.needsCertificates)
        // No key for a certificate rule; the peer is whoever the CA certified, not an address identity.
        #expect(p.secrets.isEmpty && c.remoteID == nil)
        #expect(
            p.warnings.contains { $0.contains("psk not offered: only the first method (rootca=\"\(dn)\")") }
                && !p.warnings.joined().contains("fallback"), "\(p.warnings)")
        #expect(p.warnings.contains { $0.contains("kerberos=yes not offered") })
        let cert: [UInt8] = Array("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8)
        let conn = try #require(IPsecSync.message(c, certificate: cert).section("rampart-l1"))
        let local = try #require(conn.section("local-1")), remote = try #require(conn.section("remote-1"))
        #expect(local.string("auth") == "pubkey" && remote.string("auth") == "pubkey" && remote.string("ca_id") == dn)
        #expect(remote.string("id") == nil && remote.string("revocation") == "relaxed")
        if case .list(let certs)? = local["certs"] { #expect(certs == [cert]) } else { Issue.record("no local certs") }

        // Windows' options after the name are not part of it.
        #expect(
            IPsecPlan.caName("C=US, O=Example, CN=Example Root CA certmap:yes excludecaname:no")
                == "C=US, O=Example, CN=Example Root CA")
        #expect(IPsecPlan.caName("CN=A Name With Spaces") == "CN=A Name With Spaces")

        // strongcrlcheck 2: any CRL error fails the peer.
        var strictStore = try storeFrom(
            "pushd ipsec static\nadd filteraction name=N action=negotiate\nadd filter filterlist=L srcaddr=me dstaddr=192.0.2.7\nadd policy name=P assign=yes\nadd rule name=R policy=P filterlist=L filteraction=N rootca=\"\(dn)\"\n"
        )
        strictStore.config.strongCRLCheck = 2
        let strict = try #require(IPsecPlan.make(strictStore).connections.first)
        #expect(IPsecSync.message(strict).section("rampart-l1")?.section("remote-1")?.string("revocation") == "strict")

        // psk first: the key, and the CA not offered.
        let psk = try plan(
            """
            add filteraction name=N action=negotiate
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7
            """, rule: "psk=k rootca=\"\(dn)\"")
        #expect(psk.connections.first?.authentication == .psk && !psk.needsCertificates && psk.secrets.count == 1)
    }

    @Test func credentialFilesAreCheckedBeforeCharonIsAsked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("host.key").path
        try "-----BEGIN PRIVATE KEY-----\nsecret\n".write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o644)
        #expect(throws: ViciError.self) { try CredentialFiles.read(key, what: "key", secret: true) }
        do {
            _ = try CredentialFiles.read(key, what: "key", secret: true)
        } catch {
            #expect(
                error.kind == .credentials && error.description.contains("chmod 600")
                    && !error.description.contains("secret"))
        }
        chmod(key, 0o600)
        #expect(try CredentialFiles.read(key, what: "key", secret: true).count == 35)
        let cas = dir.appendingPathComponent("ca")
        try FileManager.default.createDirectory(at: cas, withIntermediateDirectories: true)
        try "b".write(toFile: cas.appendingPathComponent("b.pem").path, atomically: true, encoding: .utf8)
        try "a".write(toFile: cas.appendingPathComponent("a.pem").path, atomically: true, encoding: .utf8)
        try "h".write(toFile: cas.appendingPathComponent(".hidden").path, atomically: true, encoding: .utf8)
        #expect(
            try CredentialFiles.directory(cas.path).map { ($0.0 as NSString).lastPathComponent } == ["a.pem", "b.pem"])
        // A plan that needs certificates but has none configured, or no CA: refused before any socket is opened.
        var p = try plan(
            """
            add filteraction name=N action=negotiate
            add filter filterlist=L srcaddr=me dstaddr=192.0.2.7
            """, rule: "rootca=\"CN=X\"")
        #expect { try IPsecSync.apply(p, socket: "/nonexistent.vici") } throws: {
            ($0 as? ViciError)?.kind == .credentials
        }
        p.credentials = IPsecPlan.Credentials(
            certificate: key, privateKey: key, caDirectory: dir.appendingPathComponent("none").path)
        #expect { try IPsecSync.apply(p, socket: "/nonexistent.vici") } throws: {
            ($0 as? ViciError)?.description.contains("ipsec_ca_directory") == true
        }
    }

    @Test func dynamicNegotiateRulesTakeTheirMainAndQuickModePolicies() throws {
        var i = Interpreter(store: Store(), dynamic: DynamicState())
        try ScriptRunner.run(
            ScriptRunner.lines(
                of: """
                    dynamic add mmpolicy name=MM mmlifetime=60 mmsecmethods="AES256-SHA256-14 3DES-SHA1-2"
                    dynamic add qmpolicy name=QM pfsgroup=GRPMM qmsecmethods="ESP[AES256,SHA1]:50000k/600s AH[SHA1]"
                    dynamic add qmpolicy name=Soft soft=yes
                    dynamic add rule srcaddr=me dstaddr=192.0.2.7 protocol=tcp dstport=5002 mirrored=yes mmpolicy=MM qmpolicy=QM psk=dyn-key
                    dynamic add rule srcaddr=me dstaddr=192.0.2.8 protocol=udp dstport=53 mmpolicy=MM qmpolicy=Soft rootca="CN=X"
                    dynamic add rule srcaddr=me dstaddr=192.0.2.9 mmpolicy=MM qmpolicy=QM actionoutbound=permit psk=k2
                    dynamic add rule srcaddr=me dstaddr=192.0.2.10 mmpolicy=MM actioninbound=block actionoutbound=block
                    """, file: "d.netsh"), in: &i)
        let p = IPsecPlan.make(Store(), dynamic: i.dynamic)
        #expect(p.connections.map(\.name) == ["rampart-y1", "rampart-y2", "rampart-y3"])
        let c = p.connections[0]
        #expect(c.proposals == ["aes256-sha256-modp2048", "3des-sha1-modp1024"] && c.rekeySeconds == 3600)
        // GRPMM: the main mode policy's first group; the AH offer is dropped beside the ESP one.
        #expect(c.children.map(\.espProposals) == [["aes256-sha1-modp2048"]] && c.children[0].ahProposals.isEmpty)
        #expect(c.children[0].name == "D1" && c.children[0].lifeSeconds == 600 && c.children[0].startAction == "trap")
        #expect(
            c.remoteID == "192.0.2.7"
                && p.secrets.contains(IPsecPlan.Secret(id: "rampart-y1-psk", key: "dyn-key", owners: ["192.0.2.7"])))
        // soft: answers only; certificates; outbound permit: inbound-only negotiate answers only.
        #expect(
            p.connections[1].children[0].startAction == "none"
                && p.connections[1].authentication == .certificate(ca: "CN=X"))
        #expect(p.connections[2].children[0].startAction == "none")
        #expect(p.connections[2].children[0].reqid == IPsecPlan.firstReqid + 2)
    }

    @Test func failuresAreRecognisedInCharonsLog() {
        func log(_ text: String, level: String = "1", ike: String = "rampart-l1") -> IPsecEvent? {
            IPsecEvent.parse(
                name: "log",
                ViciMessage([
                    ("group", "IKE"), ("level", .string(level)), ("ikesa-name", .string(ike)), ("msg", .string(text))
                ]))
        }
        #expect(
            log("received AUTHENTICATION_FAILED notify error")
                == .failure(connection: "rampart-l1", peer: nil, reason: "received AUTHENTICATION_FAILED notify error"))
        #expect(
            log("tried 1 shared key for '198.51.100.10' - '198.51.100.1', but MAC mismatched")
                == .failure(
                    connection: "rampart-l1", peer: "198.51.100.10",
                    reason: "tried 1 shared key for '198.51.100.10' - '198.51.100.1', but MAC mismatched"))
        #expect(log("authentication of '198.51.100.1' with pre-shared key successful") == nil)
        #expect(log("establishing CHILD_SA F2{1}") == nil)
        #expect(log("received AUTHENTICATION_FAILED notify error", level: "2") == nil)
        #expect(
            log("giving up after 5 retransmits", ike: "(unnamed)")
                == .failure(connection: nil, peer: nil, reason: "giving up after 5 retransmits"))
        let up = ViciMessage([("up", "yes"), ("rampart-l1", .section(ViciMessage([("remote-host", "192.0.2.7")])))])
        #expect(IPsecEvent.parse(name: "ike-updown", up) == .ikeUp(connection: "rampart-l1", peer: "192.0.2.7"))
        #expect(IPsecEvent.address(in: "sending packet: from 2001:db8::1[500] to 2001:db8::2[500]") == "2001:db8::1")
    }
}

/// `tunnel=` (issue 32, item 5): a negotiate rule with a tunnel endpoint is a tunnel-mode
/// connection to that endpoint, its filters the traffic selectors; Windows' rule for the other
/// direction, whose endpoint is this host, is carried by the same SA.
@Suite struct TunnelPlanTests {
    static let rules = """
        pushd ipsec static
        add filteraction name=N action=negotiate qmsecmethods="ESP[AES256,SHA1]"
        add filter filterlist=Out srcaddr=me dstaddr=192.0.2.0 dstmask=24 mirrored=no
        add filter filterlist=In srcaddr=192.0.2.0 srcmask=24 dstaddr=me mirrored=no
        add policy name=P assign=yes
        add rule name=out policy=P filterlist=Out filteraction=N tunnel=198.51.100.10 psk=k
        add rule name=in policy=P filterlist=In filteraction=N tunnel=198.51.100.1 psk=k

        """

    @Test func aTunnelRuleIsATunnelModeConnectionToItsEndpoint() throws {
        let p = IPsecPlan.make(try storeFrom(Self.rules), localAddresses: [IPAddress("198.51.100.1")!])
        #expect(p.connections.count == 1 && p.refused.isEmpty, "\(p.refused)")
        let c = try #require(p.connections.first)
        #expect(c.remoteAddresses == ["198.51.100.10"] && c.remoteID == "198.51.100.10")
        #expect(c.children.map(\.mode) == ["tunnel"])
        #expect(c.children.map(\.localTS) == ["dynamic"] && c.children.map(\.remoteTS) == ["192.0.2.0/24"])
        #expect(p.secrets.map(\.owners) == [["198.51.100.10"]])
        #expect(
            p.warnings.contains {
                $0.contains("rule 'in' of policy 'P': its tunnel endpoint is this host: the inbound half of a tunnel")
            }, "\(p.warnings)")
        let child = IPsecSync.message(c).section(c.name)?.section("children")?.section(c.children[0].name)
        #expect(child?.string("mode") == "tunnel")
    }

    @Test func anInboundHalfAloneAndAnEndpointThatIsNotOneAddressAreRefused() throws {
        let alone = Self.rules.replacingOccurrences(of: "tunnel=198.51.100.10", with: "tunnel=198.51.100.1")
        let p = IPsecPlan.make(try storeFrom(alone), localAddresses: [IPAddress("198.51.100.1")!])
        #expect(p.connections.isEmpty)
        #expect(p.refused.contains { $0.contains("no rule of its policy has the other end as its endpoint") })
        let named = Self.rules.replacingOccurrences(of: "tunnel=198.51.100.10", with: "tunnel=gw.example.com")
        let q = IPsecPlan.make(try storeFrom(named), localAddresses: [IPAddress("198.51.100.1")!])
        #expect(
            q.refused.contains { $0.contains("the tunnel endpoint gw.example.com is not an IP address") },
            "\(q.refused)")
    }

    @Test func theTunnelsESPAndIKEPassFromItsEndpoint() throws {
        let filters = EffectiveFilters.collect(try storeFrom(Self.rules))
        let peers = NegotiationTransport(filters).peers.map(\.address.description)
        #expect(peers == ["198.51.100.10", "198.51.100.1"], "the endpoints, not the network behind them: \(peers)")
    }
}
