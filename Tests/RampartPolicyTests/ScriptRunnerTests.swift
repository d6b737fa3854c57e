import Testing
@testable import RampartPolicy

@Suite struct ScriptRunnerTests {
    @Test func contextsCommentsAndExit() throws {
        let i = try run(
            """
            # a comment
                # an indented comment
            ipsec static add policy name=A
            pushd ipsec static
            add policy name=B
            pushd ipsec dynamic
            set config bootmode permit
            popd
            add policy name=C
            popd
            netsh ipsec static add policy name=D
            ipsec static
            add policy name=E
            exit
            add policy name=NotRun
            """)
        #expect(i.store.local.policies.map(\.name) == ["A", "B", "C", "D", "E"])
        #expect(i.store.config.bootMode == .permit)
    }

    @Test func errorsNameFileLineAndColumn() {
        let e = error(
            of: "pushd ipsec static\nadd policy name=A\n\nadd policy name=B mmlifetime=abc\n", file: "policy.netsh")
        #expect(
            e?.description == "policy.netsh:4:30: error: mmlifetime: 'abc' is not a whole number from 1 to 2147483647")
    }

    @Test func aFailingScriptChangesNothing() throws {
        let before = try run("ipsec static add policy name=Keep").store
        var interpreter = Interpreter(store: before)
        #expect(throws: Diagnostic.self) {
            try ScriptRunner.run(
                ScriptRunner.lines(of: "ipsec static add policy name=New\nipsec static bogus", file: "s"),
                in: &interpreter)
        }
        // The caller's copy is untouched: a script runs on a value copy and is committed only on success.
        #expect(before.local.policies.map(\.name) == ["Keep"])
    }

    @Test func commandLineArgumentsBecomeOneLine() throws {
        let line = try ScriptRunner.commandLine(arguments: [
            "static", "add", "policy", "name=IIS Server", "description=", "assign", "=", "yes"
        ])
        #expect(line.text == #"static add policy name="IIS Server" description= assign = yes"#)
        var i = Interpreter(store: Store())
        try ScriptRunner.run(
            [try ScriptRunner.commandLine(arguments: ["static", "add", "policy", "name=IIS Server", "assign=yes"])],
            in: &i, context: .ipsec)
        #expect(i.store.local.policies.first?.name == "IIS Server")
    }

    @Test func crlfAndBOMAreAccepted() throws {
        let i = try run("\u{FEFF}ipsec static add policy name=A\r\nipsec static add policy name=B\r\n")
        #expect(i.store.local.policies.map(\.name) == ["A", "B"])
    }
}
