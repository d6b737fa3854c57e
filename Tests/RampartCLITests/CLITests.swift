import Foundation
import RampartReport
import RampartTestKit
import Testing

/// End-to-end tests of the `rampart` binary: argv in, exit status, stdout and stderr out,
/// and the store file on disk.
struct CLI {
    static let binary: String = {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("rampart").path
    }()
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    let directory: URL
    var store: String { directory.appendingPathComponent("store.json").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(at: directory) }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil) throws -> Result {
        var env = ProcessInfo.processInfo.environment
        env["RAMPART_STORE"] = store
        env["RAMPART_SOCKET"] = directory.appendingPathComponent("no-daemon.sock").path
        let r = try ChildProcess.run(
            [CLI.binary] + arguments, input: stdin ?? "", environment: env, directory: directory.path)
        return Result(status: r.status, stdout: r.out, stderr: r.err)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func storeBytes() -> Data? { FileManager.default.contents(atPath: store) }
}

@Suite(.serialized) struct CLITests {
    static let example = CLI.repository.appendingPathComponent("etc/rampart/examples/web-server.netsh").path

    /// The shells' completion scripts ask the binary (`---completion`): names come from the store.
    @Test func completionOffersTheStoresNames() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        #expect(try cli.run(["exec", Self.example]).status == 0)
        let bash = try cli.run([
            "---completion", "static", "--", "positional@0", "6", "0", "rampart", "static", "add", "rule", "policy",
            "=", ""
        ])
        #expect(bash.status == 0 && bash.stdout == "\"Web Server\"\n", "\(bash.stdout) \(bash.stderr)")
        let zsh = try cli.run([
            "---completion", "static", "--", "positional@0", "4", "14", "rampart", "static", "add", "rule",
            "filteraction=P"
        ])
        #expect(zsh.stdout == "filteraction=Permit\n", "\(zsh.stdout)")
        for shell in ["bash", "zsh", "fish"] {
            let script = try cli.run(["--generate-completion-script", shell])
            #expect(script.status == 0 && script.stdout.contains("---completion static"), "\(shell)")
        }
    }

    /// Without rampartd, `dynamic show mmsas|qmsas|stats` ask charon at its default socket
    /// themselves; charon absent is said, not shown as "no SAs".
    @Test func ipsecViewsWithoutTheDaemonAskCharonOrSayItIsAway() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let charonHere = FileManager.default.fileExists(atPath: "/run/charon.vici")
        let mm = try cli.run(["dynamic", "show", "mmsas"])
        #expect(
            mm.status == 0 && mm.stdout.hasPrefix("Main mode security associations (IKE_SAs): "),
            "\(mm.stdout)\(mm.stderr)")
        if !charonHere {
            #expect(mm.stdout.contains("unknown, charon is not reachable: cannot reach charon at /run/charon.vici"))
        }
        let stats = try cli.run(["dynamic", "show", "stats", "type=ike"])
        #expect(
            stats.stdout.contains("IKE (main mode) statistics")
                && stats.stdout.contains("(rampartd's event counts)  not running or not asked"), "\(stats.stdout)")
        // `rampart show qmsas` is the same as the dynamic context's.
        let qm = try cli.run(["show", "qmsas"])
        #expect(
            qm.status == 0 && qm.stdout.hasPrefix("Quick mode security associations (CHILD_SAs): "),
            "\(qm.stdout)\(qm.stderr)")
        let bad = try cli.run(["dynamic", "show", "stats", "type=both"])
        #expect(bad.status != 0 && bad.stderr.contains("type=both: ike, ipsec or all"), "\(bad.stderr)")
    }

    /// One version: debian/changelog's top entry, written into Version.swift by scripts/version.sh.
    /// A host name a change brings that does not resolve is warned with its name (issue 31,
    /// item 2); one that resolves (from /etc/hosts) is not, nor is a name already in the store.
    @Test func aNewHostNameThatDoesNotResolveIsWarned() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let add = try cli.run([
            "static", "add", "filter", "filterlist=U", "srcaddr=me", "dstaddr=no-such-host.invalid", "protocol=tcp",
            "dstport=443"
        ])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(
            add.stderr.contains("rampart: warning: host name 'no-such-host.invalid' d")
                && add.stderr.contains(
                    "its filters match nothing until it does; check the spelling, or use an address"),
            "\(add.stderr)")
        let again = try cli.run([
            "static", "add", "filter", "filterlist=U", "srcaddr=me", "dstaddr=no-such-host.invalid", "protocol=tcp",
            "dstport=80"
        ])
        #expect(!again.stderr.contains("host name"), "already in the store: not checked again: \(again.stderr)")
        let local = try cli.run([
            "static", "add", "filter", "filterlist=U", "srcaddr=me", "dstaddr=localhost", "protocol=tcp", "dstport=80"
        ])
        #expect(!local.stderr.contains("host name"), "\(local.stderr)")
    }

    /// `import --extract` (issue 31, item 6): the batch file's netsh commands for review, each with
    /// its file and line, variables expanded; `exec` of that makes the store `import` makes.
    @Test func importExtractPrintsAScriptThatExecMakesTheSameStoreFrom() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let batch = try cli.write(
            "lockdown.bat",
            """
            @echo off
            REM lockdown
            set SERVER=192.0.2.10
            netsh ipsec static add policy name="Web" assign=yes
            netsh ipsec static add filter filterlist="Web In" srcaddr=any ^
               dstaddr=%SERVER% protocol=tcp dstport=80
            netsh -c "ipsec static" add filteraction name=Permit action=permit
            netsh ipsec static add rule name=w policy=Web filterlist="Web In" filteraction=Permit
            echo done

            """)
        let extracted = try cli.run(["import", "--extract", batch])
        #expect(
            extracted.status == 0
                && extracted.stdout == """
                    # \(batch):4
                    ipsec static add policy name="Web" assign=yes
                    # \(batch):5-6
                    ipsec static add filter filterlist="Web In" srcaddr=any    dstaddr=192.0.2.10 protocol=tcp dstport=80
                    # \(batch):7
                    ipsec static add filteraction name=Permit action=permit
                    # \(batch):8
                    ipsec static add rule name=w policy=Web filterlist="Web In" filteraction=Permit

                    """,
            "\(extracted.stdout)\(extracted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.store), "--extract changes nothing")
        #expect(try cli.run(["exec", "-"], stdin: extracted.stdout).status == 0)
        let viaExec = try cli.run(["dump"]).stdout
        try FileManager.default.removeItem(atPath: cli.store)
        #expect(try cli.run(["import", batch]).status == 0)
        #expect(try cli.run(["dump"]).stdout == viaExec, "the same store either way")
    }

    /// Windows' own policy store (issue 32): a regedit export in UTF-16LE (as regedit writes it),
    /// UTF-8 and REGEDIT4, and an LDIF export, each imported in one transaction, make the same
    /// store; `--netsh` prints the netsh script, and `exec` of it makes that store too.
    @Test func windowsPolicyStoresImportAsTheirNetshScript() throws {
        let forms = Self.golden.appendingPathComponent("windows")
        var dumps: [String] = []
        for name in ["web.reg", "web-utf8.reg", "web-regedit4.reg", "web.ldf", "web-reg-add.bat"] {
            let cli = try CLI()
            defer { cli.cleanup() }
            let r = try cli.run(["import", forms.appendingPathComponent(name).path])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            dumps.append(try cli.run(["dump"]).stdout)
        }
        #expect(Set(dumps).count == 1, "every form gives the same store")
        #expect(
            dumps[0].contains(
                "add rule name=\"Admin in\" policy=\"Web Server\" filterlist=Admin filteraction=Secure conntype=dialup activate=no tunnel=203.0.113.1"
            ))
        let cli = try CLI()
        defer { cli.cleanup() }
        let netsh = try cli.run(["import", "--netsh", forms.appendingPathComponent("web.reg").path])
        #expect(
            netsh.status == 0 && netsh.stdout.hasPrefix("# netsh commands equivalent to the Windows policy objects of ")
        )
        #expect(!FileManager.default.fileExists(atPath: cli.store), "--netsh changes nothing")
        #expect(try cli.run(["exec", "-"], stdin: netsh.stdout).status == 0)
        #expect(try cli.run(["dump"]).stdout == dumps[0], "exec of the printed script makes the same store")
        let file = try cli.write("policy.ipsec", "binary")
        let refused = try cli.run(["import", file])
        #expect(
            refused.status != 0
                && refused.stderr.contains(
                    "reg export HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local policy.reg"),
            "\(refused.stderr)")
        let batch = try cli.write("x.bat", "netsh ipsec static add policy name=P\r\n")
        #expect(try cli.run(["import", "--netsh", batch]).stderr.contains("--extract prints its netsh commands"))
        // reg add lines and netsh lines in one batch: the registry's objects first, a warning
        // when a reg line comes after a netsh command, one script that exec turns into the store.
        let lines = try String(contentsOf: forms.appendingPathComponent("web-reg-add.bat"), encoding: .utf8)
            .components(separatedBy: "\r\n")
        let mixed = try cli.write(
            "mixed.bat",
            (lines.dropLast(2) + ["netsh ipsec static set policy name=\"Web Server\" pollinginterval=600"]
                + lines.suffix(2)).joined(separator: "\r\n"))
        let printed = try cli.run(["import", "--netsh", mixed])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(
            printed.stderr.contains(
                "warning: the objects of the reg lines are made before the file's netsh commands run, whatever their order"
            ), "\(printed.stderr)")
        #expect(
            printed.stdout.hasSuffix(
                "ipsec static set policy name=\"Web Server\" pollinginterval=600\n"), "\(printed.stdout)")
        let fresh = try CLI()
        defer { fresh.cleanup() }
        #expect(try fresh.run(["exec", "-"], stdin: printed.stdout).status == 0)
        #expect(try fresh.run(["dump"]).stdout.contains("pollinginterval=600"))
    }

    /// `exportpolicy --format reg` (issue 32, item 4): a policy built with netsh commands, written as
    /// regedit writes a .reg and imported again, is the same policy; a rampart extension is refused.
    @Test func aPolicyExportedAsRegImportsAsItself() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let example = try String(contentsOfFile: Self.example, encoding: .utf8)
        #expect(try cli.run(["exec", "-"], stdin: example).status == 0)
        let reg = cli.directory.appendingPathComponent("web.reg").path
        let refused = try cli.run(["exportpolicy", "--format", "reg", reg])
        #expect(
            refused.status != 0
                && refused.stderr.contains(
                    "filter list 'Web Out': filter F10 is mirrored=stateful, which a Windows policy cannot hold"),
            "\(refused.stderr)")
        let plain = example.replacingOccurrences(of: "mirrored=stateful", with: "mirrored=yes")
        let fresh = try CLI()
        defer { fresh.cleanup() }
        #expect(try fresh.run(["exec", "-"], stdin: plain).status == 0)
        let written = try fresh.run(["exportpolicy", "--format", "reg", reg])
        #expect(written.status == 0 && written.stdout.contains("on Windows: reg import"), "\(written.stderr)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: reg)))
        #expect(bytes.prefix(4) == [0xFF, 0xFE, 0x57, 0x00], "UTF-16LE with a BOM, as regedit writes it")
        let again = try CLI()
        defer { again.cleanup() }
        #expect(try again.run(["import", reg]).status == 0)
        let before = fresh.directory.appendingPathComponent("a.netsh").path,
            after = again.directory.appendingPathComponent("b.netsh").path
        #expect(try fresh.run(["exportpolicy", before]).status == 0 && again.run(["exportpolicy", after]).status == 0)
        #expect(try String(contentsOfFile: before, encoding: .utf8) == String(contentsOfFile: after, encoding: .utf8))
    }

    @Test func versionIsTheChangelogs() throws {
        let changelog = try String(
            contentsOf: CLI.repository.appendingPathComponent("debian/changelog"), encoding: .utf8)
        let top = try #require(changelog.split(separator: "\n").first)
        let version = try #require(
            top.split(separator: "(").dropFirst().first?.split(separator: ")").first?.split(separator: "-").first)
        let cli = try CLI()
        defer { cli.cleanup() }
        let printed = try cli.run(["--version"])
        #expect(
            printed.status == 0 && printed.stdout == "\(version)\n",
            "scripts/version.sh --write after changing debian/changelog: \(printed.stdout)")
        let daemon = try ChildProcess.run([
            URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().appendingPathComponent("rampartd").path,
            "--version"
        ])
        #expect(daemon.status == 0 && daemon.out == "\(version)\n")
    }

    @Test func exampleCompilesToARulesetTheKernelAccepts() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let exec = try cli.run(["exec", Self.example])
        #expect(exec.status == 0, "\(exec.stderr)")
        #expect(exec.stderr.contains("warning: no policy named 'Web Server' to delete"))
        let compiled = try cli.run(["compile", "--nft"])
        #expect(compiled.status == 0)
        #expect(compiled.stdout.contains("table inet rampart {"))
        let file = try cli.write("ruleset.nft", compiled.stdout)
        let check = try ChildProcess.run(
            ["/usr/bin/unshare"] + (getuid() == 0 ? ["--net"] : ["--map-root-user", "--net"]) + [
                "nft", "-c", "-f", file
            ])
        #expect(check.status == 0, "\(check.err)")
        let boot = try cli.run(["compile", "--boot"])
        #expect(boot.stdout.contains("policy drop;"))
        let json = try cli.run(["compile", "--json"])
        #expect(json.stdout.contains(#""name": "rampart""#))
    }

    @Test func aFailingScriptLeavesTheStoreByteForByte() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        try cli.run(["static", "add", "policy", "name=Keep", "description=original"])
        let before = try #require(cli.storeBytes())
        let script = try cli.write(
            "bad.netsh",
            """
            pushd ipsec static
            add policy name=New
            set policy name=Keep description=changed
            add rule name=R policy=New filterlist=Nope filteraction=Nope
            """)
        let r = try cli.run(["exec", script])
        #expect(r.status != 0)
        #expect(r.stderr.contains("\(script):4:39: error: no filter list named 'Nope' in the local store"))
        #expect(r.stderr.contains("nothing was changed"))
        #expect(cli.storeBytes() == before)
    }

    @Test func singleCommandsNetshPrefixesAndErrors() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        #expect(
            try cli.run([
                "netsh", "ipsec", "static", "add", "filter", "filterlist=Web", "srcaddr=any", "dstaddr=me",
                "protocol=tcp", "dstport=80", "mirrored=yes"
            ]).status == 0)
        #expect(try cli.run(["netsh.exe", "ipsec", "dynamic", "set", "config", "bootmode", "block"]).status == 0)
        #expect(try cli.run(["ipsec", "static", "add", "filteraction", "name=Allow Web", "action=permit"]).status == 0)
        let bad = try cli.run(["static", "add", "rule", "name=R", "policy=P", "filterlist=Web", "filter=x"])
        #expect(bad.status != 0)
        #expect(
            bad.stderr.contains(
                "<command line>:1:48: error: 'filter' is ambiguous: it could be filteraction, filterlist"))
        let offline = try cli.run(["dynamic", "add", "rule", "srcaddr=any", "dstaddr=me", "mmpolicy=m"])
        #expect(offline.status != 0 && offline.stderr.contains("the daemon is not running"))
        let show = try cli.run(["show", "all", "--json"])
        #expect(show.status == 0)
        for key in [
            #""policies""#, #""filterlists""#, #""filteractions""#, #""name": "Web""#, #""name": "Allow Web""#,
            #""action": "permit""#
        ] {
            #expect(show.stdout.contains(key), "\(key)")
        }
        #expect(try cli.run(["static", "add", "policy", "name=AtBoot", "--location", "persistent"]).status == 0)
        #expect(try cli.run(["show", "store", "--location", "persistent"]).stdout == "Current store: persistent\n")
        #expect(
            try cli.run(["show", "policy", "AtBoot", "--location", "persistent"]).stdout.contains(
                "in the persistent store"))
        #expect(try cli.run(["show", "policy", "AtBoot"]).status != 0)
        let config = try cli.run(["dynamic", "show", "config"])
        #expect(config.stdout.contains("bootmode          block"))
    }

    @Test func corruptStoreIsRefusedAndUntouched() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let garbage = Data("{\"format\":\"rampart-store\",\"version\":1,\"sequence\":3,\"stor".utf8)
        try garbage.write(to: URL(fileURLWithPath: cli.store))
        let r = try cli.run(["static", "add", "policy", "name=X"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("is corrupt and was left untouched"))
        #expect(cli.storeBytes() == garbage)
        let newer = Data(#"{"format":"rampart-store","version":9}"#.utf8)
        try newer.write(to: URL(fileURLWithPath: cli.store))
        let v = try cli.run(["show", "all"])
        #expect(v.status != 0 && v.stderr.contains("format version 9 is newer"))
    }

    @Test func dryRunWritesNothing() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let r = try cli.run(["exec", "--dry-run", Self.example])
        #expect(r.status == 0 && r.stdout.contains("dry run: the store would change"))
        #expect(cli.storeBytes() == nil)
    }

    @Test func batchImportListsSkippedLinesAndApplies() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let bat = try cli.write(
            "lockdown.bat",
            "@echo off\r\nREM lock it down\r\nset P=Locked\r\nnetsh ipsec static add policy name=%P% ^\r\n  description=\"%DESC%\" assign=no > nul\r\npause\r\n"
        )
        let missing = try cli.run(["import", bat])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("\(bat):5:16: error: variable %DESC% is not set"))
        #expect(cli.storeBytes() == nil)
        let ok = try cli.run(["import", "--define", "DESC=from the command line", bat])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("\(bat):1:2: skipped (echo): echo off"))
        #expect(ok.stdout.contains("\(bat):6:1: skipped (pause): pause"))
        #expect(ok.stdout.contains("1 netsh command applied, 4 other lines followed or skipped"))
        let show = try cli.run(["show", "policy", "Locked"])
        #expect(show.stdout.contains("Description: from the command line"))
    }

    @Test func showActiveListsTheEffectiveOrder() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        try cli.run(["exec", Self.example])
        let r = try cli.run(["show", "active"])
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("RANK") == true)
        #expect(lines.dropLast().last?.contains("A,A #45  block   block   F16") == true)
        // Reply halves that admit anyone from a port to every local port are marked, with the way out
        // (issue 29, item 16); the web ones are stateful in the example.
        #expect(r.stdout.contains("any -> me TCP 80->0 (replies only)"))
        #expect(
            lines.last
                == "! F13m, F14m: reply halves that admit any source on their port to every local port; mirrored=stateful admits only replies to connections this host opened"
        )
        let json = try cli.run(["show", "active", "--json"])
        #expect(json.stdout.contains(#""fossenRank": 45"#))
    }

    @Test func exportImportAndDumpRoundTrip() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        try cli.run(["exec", Self.example])
        #expect(try cli.run(["static", "exportpolicy", "file=web.ipsec"]).status == 0)
        let exported = try String(
            contentsOfFile: cli.directory.appendingPathComponent("web.ipsec").path, encoding: .utf8)
        #expect(exported.contains("add policy name=\"Web Server\""))
        let dump = try cli.run(["dump"]).stdout
        let other = try CLI()
        defer { other.cleanup() }
        let restored = try other.run(["exec", "-"], stdin: dump)
        #expect(restored.status == 0, "\(restored.stderr)")
        // Filter ids are creation numbers, renumbered by a restore; everything else must be identical.
        func normalized(_ text: String) -> String { text.replacing(/F\d+/, with: "F#") }
        #expect(normalized(try other.run(["compile"]).stdout) == normalized(try cli.run(["compile"]).stdout))
    }

    /// Loading a version 1 store never rewrites it; `upgrade-store` does, once, keeping the policy.
    @Test func upgradeStoreRewritesAVersion1StoreOnce() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let v1 =
            #"{"format": "rampart-store", "version": 1, "sequence": 2, "config": {"bootExemptions": [], "bootMode": "stateful", "ikeLogging": 0, "ipsecDiagnostics": 0, "ipsecExempt": 3, "ipsecLogInterval": 3600, "strongCRLCheck": 0}, "stores": {"persistent": {"filterActions": [], "filterLists": [], "policies": []}, "local": {"filterActions": [], "policies": [], "filterLists": [{"name": "L", "description": "", "guid": "{g}", "seq": 1, "filters": [{"seq": 2, "source": {"kind": "subnet", "address": "192.0.2.0", "prefix": 24}, "destination": {"kind": "me"}, "proto": 6, "sourcePort": 0, "destinationPort": 22, "mirrored": true, "description": "ssh"}]}]}}}"#
        try v1.write(toFile: cli.store, atomically: true, encoding: .utf8)
        let before = try cli.run(["dump"]).stdout
        #expect(try String(contentsOfFile: cli.store, encoding: .utf8) == v1, "reading left the file as it was")
        let upgraded = try cli.run(["upgrade-store"])
        #expect(
            upgraded.status == 0 && upgraded.stdout.contains("format version 1 → 2 (1 filters)"),
            "\(upgraded.stdout)\(upgraded.stderr)")
        let text = try String(contentsOfFile: cli.store, encoding: .utf8)
        #expect(
            text.contains(#""version" : 2"#) && text.contains(#""2 192.0.2.0/24 me 6 0 22 mirrored ssh""#), "\(text)")
        #expect(try cli.run(["dump"]).stdout == before, "the same policy")
        #expect(try cli.run(["upgrade-store"]).stdout.contains("is format version 2 already"))
    }

    static let golden = CLI.repository.appendingPathComponent("Tests/RampartCLITests/Golden")

    /// `rampart logs` in its four formats, from a `journalctl -o json` export holding records,
    /// totals and an unrelated entry, and from the W3C file rampartd writes, against the same
    /// checked-in expected output: whichever the source, every field (origin, interface, names
    /// with blanks and quotes) comes out the same. Then selected by filter, address and time.
    @Test func logsInEveryFormatMatchTheGoldens() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let export = Self.golden.appendingPathComponent("drops.journal.json").path
        let w3c = cli.directory.appendingPathComponent("drops.log").path
        // As rampartd writes it: its own directives, then the lines.
        let lines = try String(contentsOfFile: Self.golden.appendingPathComponent("logs.w3c").path, encoding: .utf8)
            .split(separator: "\n").filter {
                !$0.hasPrefix("#Version") && !$0.hasPrefix("#Software") && !$0.hasPrefix("#Time")
                    && !$0.hasPrefix("#Fields")
            }
        try (W3CLog.header(software: "rampartd") + lines.joined(separator: "\n") + "\n").write(
            toFile: w3c, atomically: true, encoding: .utf8)
        for format in ["text", "json", "csv", "w3c"] {
            let expected = try String(
                contentsOfFile: Self.golden.appendingPathComponent("logs.\(format)").path, encoding: .utf8)
            for source in [export, w3c] {
                let r = try cli.run(["logs", "--file", source, "--format", format])
                #expect(r.status == 0 && r.stdout == expected, "\(format) from \(source): \(r.stdout)\(r.stderr)")
            }
        }
        // A file from before the trailing fields (13 of them, blanks as `_`) still reads.
        let old = cli.directory.appendingPathComponent("old.log").path
        try """
        #Version: 1.0
        #Software: rampartd
        #Time Format: UTC
        #Fields: date time action protocol src-ip dst-ip src-port dst-port count filter rule policy direction
        2026-12-02 08:01:00 DROP TCP 203.0.113.7 192.0.2.10 - 23 37 F16 Block_all Web_Server in

        """.write(toFile: old, atomically: true, encoding: .utf8)
        let back = try cli.run(["logs", "--file", old, "--format", "csv"]).stdout.split(separator: "\n")
        #expect(
            back.count == 2
                && back[1]
                    == "record,2026-12-02T08:01:00Z,2026-12-02T08:01:00Z,in,F16,Block_all,Web_Server,,,tcp,203.0.113.7,192.0.2.10,23,,,37",
            "its one time is the first packet's: \(back)")
        let totals = try cli.run(["logs", "--file", w3c, "--format", "json"]).stdout.split(separator: "\n").filter {
            $0.contains(#""type":"total""#)
        }
        #expect(
            totals.count == 2 && totals[1].contains(#""lost":7"#),
            "totals come back from the #Remark directives: \(totals)")

        func counts(_ extra: [String]) throws -> [String] {
            try cli.run(["logs", "--file", export, "--format", "json"] + extra).stdout.split(separator: "\n").map {
                line in
                line.firstMatch(of: /"count":(\d+)/).map { String($0.1) }
                    ?? (line.firstMatch(of: /"logged":(\d+)/).map { "total \($0.1)" } ?? "?")
            }
        }
        #expect(try counts(["--filter", "F3"]) == ["2"], "a filter's records, no totals")
        #expect(try counts(["--filter", "invalid"]) == ["1"])
        #expect(try counts(["--address", "2001:db8::/32"]) == ["3"])
        #expect(try counts(["--address", "192.0.2.10"]) == ["37", "5", "1", "2"], "source or destination")
        #expect(
            try counts(["--since", "2026-12-02 08:01:30", "--until", "2026-12-02T08:19:01Z"]) == [
                "37", "1", "total 46", "2", "total 2"
            ],
            "records whose packets overlap the window")
        #expect(try counts(["--since", "2026-12-02T08:19:06Z"]) == ["total 2"])
        let bad = try cli.run(["logs", "--file", export, "--since", "soon"])
        #expect(bad.status != 0 && bad.stderr.contains("--since: not a time: 'soon'"))
        // journalctl's forms, as separate words too.
        #expect(try counts(["--since", "-1h"]) == [], "the export is from 2026-12-02: nothing in the last hour")
        #expect(try counts(["--since", "@1796199546"]) == ["total 2"], "@EPOCH")
        #expect(try counts(["--since", "2026-12-02T09:19:06+01:00"]) == ["total 2"], "an offset")
        let missing = try cli.run(["logs", "--file", cli.directory.appendingPathComponent("none.log").path])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read"), "\(missing.stderr)")
    }

    /// `--follow` on a W3C file: what rampartd appends is printed as it comes, and after a rotation
    /// (PATH renamed to PATH.1, a new PATH with its directives) the new file's records too.
    @Test func logsFollowAFileAcrossARotation() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let header = W3CLog.header(software: "rampartd")
        func line(_ port: Int) -> String {
            "2026-12-02 08:01:00 DROP UDP 203.0.113.7 192.0.2.10 - \(port) 1 F3 b P in 2026-12-02 08:01:00 - eth0 B local/P/b/B/#1\n"
        }
        let path = try cli.write("drops.log", header + line(1))
        let out = Pipe()
        let p = try ChildProcess(
            [CLI.binary, "logs", "--follow", "--file", path, "--format", "csv"], stdout: .pipe(out))
        // SIGKILL: the child may inherit a mask with SIGTERM blocked from the test runner's thread.
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        final class Collected: @unchecked Sendable {
            let lock = NSLock()
            var text = ""
        }
        let collected = Collected()
        out.fileHandleForReading.readabilityHandler = { h in
            let chunk = String(decoding: h.availableData, as: UTF8.self)
            collected.lock.withLock { collected.text += chunk }
        }
        func ports() -> [String] {
            collected.lock.withLock { collected.text }.split(separator: "\n").dropFirst().map {
                String($0.split(separator: ",", omittingEmptySubsequences: false)[12])
            }
        }
        func eventually(_ condition: () -> Bool) -> Bool { pollUntil(seconds: 10, condition) }
        #expect(eventually { ports() == ["1"] }, "\(ports())")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        handle.write(Data((line(2) + line(3)).utf8))
        try handle.close()
        #expect(eventually { ports() == ["1", "2", "3"] }, "appended lines: \(ports())")
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try (header + line(4)).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(eventually { ports() == ["1", "2", "3", "4"] }, "after the rotation: \(ports())")
    }
}
