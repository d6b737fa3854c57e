import Foundation
import Testing
@testable import RampartDaemon
import RampartPolicy

/// An address group changed through rampartd is a set-only transaction: rules and their
/// counters stay; other changes are deltas of rules and elements in place.
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

        // A new filter naming the group is a rule per family, inserted in place: nothing replaced.
        #expect(
            await f.exec(
                "pushd ipsec static\nadd filter filterlist=Admins srcaddr=group:Admins dstaddr=me protocol=tcp dstport=2222 mirrored=no"
            ).ok)
        let added = try #require(f.transport.transactions.last)
        #expect(added.isDelta && !added.isSetOnly, "\(added.text)")
        #expect(added.messages.count == 2 && added.messages.allSatisfy { $0.hasPrefix("add rule") }, "\(added.text)")
        #expect(await f.engine.applied?.ruleCount == (rules ?? 0) + 2)

        // Two host blocks make a set; a third is one element added to it.
        #expect(
            await f.exec(
                "pushd ipsec static\nadd filter filterlist=SSH srcaddr=203.0.113.1 dstaddr=me mirrored=no\nadd filter filterlist=SSH srcaddr=203.0.113.2 dstaddr=me mirrored=no"
            ).ok)
        #expect(
            await f.exec("pushd ipsec static\nadd filter filterlist=SSH srcaddr=203.0.113.3 dstaddr=me mirrored=no").ok)
        let element = try #require(f.transport.transactions.last)
        #expect(element.isDelta && element.messages.count == 1, "\(element.text)")
        #expect(element.messages.first?.hasPrefix("add element input_f") == true, "\(element.text)")
        let result = await f.engine.status().lastApply?.result
        #expect(result == "delta: +0 −0 rules, +1 −0 elements, 0 sets", "\(result ?? "")")
        // And its removal is one element deleted.
        #expect(
            await f.exec("pushd ipsec static\ndelete filter filterlist=SSH srcaddr=203.0.113.3 dstaddr=me mirrored=no")
                .ok)
        #expect(f.transport.transactions.last?.messages.map { String($0.prefix(14)) } == ["delete element"])

        // A refused change (the group still in use) changes nothing.
        let count = f.transport.transactions.count
        let refused = await f.exec("pushd ipsec static\ndelete addressgroup name=Admins")
        #expect(!refused.ok && (refused.error ?? "").contains("is used by a filter"), "\(refused.error ?? "")")
        #expect(f.transport.transactions.count == count)
    }
}
