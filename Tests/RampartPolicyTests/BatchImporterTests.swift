import Testing
@testable import RampartPolicy

@Suite struct BatchImporterTests {
    func extract(_ text: String, defines: [String: String] = [:]) throws(Diagnostic) -> BatchImporter.Result {
        var importer = BatchImporter(defines: defines)
        return try importer.extract(text, file: "s.bat")
    }

    func apply(_ text: String, defines: [String: String] = [:]) throws(Diagnostic) -> Interpreter {
        var interpreter = Interpreter(store: Store())
        try ScriptRunner.run(commands: try extract(text, defines: defines).commands, in: &interpreter)
        return interpreter
    }

    func failure(_ text: String, defines: [String: String] = [:]) -> Diagnostic? {
        do {
            _ = try apply(text, defines: defines)
            return nil
        } catch {
            return error
        }
    }

    let realistic = """
        @echo off
        REM IPSec lockdown for a web server
        :: second comment style
        setlocal
        title Installing IPSec policy
        color 0A
        cls
        set POLICY=IIS Server
        set "INTERNAL=198.51.100.0"
        echo Creating %POLICY% ...
        netsh ipsec static add policy name="%POLICY%" assign=no > nul 2>&1
        netsh ipsec static add filteraction name=Perm action=permit >nul
        netsh ipsec static add filter filterlist=Admin ^
              srcaddr=%INTERNAL% srcmask=24 dstaddr=me ^
              protocol=tcp dstport=3389 2>nul
        C:\\Windows\\System32\\netsh.exe ipsec static add rule name=Admin policy="%POLICY%" filterlist=Admin filteraction=Perm && echo ok || echo failed
        %SystemRoot%\\system32\\netsh ipsec static set policy name="%POLICY%" assign=y & echo done
        netsh -c "ipsec dynamic" set config bootmode block
        netsh advfirewall set allprofiles state on
        ipconfig /flushdns
        cd %TEMP%
        pause
        exit /b 0
        netsh ipsec static add policy name=AfterExit
        """

    @Test func followsARealisticBatchFile() throws {
        let i = try apply(realistic)
        let p = try #require(i.store.local.policies.first)
        #expect(p.name == "IIS Server" && p.assigned)
        #expect(p.rules.map(\.name) == ["Admin"])
        #expect(i.store.local.filterLists[0].filters[0].source == .subnet(IPAddress("198.51.100.0")!, prefix: 24))
        #expect(i.store.config.bootMode == .block)
        #expect(i.store.local.policies.count == 1)
    }

    @Test func listsEverySkippedLineWithItsReason() throws {
        let r = try extract(realistic)
        let reasons = r.skipped.map { "\($0.location.line):\($0.reason)" }
        #expect(
            reasons == [
                "1:echo", "2:comment", "3:comment", "4:setlocal (variables are followed)", "5:title", "6:color",
                "7:cls",
                "8:set: variable", "9:set: variable", "10:echo", "16:echo", "16:echo", "17:echo",
                "19:netsh context 'advfirewall' is not ipsec", "20:not a netsh command ('ipconfig')",
                "21:cd: '%TEMP%' is not a folder on this machine; relative paths after this line are refused",
                "22:pause", "23:exit: end of script", "24:after exit"
            ])
        #expect(r.commands.count == 6)
    }

    @Test func defineSuppliesVariables() throws {
        let i = try apply("netsh ipsec static add policy name=%NAME%", defines: ["NAME": "FromCLI"])
        #expect(i.store.local.policies.first?.name == "FromCLI")
        let j = try apply("set NAME=InFile\nnetsh ipsec static add policy name=%name%", defines: ["NAME": "FromCLI"])
        #expect(j.store.local.policies.first?.name == "InFile")
        let k = try apply("netsh ipsec static add policy name=100%%")
        #expect(k.store.local.policies.first?.name == "100%")
    }

    @Test func unresolvedVariableIsAnError() {
        #expect(
            failure("netsh ipsec static add policy name=%NOPE%")?.description
                == "s.bat:1:36: error: variable %NOPE% is not set (define it with 'set NOPE=…' in the file or --define NOPE=VALUE)"
        )
    }

    @Test func errorsInContinuedLinesNameThePhysicalLine() {
        let text =
            "netsh ipsec static add filter filterlist=L ^\n  srcaddr=any ^\n  dstaddr=me protocol=tcp dstport=99999\n"
        #expect(
            failure(text)?.description
                == "s.bat:3:35: error: dstport: '99999' is not a port number from 0 (any) to 65535")
    }

    @Test(arguments: [
        ("goto end", "s.bat:1:1: error: cannot follow 'goto'"),
        ("if exist x.txt netsh ipsec static add policy name=A", "s.bat:1:1: error: cannot follow 'if'"),
        ("for %%i in (1 2) do netsh ipsec static add policy name=P%%i", "s.bat:1:1: error: cannot follow 'for'"),
        ("call :sub", "s.bat:1:1: error: cannot follow 'call'"),
        (
            "set /p NAME=Policy name?",
            "s.bat:1:1: error: 'set /p' reads NAME from the keyboard; give it with --define NAME=VALUE"
        ),
        ("netsh ipsec static show all | find \"x\"", "s.bat:1:29: error: pipes are not followed"),
        ("netsh ipsec static add policy name=%1", "s.bat:1:36: error: batch arguments (%1) are not followed"),
        ("netsh ipsec static add policy name=%~1", "s.bat:1:36: error: batch arguments (%~1) are not followed"),
        ("netsh ipsec static add policy name=%*", "s.bat:1:36: error: batch arguments (%*) are not followed"),
        (
            "netsh ipsec static add policy name=%~z0",
            "s.bat:1:36: error: %~z0: only the modifiers f, d, p, n and x are followed"
        ),
        (
            "netsh ipsec static add policy name=%~n0",
            "s.bat:1:36: error: %~n0 names the batch file itself, but it was read from standard input"
        ),
        ("netsh -f other.txt", "s.bat:1:7: error: netsh -f runs another script"),
        ("netsh exec other.txt", "s.bat:1:7: error: netsh exec runs another script"),
        ("netsh -r server01 ipsec static show all", "s.bat:1:7: error: netsh -r configures a remote machine")
    ])
    func unfollowableConstructsAreErrorsAtTheirLine(text: String, expected: String) {
        let d = failure(text)?.description ?? "no error"
        #expect(d.hasPrefix(expected), "\(d)")
    }

    func applyScript(
        _ text: String, path: String = "/srv/ipsec/setup.bat", workingDirectory: String = "/root"
    ) throws(Diagnostic) -> Interpreter {
        var importer = BatchImporter(scriptPath: path)
        var interpreter = Interpreter(store: Store(), workingDirectory: workingDirectory)
        try ScriptRunner.run(commands: try importer.extract(text, file: "s.bat").commands, in: &interpreter)
        return interpreter
    }

    @Test func theScriptsOwnPathIsFollowed() throws {
        let i = try applyScript(
            """
            @echo off
            cd /d "%~dp0"
            netsh ipsec static add policy name=%~n0 description="%~nx0 %~x0 %~f0 %0"
            netsh ipsec static exportpolicy file=backup.txt
            pushd logs
            netsh ipsec static exportpolicy file=inner.txt
            popd
            netsh ipsec static exportpolicy file=%~dp0again.txt
            """)
        let p = try #require(i.store.local.policies.first)
        #expect(p.name == "setup")
        #expect(p.description == "setup.bat .bat /srv/ipsec/setup.bat /srv/ipsec/setup.bat")
        #expect(
            i.pendingFiles.map(\.path) == ["/srv/ipsec/backup.txt", "/srv/ipsec/logs/inner.txt", "/srv/ipsec/again.txt"]
        )
    }

    @Test func cdLinesAreListedAsFollowed() throws {
        var importer = BatchImporter(scriptPath: "/srv/ipsec/setup.bat")
        let r = try importer.extract(
            "cd /d \"%~dp0\"\nset X=1\necho hi\nnetsh ipsec static add policy name=A\n", file: "s.bat")
        #expect(
            r.skipped.map(\.listing) == [
                "s.bat:1:1: followed (cd: relative paths resolve against /srv/ipsec): cd /d \"/srv/ipsec/\"",
                "s.bat:2:1: followed (set: variable): set X=1",
                "s.bat:3:1: skipped (echo): echo hi"
            ])
        #expect(r.commands.count == 1 && r.commands[0].directory == .path("/srv/ipsec"))
    }

    @Test func relativeCdResolvesAgainstTheWorkingDirectory() throws {
        let i = try applyScript(
            "cd conf\nnetsh ipsec static exportpolicy file=a.txt\ncd ..\\..\nnetsh ipsec static exportpolicy file=/tmp/b.txt\n"
        )
        #expect(i.pendingFiles.map(\.path) == ["/root/conf/a.txt", "/tmp/b.txt"])
    }

    @Test func aWindowsFolderRefusesLaterRelativePaths() {
        do {
            _ = try applyScript("cd /d C:\\Scripts\nnetsh ipsec static exportpolicy file=out.txt\n")
            Issue.record("a relative path after an unfollowed cd was accepted")
        } catch {
            let text = error.description
            #expect(
                text.hasPrefix(
                    "s.bat:2:38: error: 'out.txt' is relative, but the batch file changed to 'C:\\Scripts' at s.bat:1:1"
                ), "\(text)")
        }
        // An absolute path is still fine after it.
        #expect((try? applyScript("cd /d C:\\Scripts\nnetsh ipsec static exportpolicy file=/tmp/out.txt\n")) != nil)
    }

    @Test func escapedAmpersandIsLiteral() throws {
        let i = try apply("netsh ipsec static add policy name=\"R&D\" description=a^&b")
        #expect(i.store.local.policies.first?.name == "R&D")
        #expect(i.store.local.policies.first?.description == "a&b")
    }

    @Test func batchErrorsAreTransactional() {
        // The second command fails: a caller runs on a copy, so nothing of the file is applied.
        #expect(
            failure("netsh ipsec static add policy name=A\nnetsh ipsec static add policy name=A")?.description
                == "s.bat:2:36: error: policy 'A' already exists in the local store")
    }
}
