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
                "ipsecFilter{2FE2FD79-0389-4D6C-8794-55C4D444DB33} \"Admin\": 7 V2 filter(s) and 1 legacy one(s): the V2 filters are imported"
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

    /// The store the fixture makes, written back as Windows objects and read again: the same
    /// netsh commands (every field of every class goes both ways).
    @Test func theStoreGoesBackToWindowsObjectsAndReturns() throws {
        let store = try WindowsPolicyConversion.convert(PolicyFixture.objects).store
        let back = try WindowsPolicyExport.objects(store, now: 1_165_238_076)
        let again = try WindowsPolicyConversion.convert(back).store
        #expect(ScriptWriter.commands(for: again) == ScriptWriter.commands(for: store))
        let text = back.registryExport()
        #expect(
            try WindowsPolicyConversion.convert(WindowsPolicyObjects.from(RegistryExport.parse(text, file: "x.reg")))
                .store == again)
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
            ("web.ldf", Data(PolicyFixture.ldif.replacingOccurrences(of: "\n", with: "\r\n").utf8)),
            ("web-reg-add.bat", Data(PolicyFixture.regAddBatch.utf8))
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
            let objects: WindowsPolicyObjects
            if name.hasSuffix(".ldf") {
                objects = WindowsPolicyObjects.from(try LDIF.parse(text, file: name))
            } else if name.hasSuffix(".bat") {
                let batch = try ScriptPlan.batch(text, file: name, defines: [:])
                #expect(batch.commands.isEmpty && batch.registry.count > 100, "\(name): \(batch.registry.count)")
                objects = try WindowsPolicyObjects.from(
                    RegCommands.export(batch.registry.map { .init(location: $0.location, arguments: $0.arguments) }))
            } else {
                objects = try WindowsPolicyObjects.from(RegistryExport.parse(text, file: name))
            }
            #expect(objects.warnings.isEmpty, "\(name): \(objects.warnings)")
            #expect(try WindowsPolicyConversion.convert(objects).store == expected, "\(name)")
        }
    }
}

/// Honest about the edges (issue 32, item 3): each is a warning or an error that names the
/// object (class, GUID, name) and the field.
@Suite struct EdgeTests {
    static func converted(_ change: (inout WindowsPolicyObjects) -> Void) -> (WindowsPolicyConversion?, [String]) {
        var objects = PolicyFixture.objects
        change(&objects)
        do {
            let c = try WindowsPolicyConversion.convert(objects)
            return (c, c.diagnostics.map(\.message))
        } catch {
            return (nil, [error.message])
        }
    }

    static func index(_ guid: String, _ o: WindowsPolicyObjects) -> Int { o.objects.firstIndex { $0.guid == guid }! }

    @Test func danglingReferencesAndOrphansAreWarningsNamingTheObject() {
        let (c, messages) = Self.converted { o in
            // The DNS rule's filter action is gone; a rule no policy has; the assignment points nowhere.
            o.objects.removeAll { $0.guid == PolicyFixture.pass }
            o.objects[Self.index(PolicyFixture.nfaDNS, o)].references["ipsecnegotiationpolicyreference"] = [
                PolicyFixture.pass
            ]
            var orphan = o.objects[Self.index(PolicyFixture.nfaWeb, o)]
            orphan.guid = "{116CA92D-D536-4A44-BDCE-17D8363ED9FF}"
            o.objects.append(orphan)
            o.activePolicy = "{00000000-0000-0000-0000-0000000000AA}"
        }
        #expect(c?.store.policies.first?.rules.map(\.name) == ["Web", "Admin in"])
        #expect(
            messages.contains(
                "ipsecNFA{116CA92D-D536-4A44-BDCE-17D8363ED942} \"DNS\": its filter action (ipsecNegotiationPolicyReference) is not in the file: the rule is not imported"
            ), "\(messages)")
        #expect(
            messages.contains(
                "ipsecNFA{116CA92D-D536-4A44-BDCE-17D8363ED9FF} \"Web\": no policy in the file has this rule: not imported"
            ))
        #expect(
            messages.contains(
                "the assigned policy ipsecPolicy{00000000-0000-0000-0000-0000000000AA} is not in the file: no policy is assigned"
            ))
    }

    /// Fields with meaning that netsh's objects have no place for, or that the specification says
    /// must be 0, are said when they hold anything else.
    @Test func fieldsWithoutACounterpartAreSaid() throws {
        let (c, messages) = Self.converted { o in
            let i = Self.index(PolicyFixture.isakmp, o)
            var mm = try! ISAKMPData.decode(o.objects[i].data!)
            mm.options = 1
            mm.methods[0].lifetimeSeconds = 600
            mm.methods[1].pfsIdentityRequired = 1
            o.objects[i].data = mm.encode()
            let s = Self.index(PolicyFixture.secure, o)
            var qm = try! NegotiationData.decode(o.objects[s].data!)
            qm.offers[0].options = 2
            o.objects[s].data = qm.encode()
            let w = Self.index(PolicyFixture.web, o)
            var f = try! FilterData.decode(o.objects[w].data!)
            f.legacy[0].options = 4
            o.objects[w].data = f.encode()
            let r = Self.index(PolicyFixture.nfaAdmin, o)
            var nfa = try! NFAData.decode(o.objects[r].data!)
            nfa.tunnelEndpointName = "gw.contoso.com"
            o.objects[r].data = nfa.encode()
        }
        #expect(c != nil)
        for expected in [
            "ipsecISAKMPPolicy{12A63239-DFB6-4F7A-9E84-FEA90E81202A}: ISAKMP-Options 1 (certificate-to-account mapping, no certificate request) has no counterpart in rampart or charon: not imported",
            "ipsecISAKMPPolicy{12A63239-DFB6-4F7A-9E84-FEA90E81202A}: security method 1: Oakley-Lifetime-Secs 600: netsh has these once per policy (qmpermm, mmlifetime, mmpfs), taken from the policy's own fields",
            "ipsecISAKMPPolicy{12A63239-DFB6-4F7A-9E84-FEA90E81202A}: security method 2: PFS-Identity-Required 1: netsh has these once per policy",
            "\"Secure\": offer 1: Negotiation-Options 2 is not 0, as §2.2.1.4.1 says it must be: ignored",
            "\"Web In\": filter {00000000-0000-0000-0000-000000000001}: Legacy-Filter-Options 4 is not 0, as §2.2.1.5.1 says it must be: ignored",
            "\"Admin in\": Tunnel-End-Point-Name gw.contoso.com is not carried over: the tunnel is its address (Tunnel-Address)"
        ] {
            #expect(messages.contains { $0.contains(expected) }, "\(expected)\n\(messages)")
        }
    }

    @Test func valuesOutsideTheSpecificationAreErrorsAndIgnoredDataIsSaid() {
        let (_, mask) = Self.converted { o in
            let data = FilterData(legacy: [
                PolicyFixture.legacy(9, 0xC000_0200, 0xFF00_FF00, 0, 0xFFFF_FFFF, proto: 6, port: 80)
            ])
            o.objects[Self.index(PolicyFixture.web, o)].data = data.encode()
        }
        #expect(
            mask == [
                "ipsecFilter{2FE2FD79-0389-4D6C-8794-55C4D444DB31} \"Web In\": filter {00000000-0000-0000-0000-000000000009}: source mask 255.0.255.0 is not contiguous"
            ])
        let (_, server) = Self.converted { o in
            let data = FilterData(legacy: [
                PolicyFixture.legacy(9, 0xC000_0201, 0xFFFF_FFFF, 0, 0, proto: 17, port: 53, special: 0x81)
            ])
            o.objects[Self.index(PolicyFixture.dns, o)].data = data.encode()
        }
        #expect(
            server == [
                "ipsecFilter{2FE2FD79-0389-4D6C-8794-55C4D444DB32} \"DNS Out\": filter {00000000-0000-0000-0000-000000000009}: DNS against 192.0.2.1: a server type is taken only against 'me' (as netsh takes it); make that side 'me' on Windows and export again"
            ], "\(server)")
        let (_, action) = Self.converted { o in
            o.objects[Self.index(PolicyFixture.block, o)].attributes["ipsecnegotiationpolicyaction"] =
                "{00000000-0000-0000-0000-000000000001}"
        }
        #expect(
            action.first?.contains(
                "\"Block\": ipsecNegotiationPolicyAction {00000000-0000-0000-0000-000000000001} is not block, permit, negotiate or inbound pass-through"
            ) == true, "\(action)")
        let (_, type) = Self.converted { o in o.objects[Self.index(PolicyFixture.web, o)].dataType = 255 }
        #expect(type.first?.hasSuffix("ipsecDataType is 255, not 256 ([MS-GPIPSEC] §2.2.1)") == true)
        let (_, truncated) = Self.converted { o in o.objects[Self.index(PolicyFixture.nfaWeb, o)].data?.removeLast(30) }
        #expect(
            truncated.first?.hasPrefix("ipsecNFA{116CA92D-D536-4A44-BDCE-17D8363ED941} \"Web\": ipsecData at byte ")
                == true, "\(truncated)")
        let (c, zero) = Self.converted { o in
            var bytes = o.objects[Self.index(PolicyFixture.isakmp, o)].data!
            bytes[62] = 7  // inside Zero2 (bytes 60–79)
            o.objects[Self.index(PolicyFixture.isakmp, o)].data = bytes
        }
        #expect(c != nil)
        #expect(
            zero.contains {
                $0.hasSuffix("ipsecData field(s) Zero2 hold data, which [MS-GPIPSEC] §2.2.1 says to ignore: ignored")
            }, "\(zero)")
    }
}
