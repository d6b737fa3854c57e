import Foundation
import Testing

@testable import RampartPolicy

/// A filter's ID follows its location, list and match: the same script re-run after `delete all`,
/// or a filter deleted and added again later, keeps its ID.
@Suite struct FilterIdentityTests {
    static let example = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("etc/rampart/examples/web-server.netsh"),
        encoding: .utf8)

    /// One transaction, as exec runs it, then the store written and read back.
    static func transact(_ script: String, on store: Store) throws -> Store {
        let parsed = try ScriptRunner.parse(ScriptRunner.lines(of: script, file: "t.netsh"))
        let plan = try TransactionPlan.make(parsed, on: store, workingDirectory: "/", readFile: { _ in "" }).get()
        return try StoreCodec.decode(StoreCodec.encode(plan.result.store))
    }

    static func ids(_ store: Store) -> [String: String] {
        var out: [String: String] = [:]
        for list in store.local.filterLists {
            for f in list.filters {
                out["\(list.name) \(ScriptWriter.filterArguments(f).joined(separator: " "))"] = f.identifier
            }
        }
        return out
    }

    @Test func reRunningAScriptThatDeletesAndAddsKeepsEveryID() throws {
        let first = try Self.transact(Self.example, on: Store())
        let again = try Self.transact("pushd ipsec static\ndelete all\npopd\n" + Self.example, on: first)
        #expect(Self.ids(again) == Self.ids(first))
        #expect(again.retiredFilterIDs.isEmpty, "every number was taken back")
        #expect(again.sequence > first.sequence, "other objects are new")
        #expect(Self.ids(first).values.contains("F4"), "a fresh store numbers as before: \(Self.ids(first))")
        // The example deletes its own objects first: re-run as it is, it keeps them too.
        #expect(Self.ids(try Self.transact(Self.example, on: first)) == Self.ids(first))
    }

    @Test func aFilterDeletedAndAddedInALaterChangeGetsItsNumberBack() throws {
        let add = "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80\n"
        let other = "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=443\n"
        let one = try Self.transact(add + other, on: Store())
        let id = try #require(one.local.filterLists.first?.filters.first?.identifier)
        let deleted = try Self.transact(
            "ipsec static delete filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80\n", on: one)
        #expect(deleted.retiredFilterIDs["local|web"]?.values.flatMap { $0 } == [Int(id.dropFirst())!])
        let back = try Self.transact(add, on: deleted)
        #expect(back.local.filterLists.first?.filters.last?.identifier == id)
        #expect(back.retiredFilterIDs.isEmpty)
        // The same match in another list, or another location, is another filter.
        let elsewhere = try Self.transact(add.replacingOccurrences(of: "=Web", with: "=Other"), on: deleted)
        #expect(elsewhere.local.filterLists.last?.filters.first?.identifier != id)
    }
}
