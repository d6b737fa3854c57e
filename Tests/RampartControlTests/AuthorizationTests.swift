import Testing
import RampartControl
import RampartPolicy

/// The authorization table, every operation × role, decided from parsed commands (no root needed).
@Suite struct AuthorizationTests {
    func parse(_ args: [String]) throws -> ParsedScript {
        try ScriptRunner.parse([try ScriptRunner.commandLine(arguments: args)], context: .ipsec)
    }

    func script(_ text: String) throws -> ParsedScript { try ScriptPlan.exec(text, file: "t.netsh") }

    func decide(_ op: ControlOperation, _ script: ParsedScript?, dryRun: Bool = false, _ role: Role) -> Decision {
        Authorization.decide(op, script: script, dryRun: dryRun, role: role, group: "rampart")
    }

    func denied(_ d: Decision) -> Bool { if case .denied = d { return true } else { return false } }

    @Test(arguments: [ControlOperation.status, .active, .counters, .dump, .dynamic, .explain])
    func queriesNeedMembership(op: ControlOperation) {
        #expect(decide(op, nil, .admin) == .query)
        #expect(decide(op, nil, .member) == .query)
        #expect(denied(decide(op, nil, .outsider)))
    }

    @Test(arguments: [ControlOperation.reload, .confirm])
    func reloadAndConfirmNeedRoot(op: ControlOperation) {
        #expect(decide(op, nil, .admin) == .change)
        #expect(denied(decide(op, nil, .member)))
        #expect(denied(decide(op, nil, .outsider)))
    }

    @Test func netshIsDecidedFromTheParsedVerb() throws {
        for query in [
            ["static", "show", "all"], ["static", "sho", "policy", "name=X"], ["static", "dump"],
            ["dynamic", "show", "config"],
            ["static", "exportpolicy", "file=x.ipsec"], ["static", "set", "store", "location=persistent"]
        ] {
            #expect(decide(.netsh, try parse(query), .member) == .query, "\(query)")
        }
        for change in [
            ["static", "set", "policy", "name=X", "assign=no"], ["static", "add", "policy", "name=show"],
            ["dynamic", "set", "config", "bootmode", "permit"],
            ["static", "delete", "all"], ["static", "importpolicy", "file=/etc/shadow"]
        ] {
            #expect(decide(.netsh, try parse(change), .admin) == .change, "\(change)")
            #expect(denied(decide(.netsh, try parse(change), .member)), "\(change)")
        }
    }

    /// The words that fooled the old argv heuristic: each argument is one word, however it is spelled.
    @Test func embeddedBlanksDoNotSplitArguments() throws {
        for args in [
            ["static\nset\npolicy\nname=Server", "show", "assign=no"], ["static\rset\rpolicy", "show"],
            ["static\u{00A0}set\u{00A0}policy", "show"], ["static", "set policy", "name=Server"]
        ] {
            #expect(throws: Diagnostic.self, "\(args.map(\.debugDescription))") { _ = try parse(args) }
        }
        #expect(throws: Diagnostic.self) {
            _ = try ScriptRunner.commandLine(arguments: ["static", "show", "all\"", "set", "policy"])
        }
        #expect(throws: Diagnostic.self) {
            _ = try ScriptRunner.commandLine(arguments: ["static", "add", "policy", "name=a\u{1B}b"])
        }
        let quoted = try ScriptRunner.commandLine(arguments: ["static", "add", "policy", "name=a\nb"])
        #expect(quoted.text == "static add policy name=\"a\nb\"")
    }

    @Test func dryRunsAreQueriesExceptFileReadersForMembers() throws {
        let adds = try script("ipsec static add policy name=X\n")
        #expect(decide(.exec, adds, dryRun: true, .member) == .query)
        #expect(denied(decide(.exec, adds, dryRun: false, .member)))
        #expect(decide(.exec, adds, dryRun: false, .admin) == .change)
        let reads = try script("ipsec static importpolicy file=/etc/shadow\n")
        #expect(denied(decide(.exec, reads, dryRun: true, .member)))
        #expect(decide(.exec, reads, dryRun: true, .admin) == .query)
        #expect(decide(.exec, try script("ipsec static show all\n"), .member) == .query)
        #expect(denied(decide(.exec, adds, dryRun: true, .outsider)))
        // netsh has no dry run: a change stays a change.
        #expect(denied(decide(.netsh, try parse(["static", "add", "policy", "name=X"]), dryRun: true, .member)))
    }
}
