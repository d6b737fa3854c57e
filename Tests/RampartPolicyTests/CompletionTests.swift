import RampartPolicy
import Testing

/// Tab completion of netsh command lines: verbs, nouns, the parameters not yet given, and the
/// names the store holds after `policy=`, `filterlist=`, `filteraction=` or an object's `name=`.
@Suite struct CompletionTests {
    static let store: Store = {
        var interpreter = Interpreter(store: Store())
        try? ScriptRunner.run(
            ScriptRunner.lines(
                of: """
                    ipsec static add filterlist name=Web
                    ipsec static add filterlist name="All Traffic"
                    ipsec static add filteraction name=Permit action=permit
                    ipsec static add filteraction name=Block action=block
                    ipsec static add policy name=Server
                    ipsec static add rule name=web policy=Server filterlist=Web filteraction=Permit
                    ipsec static add policy name=Other
                    ipsec static add rule name=rest policy=Other filterlist=Web filteraction=Block
                    ipsec static add addressgroup name=Admins addresses=192.0.2.10
                    ipsec static add schedule name=Office days=mon-fri hours=08:00-18:00
                    """, file: "t"), in: &interpreter)
        return interpreter.store
    }()

    func complete(_ words: [String], _ prefix: String, _ context: CommandSpec.Context = .static) -> [String] {
        NetshCompletion.candidates(context: context, words: words, prefix: prefix, store: Self.store)
    }

    @Test func verbsNounsAndParameters() {
        #expect(complete([], "s") == ["set", "show"])
        #expect(complete(["add"], "filtera") == ["filteraction"])
        #expect(complete(["add", "rule", "name=x"], "filter") == ["filterlist=", "filteraction="], "name= is given")
        #expect(complete([], "", .dynamic).contains("set"))
    }

    @Test func namesFromTheStoreInEveryShellsForm() {
        // zsh and fish: one word; bash: split at '='.
        #expect(complete(["add", "rule"], "filteraction=") == ["filteraction=Block", "filteraction=Permit"])
        #expect(complete(["add", "rule", "filteraction", "="], "P") == ["Permit"])
        #expect(
            complete(["set", "filterlist"], "name=") == ["name=\"All Traffic\"", "name=Web"],
            "a name with blanks comes quoted")
        #expect(complete(["set", "filterlist"], "name=\"al") == ["name=\"All Traffic\""])
        #expect(
            complete(["set", "rule", "policy=Other"], "name=") == ["name=rest"], "the rules of the policy on the line")
        #expect(complete(["set", "rule"], "name=") == ["name=rest", "name=web"])
        #expect(
            NetshCompletion.candidates(context: .static, words: ["add", "rule"], prefix: "policy=", store: nil).isEmpty,
            "no store, no names")
        // The extensions' names: schedules, address groups, and groups as addresses.
        #expect(complete(["set", "rule"], "schedule=O") == ["schedule=Office"])
        #expect(complete(["delete", "addressgroup"], "name=") == ["name=Admins"])
        #expect(complete(["add", "filter"], "srcaddr=gr") == ["srcaddr=group:Admins"])
    }
}
