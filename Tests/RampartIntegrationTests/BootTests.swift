import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// rampartd under a real systemd: systemd-nspawn --boot of a Debian rootfs with the package
/// installed (Tests/boot/boot-test.sh collects the evidence; package-boot-test.sh upgrades it).
@Suite(.serialized) struct BootTests {
    struct Evidence {
        var files: [String: String]

        func value(_ name: String) -> String { (files[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

        /// rampartd became active (ready: Type=notify) before network-pre.target, which is ordered after it.
        /// rampartd is ordered after nftables.service, whose start flushes the ruleset.
        var orderedAfterNftables: Bool { value("rampartd.after").split(separator: " ").contains("nftables.service") }

        var orderedBeforeNetwork: Bool {
            guard let a = UInt64(value("rampartd.ts")), let b = UInt64(value("netpre.ts")), a > 0, b > 0 else {
                return false
            }
            return a <= b && value("netpre.after").split(separator: " ").contains("rampartd.service")
        }
    }

    func boot(unit: String) throws -> Evidence {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-boot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let script = Fixtures.repositoryRoot.appendingPathComponent("Tests/boot/boot-test.sh").path
        // The package, installed in the rootfs; a sanitizer build boots its own binaries in it.
        let bin = URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().path
        try sh(
            ["env", "RAMPART_DEB=\(try Self.package())"] + (underSanitizer ? ["RAMPART_BIN=\(bin)"] : []) + [
                "bash", script, unit, out.path
            ])
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: out.path) {
            files[name] = try? String(contentsOfFile: out.appendingPathComponent(name).path, encoding: .utf8)
        }
        return Evidence(files: files)
    }

    static let unit = Fixtures.repositoryRoot.appendingPathComponent("systemd/rampartd.service").path

    @Test func theUnitBootsBeforeTheNetworkEnforcesThePolicyAndReloads() throws {
        let e = try boot(unit: Self.unit)
        #expect(e.value("dpkg.txt").contains("Setting up rampart"), "the package installed: \(e.value("dpkg.txt"))")
        #expect(e.value("active") == "active", "\(e.value("journal.txt"))")
        #expect(
            e.orderedBeforeNetwork,
            "rampartd \(e.value("rampartd.ts")), network-pre.target \(e.value("netpre.ts")) after [\(e.value("netpre.after"))]"
        )
        #expect(
            e.value("ruleset.txt").contains("table inet rampart") && e.value("ruleset.txt").contains("comment \"F16\""),
            "the policy is in place")
        #expect(!e.value("ruleset.txt").listsPort(8081))
        #expect(
            e.value("ruleset-after-reload.txt").listsPort(8081),
            "systemctl reload applied the changed store: \(e.value("offline.txt"))")
        #expect(
            !e.value("pid.before").isEmpty && e.value("pid.before") == e.value("pid.after"),
            "reloaded without a restart")
        #expect(e.value("verify.rc") == "0", "systemd-analyze verify: \(e.value("verify.txt"))")
        #expect(e.value("journal.txt").contains("boot mode block enforced"))
        // nftables.service (enabled) flushed the ruleset before rampartd started, not after: its table
        // and ours are both there, and rampartd never had to restore its own.
        #expect(e.orderedAfterNftables, "After= [\(e.value("rampartd.after"))]")
        let nftablesDone = UInt64(e.value("nftables.ts")) ?? 0, rampartdStarted = UInt64(e.value("rampartd.start")) ?? 0
        #expect(
            nftablesDone > 0 && nftablesDone <= rampartdStarted,
            "nftables.service active at \(nftablesDone), rampartd started at \(rampartdStarted)")
        #expect(e.value("ruleset.txt").contains("table inet filter"), "nftables.conf was loaded")
        #expect(e.value("status.json").contains(#""restores": 0,"#), "\(e.value("status.json"))")
        // The journal path: one record with its fields, and the interval's total, read back by rampart logs.
        let journal = e.value("drops.json").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let record = journal.first { $0["MESSAGE_ID"] as? String == "5fc87e72c7924a2c9bb114fbaef7a8bf" }
        #expect(
            record?["RAMPART_FILTER"] as? String == "F16" && record?["RAMPART_DIRECTION"] as? String == "out",
            "\(e.value("drops.json"))")
        #expect(
            record?["RAMPART_PROTO"] as? String == "udp" && record?["RAMPART_SRC"] as? String == "192.0.2.1"
                && record?["RAMPART_DST"] as? String == "192.0.2.2")
        #expect(
            record?["RAMPART_DPORT"] as? String == "9" && record?["RAMPART_COUNT"] as? String == "5"
                && record?["RAMPART_INTERFACE"] as? String == "rp0")
        #expect(
            record?["RAMPART_POLICY"] as? String == "Web Server" && record?["RAMPART_RULE"] as? String == "Block all"
                && record?["PRIORITY"] as? String == "5")
        #expect(
            (record?["MESSAGE"] as? String)?.hasPrefix(
                "drop out F16 [local/Web Server/Block all/All Traffic/#1]: udp 192.0.2.1 -> 192.0.2.2 port 9 on rp0, 5 packet(s)"
            ) == true)
        let total = journal.first { $0["MESSAGE_ID"] as? String == "b0652373b651450e94d4462294043fbd" }
        #expect(
            total?["RAMPART_LOGGED"] as? String == "5" && total?["RAMPART_LOST"] as? String == "0",
            "\(e.value("drops.json"))")
        #expect(
            e.value("logs.json").contains(#""count":5,"destination":"192.0.2.2","direction":"out","filter":"F16""#),
            "rampart logs reads the journal: \(e.value("logs.json"))")
        // The documented paths are writable under the unit (issue 29, item 12): the W3C log in
        // LogsDirectory=rampart, the textfile through the drop-in.
        #expect(
            e.value("drops.log").contains("DROP UDP 192.0.2.1 192.0.2.2 - 9 5 F16"),
            "\(e.value("drops.log")) \(e.value("journal.txt"))")
        #expect(e.value("drops.log.stat") == "rampart 600", "\(e.value("drops.log.stat"))")
        #expect(e.value("rampart.prom").contains("# TYPE rampart_healthy gauge"), "\(e.value("rampart.prom"))")
        #expect(
            e.value("rampart.prom.stat") == "rampart 644", "node_exporter reads it: \(e.value("rampart.prom.stat"))")
        // Not root (issue 29, item 21): user rampart with CAP_NET_ADMIN alone, rated 2.0 or better
        // by systemd on the running unit; the store root wrote before boot and at the reload is rampart's.
        #expect(e.value("user") == "rampart", "\(e.value("user"))")
        let caps = e.value("caps")
        #expect(
            ["CapEff", "CapPrm", "CapBnd", "CapAmb"].allSatisfy { caps.contains("\($0):\t0000000000001000") }, "\(caps)"
        )
        #expect((Self.exposure(e.value("security.txt")) ?? 10) <= 2.0, "\(e.value("security.txt"))")
        // Written by root before the first boot (0640), given to rampart by systemd; the directory
        // only rampart enters, so the control group never reads the keys in it.
        #expect(e.value("store.stat").hasPrefix("rampart "), "\(e.value("store.stat"))")
        #expect(e.value("statedir.stat") == "rampart 700", "\(e.value("statedir.stat"))")
    }

    /// "→ Overall exposure level for rampartd.service: 1.6 OK".
    static func exposure(_ text: String) -> Double? {
        guard let line = text.split(separator: "\n").last(where: { $0.contains("Overall exposure level") }),
            let label = line.range(of: "rampartd.service:")
        else { return nil }
        return line[label.upperBound...].split(separator: " ").first.flatMap { Double($0) }
    }

    @Test func theUnitIsRatedTwoOrBetterOffline() throws {
        let result = try sh(["systemd-analyze", "security", "--offline=true", Self.unit], allowFailure: true)
        let score = try #require(Self.exposure(result.out), "\(result.out) \(result.err)")
        print("systemd-analyze security --offline=true systemd/rampartd.service: \(score)")
        #expect(score <= 2.0, "\(result.out)")
    }

    /// The package built by `make deb` (scripts/package-test.sh builds it first in the test command).
    static func package() throws -> String {
        let changelog = try String(
            contentsOf: Fixtures.repositoryRoot.appendingPathComponent("debian/changelog"), encoding: .utf8)
        let version = try #require(
            changelog.split(separator: "\n").first?.split(separator: "(").dropFirst().first?.split(separator: ")").first
        )
        let deb = Fixtures.repositoryRoot.appendingPathComponent("dist/rampart_\(version)_amd64.deb").path
        if !FileManager.default.fileExists(atPath: deb) {
            try sh(["make", "-C", Fixtures.repositoryRoot.path, "deb"], timeout: 1800)
        }
        return deb
    }

    static func counter(_ json: String, _ comment: String) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let items = object["nftables"] as? [[String: Any]]
        else { return nil }
        for item in items {
            guard let rule = item["rule"] as? [String: Any], rule["comment"] as? String == comment,
                let expr = rule["expr"] as? [[String: Any]]
            else { continue }
            return expr.compactMap { ($0["counter"] as? [String: Any])?["packets"] as? Int }.first
        }
        return nil
    }

    /// The package the way users get it: `dpkg -i` under systemd creates the group and starts
    /// rampartd; an upgrade restarts it while a prober sends to a port the policy blocks, and not one
    /// datagram gets through; `dpkg -r` stops it, leaves its ruleset in force and says so; `dpkg -P`
    /// removes the store and the configuration. (Not under a sanitizer: the package holds release
    /// binaries, which the sanitized run does not test.)
    @Test(.enabled(if: !underSanitizer)) func thePackageInstallsUpgradesWithoutAWindowAndRemoves() throws {
        let deb = try Self.package()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-package-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try sh(
            [
                "bash", Fixtures.repositoryRoot.appendingPathComponent("Tests/boot/package-boot-test.sh").path, deb,
                out.path
            ], timeout: 300)
        let e = Evidence(
            files: Dictionary(
                uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: out.path).map {
                    ($0, (try? String(contentsOfFile: out.appendingPathComponent($0).path, encoding: .utf8)) ?? "")
                }))
        let version = e.value("version.old")
        #expect(
            e.value("install.rc") == "0" && e.value("active.installed") == "active",
            "\(e.value("install.txt")) \(e.value("marker.log"))")
        #expect(e.value("group").hasPrefix("rampart:"), "the group exists: \(e.value("group"))")
        #expect(e.value("rampart.version") == version.split(separator: "-").first.map(String.init))
        #expect(e.value("exec.rc") == "0", "\(e.value("exec.txt"))")
        #expect(
            e.value("upgrade.rc") == "0" && e.value("version.upgraded") == "\(version)+upgradetest",
            "\(e.value("upgrade.txt"))")
        #expect(
            !e.value("pid.old").isEmpty && e.value("pid.old") != e.value("pid.new")
                && e.value("active.upgraded") == "active",
            "restarted by the upgrade: \(e.value("pid.old")) → \(e.value("pid.new"))")
        let sent = Int(e.value("sent")) ?? 0
        let arrived = Self.counter(e.value("probe.json"), "arrived"),
            passed = Self.counter(e.value("probe.json"), "passed")
        print(
            "package upgrade: \(sent) datagrams sent to the blocked port, \(arrived ?? -1) arrived, \(passed ?? -1) passed rampart"
        )
        #expect(
            sent > 0 && (arrived ?? 0) > 0,
            "the prober's datagrams arrived throughout: \(sent) sent, \(String(describing: arrived)) arrived")
        #expect(passed == 0, "not one datagram to the blocked port got through during the upgrade")
        #expect(
            e.value("journal.txt").contains("table inet rampart is in force from before (a restart)"),
            "\(e.value("journal.txt"))")
        #expect(
            e.value("remove.rc") == "0" && e.value("active.removed") != "active" && e.value("binary.removed").isEmpty,
            "\(e.value("remove.txt"))")
        #expect(
            e.value("ruleset.removed").contains("table inet rampart"),
            "the ruleset stays after remove: \(e.value("ruleset.removed"))")
        #expect(
            e.value("remove.txt").contains("nft delete table inet rampart"),
            "remove says what to do: \(e.value("remove.txt"))")
        #expect(e.value("conf.removed") == "kept", "the conffile stays after remove")
        #expect(
            e.value("purge.rc") == "0" && e.value("purged.ls").components(separatedBy: "No such file").count == 3,
            "\(e.value("purged.ls"))")
    }

    /// The same test fails when the unit lacks its ordering lines: it can fail.
    @Test func withoutTheOrderingLinesTheTestFails() throws {
        let stripped = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rampartd-unordered-\(UUID().uuidString).service")
        defer { try? FileManager.default.removeItem(at: stripped) }
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter {
                !$0.hasPrefix("Wants=network-pre.target") && !$0.hasPrefix("Before=")
                    && !$0.hasPrefix("After=nftables.service")
            }
            .joined(separator: "\n")
        try text.write(to: stripped, atomically: true, encoding: .utf8)
        let e = try boot(unit: stripped.path)
        #expect(e.value("active") == "active", "the daemon itself still starts")
        #expect(
            !e.orderedAfterNftables,
            "no ordering after nftables.service without its line: [\(e.value("rampartd.after"))]")
        #expect(
            !e.orderedBeforeNetwork,
            "ordering evidence without the ordering lines: rampartd \(e.value("rampartd.ts")), network-pre.target \(e.value("netpre.ts")) after [\(e.value("netpre.after"))]"
        )
    }

    @Test func systemdAnalyzeVerifiesTheUnitOnTheHost() throws {
        // Against a root holding the binaries the unit names.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-verify-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for dir in ["usr/sbin", "etc/systemd/system", "usr/bin"] {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(
            atPath: DaemonHarness.binary, toPath: root.appendingPathComponent("usr/sbin/rampartd").path)
        try FileManager.default.copyItem(
            atPath: "/usr/bin/kill", toPath: root.appendingPathComponent("usr/bin/kill").path)
        try FileManager.default.copyItem(
            atPath: Self.unit, toPath: root.appendingPathComponent("etc/systemd/system/rampartd.service").path)
        let result = try sh(
            ["systemd-analyze", "verify", "--root=\(root.path)", "rampartd.service"], allowFailure: true)
        #expect(result.status == 0, "\(result.err)")
    }
}
