import Foundation
import RampartMigration
import RampartPolicy
import Testing

/// Windows' objects → the store objects netsh would make (issue 32, items 1–3).
@Suite struct ConversionTests {
    @Test func theFixturePolicyBecomesItsNetshScript() throws {
        let c = try WindowsPolicyConversion.convert(PolicyFixture.objects)
        let script = c.script(source: "web.reg")
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Golden/web.netsh")
        // RAMPART_UPDATE_GOLDEN=1 rewrites it after an intended change.
        if ProcessInfo.processInfo.environment["RAMPART_UPDATE_GOLDEN"] == "1" {
            try script.write(to: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: path, encoding: .utf8)
        #expect(script == golden, "\(script)")
        #expect(
            c.diagnostics.map(\.message) == [
                "ipsecFilter{2FE2FD79-0389-4D6C-8794-55C4D444DB33} \"Admin\": 2 V2 filter(s) and 1 legacy one(s): the V2 filters are imported"
            ])
        // The script runs: exec of it makes the store the conversion made (names and values).
        var interpreter = Interpreter(store: Store(), makeGUID: { "{00000000-0000-0000-0000-000000000000}" })
        try ScriptRunner.run(ScriptRunner.lines(of: script, file: "web.netsh"), in: &interpreter)
        let made = interpreter.store.local
        #expect(made.filterLists.map(\.name) == c.store.filterLists.map(\.name))
        #expect(
            made.filterLists.map { $0.filters.map(\.matchKey) }
                == c.store.filterLists.map { $0.filters.map(\.matchKey) })
        #expect(made.filterActions.map(\.action) == c.store.filterActions.map(\.action))
        #expect(
            made.policies.first?.rules.map(\.name) == ["Web", "DNS", "Admin in"]
                && made.policies.first?.assigned == true)
    }

    /// The same objects through a registry export written by the writer and read back.
    @Test func aRegistryExportRoundTripsTheObjects() throws {
        let text = PolicyFixture.objects.registryExport()
        let back = try WindowsPolicyObjects.from(RegistryExport.parse(text, file: "w.reg"))
        #expect(back.activePolicy == PolicyFixture.policy && back.warnings.isEmpty, "\(back.warnings)")
        #expect(back.objects.count == PolicyFixture.objects.objects.count)
        for (a, b) in zip(back.objects, PolicyFixture.objects.objects) {
            #expect(
                a.guid == b.guid && a.name == b.name && a.data == b.data && a.references == b.references
                    && a.attributes == b.attributes)
        }
        #expect(
            try WindowsPolicyConversion.convert(back).store
                == WindowsPolicyConversion.convert(PolicyFixture.objects).store)
    }
}

/// Every form an admin brings — regedit's UTF-16LE export, UTF-8, `REGEDIT4`, LDIF — checked in
/// under Tests/RampartCLITests/Golden/windows (where the CLI tests import them) and decoded to
/// the same store as the fixture's objects.
@Suite struct FormsTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("RampartCLITests/Golden/windows")

    static var forms: [(String, Data)] {
        let v5 = PolicyFixture.objects.registryExport()
        var utf16: [UInt8] = [0xFF, 0xFE]
        for u in v5.utf16 { utf16 += [UInt8(u & 0xff), UInt8(u >> 8)] }
        return [
            ("web.reg", Data(utf16)), ("web-utf8.reg", Data(v5.utf8)),
            ("web-regedit4.reg", Data(PolicyFixture.objects.registryExport(version: 4).utf8)),
            ("web.ldf", Data(PolicyFixture.ldif.replacingOccurrences(of: "\n", with: "\r\n").utf8))
        ]
    }

    @Test func everyFormGivesTheSameStore() throws {
        let expected = try WindowsPolicyConversion.convert(PolicyFixture.objects).store
        for (name, data) in Self.forms {
            let path = Self.directory.appendingPathComponent(name)
            if ProcessInfo.processInfo.environment["RAMPART_UPDATE_GOLDEN"] == "1" {
                try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
                try data.write(to: path)
            }
            #expect(try Data(contentsOf: path) == data, "\(name) is what the writers make")
            let text = try ScriptText.decode([UInt8](data), file: name)
            let objects =
                name.hasSuffix(".ldf")
                ? WindowsPolicyObjects.from(try LDIF.parse(text, file: name))
                : try WindowsPolicyObjects.from(RegistryExport.parse(text, file: name))
            #expect(objects.warnings.isEmpty, "\(name): \(objects.warnings)")
            #expect(try WindowsPolicyConversion.convert(objects).store == expected, "\(name)")
        }
    }
}
