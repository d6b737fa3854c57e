import Testing
@testable import RampartCompiler
@testable import RampartPolicy

/// Group Policy's precedence for a domain policy (docs/fleet.md): it replaces the local store's
/// assigned policy, the persistent store still applies first, and a domain script holds static
/// objects only.
struct DomainPolicyTests {
    static let domainScript = """
        pushd ipsec static
        add filteraction name=Block action=block
        add filterlist name="SSH"
        add filter filterlist="SSH" srcaddr=any dstaddr=me protocol=tcp dstport=22
        add policy name="Fleet" assign=yes
        add rule name="No SSH" policy="Fleet" filterlist="SSH" filteraction=Block
        """

    func hostStore() throws -> Store {
        try storeFrom(
            """
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filterlist name="Web"
            add filter filterlist="Web" srcaddr=any dstaddr=me protocol=tcp dstport=80
            add policy name="Local" assign=yes
            add rule name="Web" policy="Local" filterlist="Web" filteraction=Permit
            set store location=persistent
            add filteraction name=Permit action=permit
            add filterlist name="Mgmt"
            add filter filterlist="Mgmt" srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp dstport=9100
            add policy name="Boot" assign=yes
            add rule name="Mgmt" policy="Boot" filterlist="Mgmt" filteraction=Permit
            """)
    }

    @Test func aDomainPolicyReplacesTheLocalOneAndPersistentStillApplies() throws {
        var store = try hostStore()
        let domain = try DomainScript.evaluate(Self.domainScript, file: "etcd:web")
        store.domain = DomainLayer(group: "web", revision: 42, arrived: 0, cached: false, store: domain)
        let filters = EffectiveFilters.collect(store).filter { !$0.isMirror }
        #expect(filters.map(\.origin.description) == ["persistent/Boot/Mgmt/Mgmt/#1", "domain:web/Fleet/No SSH/SSH/#1"])
        #expect(filters.map(\.destinationPort) == [9100, 22])
        #expect(filters.last?.id.hasPrefix("G") == true)
        // The compiled ruleset has no trace of the local policy's port 80 while the domain decides.
        let text = NftRenderer.table(RulesetCompiler(options: CompileOptions(groupsFilters: false)).compile(store))
        #expect(text.contains("dport 22") && !text.contains("dport 80"))
        // Withdrawn: the local store's policy applies again.
        store.domain = nil
        #expect(EffectiveFilters.collect(store).filter { !$0.isMirror }.map(\.destinationPort) == [9100, 80])
    }

    /// rampartd asks for the host names in force after every change; they are the names of the
    /// filters `collect` gives, through every layer: inactive and unassigned ones left out.
    @Test func hostNamesAreThoseOfTheFiltersInForce() throws {
        var store = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filter filterlist="Web" srcaddr=me dstaddr=b.example protocol=tcp dstport=80
            add filter filterlist="Web" srcaddr=a.example dstaddr=me protocol=tcp dstport=80
            add filter filterlist="Off" srcaddr=off.example dstaddr=me
            add filter filterlist="Other" srcaddr=other.example dstaddr=me
            add policy name="Local" assign=yes
            add rule name="Web" policy="Local" filterlist="Web" filteraction=Permit
            add rule name="Off" policy="Local" filterlist="Off" filteraction=Permit activate=no
            add policy name="Unassigned"
            add rule name="Other" policy="Unassigned" filterlist="Other" filteraction=Permit
            set store location=persistent
            add filteraction name=Permit action=permit
            add filter filterlist="Mgmt" srcaddr=mgmt.example dstaddr=me protocol=tcp dstport=22
            add policy name="Boot" assign=yes
            add rule name="Mgmt" policy="Boot" filterlist="Mgmt" filteraction=Permit
            """)
        func fromFilters() -> [String] {
            Set(
                EffectiveFilters.collect(store).flatMap { f in
                    [f.source, f.destination].compactMap { if case .dnsName(let n, _) = $0 { n } else { nil } }
                }
            ).sorted()
        }
        #expect(EffectiveFilters.hostNames(store) == ["a.example", "b.example", "mgmt.example"])
        #expect(EffectiveFilters.hostNames(store) == fromFilters())
        store.domain = DomainLayer(
            group: "web", revision: 1, arrived: 0, cached: false,
            store: try DomainScript.evaluate(
                Self.domainScript + "\nadd filter filterlist=\"SSH\" srcaddr=fleet.example dstaddr=me", file: "etcd:web"
            ))
        #expect(EffectiveFilters.hostNames(store) == ["fleet.example", "mgmt.example"])
        #expect(EffectiveFilters.hostNames(store) == fromFilters())
    }

    @Test func theDomainLayerIsNeverWrittenToTheStoreFile() throws {
        var store = try hostStore()
        store.domain = DomainLayer(
            group: "web", revision: 1, arrived: 0, cached: true,
            store: try DomainScript.evaluate(Self.domainScript, file: "etcd:web"))
        let decoded = try StoreCodec.decode(StoreCodec.encode(store))
        #expect(decoded.domain == nil)
        #expect(decoded.local == store.local)
    }

    @Test(arguments: [
        ("pushd ipsec dynamic\nset config ipsecdiagnostics 7", "t.netsh:2:1", "runtime state"),
        ("pushd ipsec static\nset store location=persistent", "t.netsh:2:1", "its own store"),
        ("pushd ipsec static\nimportpolicy file=/etc/x.ipsec", "t.netsh:2:1", "self-contained"),
        ("pushd ipsec static\nadd policy name=P", "t.netsh:1:1", "assigns no policy"),
        (
            "pushd ipsec static\nadd filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=99999",
            "t.netsh:2:", "port number"
        )
    ])
    func aDomainScriptIsRefusedWithItsPlace(script: String, place: String, message: String) {
        do {
            _ = try DomainScript.evaluate(script, file: "t.netsh")
            Issue.record("accepted: \(script)")
        } catch {
            #expect(error.description.hasPrefix(place), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }
}
