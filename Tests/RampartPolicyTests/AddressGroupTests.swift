import FoundationEssentials
import Testing
@testable import RampartPolicy

@Suite struct AddressGroupTests {
    static let base = """
        add addressgroup name=Admins addresses="192.0.2.10, 198.51.100.0/24 2001:db8::/48,203.0.113.5-203.0.113.9" description="jump hosts"
        add filter filterlist=L srcaddr=group:Admins dstaddr=me protocol=tcp dstport=22
        """

    @Test func groupsAreDefinedUsedAndShown() throws {
        let i = try runStatic(Self.base)
        let g = try #require(i.store.local.addressGroups.first)
        #expect(g.name == "Admins" && g.description == "jump hosts")
        #expect(g.membersText == "192.0.2.10,198.51.100.0/24,2001:db8::/48,203.0.113.5-203.0.113.9")
        let f = i.store.local.filterLists[0].filters[0]
        #expect(f.source == .group("Admins") && f.usesExtensions)
        #expect(f.storeLine.hasPrefix("\(f.seq) group:Admins me 6 0 22"))
        #expect(try Filter(storeLine: f.storeLine) == f)
        // Case-insensitive, like every netsh name; the filter keeps the spelling it was given.
        #expect(
            try runStatic(Self.base + "\nadd filter filterlist=L srcaddr=me dstaddr=group:ADMINS").store.local
                .filterLists[0].filters.count == 2)
        let shown = try runStatic(Self.base + "\nshow addressgroup name=admins")
        guard case .objects(let o)? = shown.outputs.last else {
            Issue.record("no objects shown")
            return
        }
        #expect(o.addressGroups.map(\.name) == ["Admins"])
    }

    @Test(arguments: [
        ("add addressgroup name=1st addresses=192.0.2.1", "'1st' is not an address group name"),
        ("add addressgroup name=A:B addresses=192.0.2.1", "'A:B' is not an address group name"),
        (
            "add addressgroup name=A addresses=192.0.2.1/24",
            "addresses: '192.0.2.1/24' has host bits set under /24; write 192.0.2.0/24"
        ),
        (
            "add addressgroup name=A addresses=host.example",
            "addresses: 'host.example' is not an IP address, a prefix or a range"
        ),
        (
            "add addressgroup name=A addresses=192.0.2.9-192.0.2.1",
            "addresses: '192.0.2.9-192.0.2.1' is not a range of addresses of one family, low to high"
        ),
        ("add filter filterlist=L srcaddr=group:Nope dstaddr=me", "no address group named 'Nope' in the local store"),
        (
            "add filter filterlist=L srcaddr=group:Admins srcmask=24 dstaddr=me",
            "a mask does not apply to an address group"
        ),
        (
            "add addressgroup name=admins addresses=192.0.2.1",
            "address group 'admins' already exists in the local store"
        ),
        (
            "delete addressgroup name=Admins",
            "address group 'Admins' is used by a filter of filter list L #1; delete that filter first"
        ),
        ("set addressgroup name=Admins remove=192.0.2.11", "192.0.2.11 is not a member of address group 'Admins'")
    ])
    func badGroupCommandsAreRefused(line: String, message: String) {
        let setup =
            line.hasPrefix("add addressgroup name=A ") || line.contains("name=1st") || line.contains("name=A:B")
            ? ""
            : "add addressgroup name=Admins addresses=192.0.2.10\nadd filter filterlist=L srcaddr=group:Admins dstaddr=me\n"
        let e = staticError(setup + line)
        #expect(e?.message.hasPrefix(message) == true, "\(e?.description ?? "no error")")
    }

    @Test func setChangesMembersAndRenamesFollowFilters() throws {
        let i = try runStatic(
            Self.base + """

                set addressgroup name=Admins add=192.0.2.11 remove=203.0.113.5-203.0.113.9
                set addressgroup name=Admins newname=Ops
                """)
        #expect(i.store.local.addressGroups.map(\.name) == ["Ops"])
        #expect(i.store.local.addressGroups[0].membersText == "192.0.2.10,198.51.100.0/24,2001:db8::/48,192.0.2.11")
        #expect(i.store.local.filterLists[0].filters[0].source == .group("Ops"))
        let replaced = try runStatic(Self.base + "\nset addressgroup name=Admins addresses=2001:db8::1")
        #expect(replaced.store.local.addressGroups[0].membersText == "2001:db8::1")
        #expect(
            staticError(
                Self.base
                    + "\nset addressgroup name=Admins remove=192.0.2.10,198.51.100.0/24,2001:db8::/48,203.0.113.5-203.0.113.9"
            )?.message
                == "address group 'Admins' would be empty; delete it instead")
    }

    @Test func groupsBelongToTheirStore() {
        // A persistent filter cannot name a local group.
        #expect(
            staticError(
                "add addressgroup name=Admins addresses=192.0.2.10\nset store location=persistent\nadd filter filterlist=L srcaddr=group:Admins dstaddr=me"
            )?.message
                .hasPrefix("no address group named 'Admins' in the persistent store") == true)
        #expect(
            error(
                of:
                    "ipsec dynamic add mmpolicy name=M\nipsec dynamic add rule srcaddr=group:Admins dstaddr=me mmpolicy=M",
                dynamic: DynamicState())?.message
                == "address groups live in a store; dynamic rules cannot use them (use a static filter)")
    }

    @Test func ipv6LiteralsAndHostNamesAreNotGroups() throws {
        #expect(try Values.address("2001:db8::1").get().0 == .subnet(IPAddress("2001:db8::1")!, prefix: 128))
        #expect(try Values.address("GROUP:Admins").get().0 == .group("Admins"))
        #expect(try Values.address("groups.example.com").get().0 == .dnsName("groups.example.com", prefix: nil))
    }

    @Test func storeAndDumpRoundTrip() throws {
        let i = try runStatic(Self.base)
        #expect(try StoreCodec.decode(StoreCodec.encode(i.store)) == i.store)
        let dumped = ScriptWriter.dump(i.store)
        #expect(
            dumped.contains(
                "add addressgroup name=Admins addresses=192.0.2.10,198.51.100.0/24,2001:db8::/48,203.0.113.5-203.0.113.9 description=\"jump hosts\""
            ), "\(dumped)")
        let restored = try run(dumped, file: "dump.netsh").store
        #expect(restored.local.addressGroups.map(\.membersText) == i.store.local.addressGroups.map(\.membersText))
        #expect(restored.local.filterLists[0].filters[0].source == .group("Admins"))
        // A store without groups has no addressGroups key: older readers see the same document.
        #expect(!String(decoding: StoreCodec.encode(Store()), as: UTF8.self).contains("addressGroups"))
    }

    @Test func aFilterNamingAMissingGroupIsACorruptStore() throws {
        var store = try runStatic(Self.base).store
        store.local.addressGroups = []
        #expect(throws: StoreError.self) { try StoreCodec.decode(StoreCodec.encode(store)) }
        do {
            _ = try StoreCodec.decode(StoreCodec.encode(store))
        } catch {
            #expect(error.message.contains("refers to missing address group 'Admins' of the local store"), "\(error)")
        }
    }
}
