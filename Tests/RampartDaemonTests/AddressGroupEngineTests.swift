import Foundation
import Testing
@testable import RampartDaemon
import RampartPolicy

/// An address group changed through rampartd is a set-only transaction: rules and their
/// counters stay; anything else is the usual full replace.
@Suite struct AddressGroupEngineTests {
    static let policy = """
        pushd ipsec static
        delete all
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add addressgroup name=Admins addresses=198.51.100.10,2001:db8:1::/48
        add filter filterlist=SSH srcaddr=any dstaddr=me protocol=tcp dstport=22 mirrored=no
        add filter filterlist=Admins srcaddr=group:Admins dstaddr=me protocol=tcp dstport=22 mirrored=no
        add policy name=P assign=yes
        add rule name=ssh policy=P filterlist=SSH filteraction=Block
        add rule name=admins policy=P filterlist=Admins filteraction=Permit
        """

    @Test func changingAGroupIsSetOnly() async throws {
        let f = try EngineFixture()
        try await f.start()
        let first = await f.exec(Self.policy)
        #expect(first.ok, "\(first.error ?? "")")
        let rules = await f.engine.applied?.ruleCount
        let before = f.transport.transactions.count

        #expect(await f.exec("pushd ipsec static\nset addressgroup name=Admins add=198.51.100.11,198.51.100.12").ok)
        #expect(f.transport.transactions.count == before + 1)
        let update = try #require(f.transport.transactions.last)
        #expect(update.committed && update.isSetOnly, "\(update.text)")
        #expect(
            update.messages.contains { $0.hasPrefix("flush set") && $0.contains("group_l_Admins_v4") },
            "\(update.messages)")
        #expect(!update.messages.contains { $0.contains("group_l_Admins_v6") }, "the unchanged IPv6 set is left alone")
        #expect(await f.engine.applied?.ruleCount == rules)
        let set = await f.engine.applied?.sets.first { $0.name == "group_l_Admins_v4" }
        #expect(set?.elements.map(\.description) == ["198.51.100.10-198.51.100.12"])
        #expect(try f.storeFile.load().local.addressGroups.first?.members.count == 4, "the store has the change")
        let status = await f.engine.status()
        #expect(
            status.lastApply?.result == "delta: +0 −0 rules, +0 −0 elements, 1 sets",
            "\(String(describing: status.lastApply))")

        // A new filter naming the group changes the rules: a full replace.
        #expect(
            await f.exec(
                "pushd ipsec static\nadd filter filterlist=Admins srcaddr=group:Admins dstaddr=me protocol=tcp dstport=2222 mirrored=no"
            ).ok)
        #expect(f.transport.transactions.last?.isSetOnly == false)

        // A refused change (the group still in use) changes nothing.
        let count = f.transport.transactions.count
        let refused = await f.exec("pushd ipsec static\ndelete addressgroup name=Admins")
        #expect(!refused.ok && (refused.error ?? "").contains("is used by a filter"), "\(refused.error ?? "")")
        #expect(f.transport.transactions.count == count)
    }
}
