import Foundation
import Testing
@testable import RampartPolicy
import RampartSystem

/// Pure guards for issue 8's parsing and store items.
@Suite struct HardeningTests {
    func utf16le(_ s: String, bom: Bool) -> [UInt8] {
        (bom ? [0xFF, 0xFE] : []) + s.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
    }

    @Test func encodingsAreDecodedOrRefusedWithTheirPlace() throws {
        let text = "netsh ipsec static add policy name=X\r\n"
        #expect(try ScriptText.decode(utf16le(text, bom: true), file: "f") == text)
        #expect(try ScriptText.decode(utf16le(text, bom: false), file: "f") == text)
        #expect(
            try ScriptText.decode([0xFE, 0xFF] + text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }, file: "f")
                == text)
        #expect(try ScriptText.decode([0xEF, 0xBB, 0xBF] + Array(text.utf8), file: "f") == text)
        do {
            _ = try ScriptText.decode(Array("a\nname=Caf".utf8) + [0xE9, 0x0A], file: "f")
            Issue.record("invalid UTF-8 accepted")
        } catch {
            #expect(error.location == SourceLocation(file: "f", line: 2, column: 9))
        }
        #expect(try ScriptText.decode([0x43, 0x61, 0x66, 0xE9], file: "f", encoding: .latin1) == "Café")
        #expect(try ScriptText.decode([0x80], file: "f", encoding: .cp1252) == "€")
        #expect(throws: Diagnostic.self) { _ = try ScriptText.decode([0x81], file: "f", encoding: .cp1252) }
    }

    @Test func crOnlyLinesAndEmptyScripts() throws {
        #expect(ScriptRunner.lines(of: "a\rb\r\nc\nd", file: "f").map(\.text) == ["a", "b", "c", "d"])
        #expect(throws: Diagnostic.self) {
            _ = try ScriptPlan.exec("# only a comment\npushd ipsec static\npopd\n", file: "f")
        }
        #expect(throws: Diagnostic.self) {
            _ = try ScriptPlan.import("@echo off\r\necho hi\r\n", file: "f.bat", defines: [:])
        }
        #expect(throws: Diagnostic.self) {
            _ = try ScriptPlan.exec("ipsec static add policy name=a\u{0}b\n", file: "f")
        }
    }

    @Test func continuationKeepsQuotesAcrossJoins() throws {
        var importer = BatchImporter()
        // A caret after a closed quote continues, twice; carets inside quotes are characters.
        let result = try importer.extract(
            "netsh ipsec static add policy \"name=a b\" ^\r\ndescription=\"x ^^ y\" ^\r\nassign=no\r\n", file: "f.bat")
        #expect(result.commands.count == 1)
        #expect(
            result.commands[0].line.text.contains("assign=no") && result.commands[0].line.text.contains("\"x ^^ y\""))
        // A caret inside quotes is a character, not a continuation (cmd's rule).
        #expect(throws: Diagnostic.self) {
            _ = try importer.extract("netsh ipsec static add policy \"name=a ^\r\nb\"\r\n", file: "f.bat")
        }
    }

    func store(_ edit: (inout Store) -> Void) -> Store {
        var interpreter = Interpreter(store: Store())
        try! ScriptRunner.run(
            ScriptRunner.lines(
                of:
                    "ipsec static add filteraction name=P action=permit\nipsec static add filter filterlist=L srcaddr=localhost dstaddr=me protocol=tcp dstport=21\nipsec static add policy name=X\nipsec static add rule name=R policy=X filterlist=L filteraction=P\n",
                file: "s"), in: &interpreter)
        var s = interpreter.store
        edit(&s)
        return s
    }

    @Test func numericFieldsAreRangeChecked() throws {
        try StoreCodec.validate(store { _ in })
        let bad: [(String, (inout Store) -> Void)] = [
            ("sequence", { $0.sequence = Int.max }),
            ("nextRuleID", { $0.local.policies[0].nextRuleID = Int.max }),
            (
                "duplicate rule id",
                {
                    $0.local.policies[0].rules.append(
                        {
                            var r = $0.local.policies[0].rules[0]
                            r.name = "R2"
                            r.seq = 1
                            return r
                        }($0))
                }
            ),
            (
                "host-name prefix 999",
                { $0.local.filterLists[0].filters[0].source = .dnsName("localhost", prefix: 999) }
            ),
            ("host-name prefix -5", { $0.local.filterLists[0].filters[0].source = .dnsName("localhost", prefix: -5) }),
            ("not a host name", { $0.local.filterLists[0].filters[0].source = .dnsName("bad name", prefix: nil) })
        ]
        for (what, edit) in bad {
            #expect(throws: StoreError.self, "\(what)") { try StoreCodec.validate(store(edit)) }
        }
    }

    @Test func bootMeetIsNeverMorePermissive() {
        var block = DynamicConfig()
        block.bootMode = .block
        var permit = DynamicConfig()
        permit.bootMode = .permit
        let ssh = DynamicConfig.BootExemption(proto: .tcp, sourcePort: 0, destinationPort: 22, direction: .inbound)
        let rdp = DynamicConfig.BootExemption(proto: .tcp, sourcePort: 0, destinationPort: 3389, direction: .inbound)
        block.bootExemptions = [ssh]
        permit.bootExemptions = [ssh, rdp]
        for (a, b) in [(block, permit), (permit, block)] {
            let m = DynamicConfig.bootMeet(a, b)
            #expect(m.bootMode == .block)
            #expect(m.bootExemptions == [ssh])
        }
    }
}
