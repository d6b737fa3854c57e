import RampartMigration
import RampartPolicy
import Testing

@testable import RampartMigration

/// `reg add` / `reg delete` lines of batch files (issue 32, item 1): reg.exe's arguments and
/// types, run in order, and the lines the batch importer takes, skips or refuses.
@Suite struct RegCommandsTests {
    static let key = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local"
    static let at = SourceLocation(file: "x.bat", line: 3, column: 1)

    static func export(_ lines: [String]) throws(Diagnostic) -> RegistryExport {
        try RegCommands.export(lines.map { RegCommands.Line(location: at, arguments: " " + $0) })
    }

    @Test func argumentsSplitAsWindowsProgramsSplitThem() {
        #expect(RegCommands.argv(#"add "a b" /d c"#) == ["add", "a b", "/d", "c"])
        #expect(RegCommands.argv(#"/d "say \"hi\"""#) == ["/d", #"say "hi""#])
        #expect(RegCommands.argv(#"/d "C:\dir\\" x"#) == ["/d", #"C:\dir\"#, "x"])
        #expect(RegCommands.argv(#"a\\b "" c"#) == [#"a\\b"#, "", "c"])
    }

    @Test func valuesOfEveryTypeTheStoreUses() throws {
        let e = try Self.export([
            #"add "\#(Self.key)\ipsecFilter{1}" /v s /t REG_SZ /d "x y" /f"#,
            #"add "\#(Self.key)\ipsecFilter{1}" /v d /t REG_DWORD /d 0x100"#,
            #"add "\#(Self.key)\ipsecFilter{1}" /v n /t reg_dword /d 42"#,
            #"add "\#(Self.key)\ipsecFilter{1}" /v b /t REG_BINARY /d 00ff10"#,
            #"add "\#(Self.key)\ipsecFilter{1}" /v m /t REG_MULTI_SZ /d a\0b"#,
            #"add "\#(Self.key)\ipsecFilter{1}" /v c /t REG_MULTI_SZ /s , /d a,b"#,
            #"add "\#(Self.key)\ipsecFilter{1}" /ve /d default"#
        ])
        let k = try #require(e.keys.first)
        #expect(
            k.path == "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local\\ipsecFilter{1}"
        )
        #expect(k.value("s") == .string("x y") && k.value("d") == .dword(256) && k.value("n") == .dword(42))
        #expect(k.value("b") == .binary(kind: 3, bytes: [0, 0xff, 0x10]))
        #expect(k.value("m")?.strings() == ["a", "b"] && k.value("c")?.strings() == ["a", "b"])
        #expect(k.value("")?.strings() == ["default"])
    }

    @Test func deletesRunInOrder() throws {
        let e = try Self.export([
            #"add \#(Self.key)\ipsecFilter{1} /v a /d 1"#, #"add \#(Self.key)\ipsecFilter{1} /v b /d 2"#,
            #"add \#(Self.key)\ipsecFilter{2} /v a /d 1"#, #"add \#(Self.key)\ipsecNFA{3} /v a /d 1"#,
            #"delete \#(Self.key)\ipsecFilter{1} /v a /f"#, #"delete \#(Self.key)\ipsecNFA{3} /va /f"#,
            #"delete \#(Self.key)\ipsecFilter{2} /f"#, #"add \#(Self.key)\ipsecFilter{1} /v b /d 3"#
        ])
        #expect(e.keys.map { $0.path.split(separator: "\\").last! } == ["ipsecFilter{1}", "ipsecNFA{3}"])
        #expect(e.keys[0].values.map(\.name) == ["b"] && e.keys[0].value("b") == .string("3"))
        #expect(e.keys[1].values.isEmpty)
        #expect(try Self.export([#"add \#(Self.key)\ipsecFilter{1} /v a"#, #"delete "\#(Self.key)" /f"#]).keys.isEmpty)
    }

    @Test func whatRegCannotDoHereIsAnErrorNamingTheLine() {
        for (line, message) in [
            (#"add \\server\HKLM\x /v a"#, "another machine's registry"),
            (#"add HKCU\Software\x /v a"#, "is not under HKLM"),
            (#"add \#(Self.key)\x /v a /t REG_QWORD /d 1"#, "REG_QWORD"),
            (#"add \#(Self.key)\x /v a /t REG_DWORD /d ten"#, "REG_DWORD takes a number"),
            (#"add \#(Self.key)\x /v a /t REG_BINARY /d abc"#, "pairs of hex digits"),
            (#"add \#(Self.key)\x /v"#, "/v needs a value"),
            (#"add \#(Self.key)\x /z"#, "unexpected '/z'"),
            (#"copy \#(Self.key)\x HKLM\y"#, "only 'reg add' and 'reg delete'")
        ] {
            do {
                _ = try Self.export([line])
                Issue.record("\(line) was taken")
            } catch {
                #expect(error.message.contains(message) && error.location == Self.at, "\(line): \(error.message)")
            }
        }
    }

    @Test func theBatchImporterTakesOnlyThePolicyStoresRegLines() throws {
        let text = """
            reg add "\(Self.key)\\ipsecPolicy{1}" /v ipsecName /d P /f
            reg.exe delete \(Self.key) /f
            %SystemRoot%\\System32\\reg.exe add HKLM\\SOFTWARE\\Other /v x /d 1
            reg query "\(Self.key)"
            reg import policy.reg
            reg add "\(Self.key)Backup\\x" /v a /d 1
            netsh ipsec static set policy name=P assign=y
            reg add "\(Self.key)" /v ActivePolicy /d x

            """
        let batch = try ScriptPlan.batch(text, file: "x.bat", defines: ["SystemRoot": "C:\\Windows"])
        #expect(batch.registry.map(\.location.line) == [1, 2, 8])
        #expect(batch.registry.map(\.afterCommands) == [0, 0, 1])
        #expect(batch.commands.count == 1)
        #expect(
            batch.skipped.map(\.reason) == [
                "reg add: a key outside Windows' IPsec policy store", "reg query: changes no policy",
                "reg import: give that .reg file to 'rampart import'",
                "reg add: a key outside Windows' IPsec policy store"
            ])
        #expect(throws: Diagnostic.self) { try ScriptPlan.import(text, file: "x.bat", defines: [:]) }
    }
}
