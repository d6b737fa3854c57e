import Testing

@testable import RampartPolicy

/// Batch and script errors say what to do next.
@Suite struct NextStepTests {
    static func importError(_ text: String, file: String = "t.bat", defines: [String: String] = [:]) -> String? {
        do {
            _ = try ScriptPlan.import(text, file: file, defines: defines)
            return nil
        } catch {
            return error.description
        }
    }

    static func execError(_ text: String, file: String = "t.netsh") -> String? {
        do {
            _ = try ScriptPlan.exec(text, file: file)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func theWrongCommandForTheFileNamesTheRightOne() {
        let batch = "@echo off\r\nREM the web server\r\nnetsh ipsec static add filterlist name=Web\r\n"
        #expect(
            Self.execError(batch, file: "web.bat")
                == "web.bat:1:1: error: '@echo' is not a netsh ipsec command (rampart speaks only the ipsec context); this looks like a Windows batch file: run it with 'rampart import web.bat'"
        )
        let script = "pushd ipsec static\nadd filterlist name=Web\nset store location=local\npopd\n"
        #expect(
            Self.importError(script, file: "web.netsh")?.hasSuffix(
                "; this is a netsh script, not a batch file: run it with 'rampart exec web.netsh'") == true,
            "\(Self.importError(script, file: "web.netsh") ?? "")")
        #expect(Self.execError("add filterlist name=Web\n", file: "x") != nil, "a plain netsh error gets no batch hint")
        #expect(Self.execError("add filterlist name=Web\n")?.contains("import") == false)
    }

    @Test func setPIsAnsweredByDefine() throws {
        let batch = "set /p CONVERT=Convert the policy? \r\nnetsh ipsec static add filterlist name=%CONVERT%\r\n"
        #expect(
            Self.importError(batch)
                == "t.bat:1:1: error: 'set /p' reads CONVERT from the keyboard; give it with --define CONVERT=VALUE")
        let script = try ScriptPlan.import(batch, file: "t.bat", defines: ["convert": "Web"]).script
        #expect(script.commands.first?.arguments["name"]?.first?.value == "Web")
    }

    @Test func pipesQuotesAndJoinedLinesSayWhatToDo() {
        #expect(
            Self.importError("netsh ipsec static show all | find \"x\"\r\n")
                == "t.bat:1:29: error: pipes are not followed (rampart runs no other program): take the '|' and what follows off the line, or put REM before it to skip it"
        )
        #expect(
            Self.execError(
                "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me description='HTTP in' protocol=tcp\n")?
                .hasSuffix("given twice; single quotes are not netsh quoting: use double quotes (\"…\")") == true)
        let joined = "netsh ipsec static add filter filterlist=Web ^\r\n  srcaddr=any dstaddr=me ^\r\n  bogus=1\r\n"
        #expect(
            Self.importError(joined)?.hasPrefix("t.bat:3:3: error: 'static add filter' has no parameter 'bogus'")
                == true)
        #expect(Self.importError(joined)?.hasSuffix("(this command began at line 1, joined with ^)") == true)
    }
}
