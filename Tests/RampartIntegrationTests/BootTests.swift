import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// rampartd under a real systemd: systemd-nspawn --boot of a Debian rootfs with the real binary
/// and the real unit (Tests/boot/boot-test.sh collects the evidence).
@Suite(.serialized) struct BootTests {
    struct Evidence {
        var files: [String: String]

        func value(_ name: String) -> String { (files[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

        /// rampartd became active (ready: Type=notify) before network-pre.target, which is ordered after it.
        var orderedBeforeNetwork: Bool {
            guard let a = UInt64(value("rampartd.ts")), let b = UInt64(value("netpre.ts")), a > 0, b > 0 else { return false }
            return a <= b && value("netpre.after").split(separator: " ").contains("rampartd.service")
        }
    }

    func boot(unit: String) throws -> Evidence {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-boot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let script = Fixtures.repositoryRoot.appendingPathComponent("Tests/boot/boot-test.sh").path
        try sh(["bash", script, unit, out.path])
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: out.path) {
            files[name] = try? String(contentsOfFile: out.appendingPathComponent(name).path, encoding: .utf8)
        }
        return Evidence(files: files)
    }

    static let unit = Fixtures.repositoryRoot.appendingPathComponent("systemd/rampartd.service").path

    @Test func theUnitBootsBeforeTheNetworkEnforcesThePolicyAndReloads() throws {
        let e = try boot(unit: Self.unit)
        #expect(e.value("active") == "active", "\(e.value("journal.txt"))")
        #expect(e.orderedBeforeNetwork, "rampartd \(e.value("rampartd.ts")), network-pre.target \(e.value("netpre.ts")) after [\(e.value("netpre.after"))]")
        #expect(e.value("ruleset.txt").contains("table inet rampart") && e.value("ruleset.txt").contains("comment \"F16\""), "the policy is in place")
        #expect(!e.value("ruleset.txt").listsPort(8081))
        #expect(e.value("ruleset-after-reload.txt").listsPort(8081), "systemctl reload applied the changed store: \(e.value("offline.txt"))")
        #expect(!e.value("pid.before").isEmpty && e.value("pid.before") == e.value("pid.after"), "reloaded without a restart")
        #expect(e.value("verify.rc") == "0", "systemd-analyze verify: \(e.value("verify.txt"))")
        #expect(e.value("journal.txt").contains("boot mode block enforced"))
    }

    /// The same test fails when the unit lacks its ordering lines: it can fail.
    @Test func withoutTheOrderingLinesTheTestFails() throws {
        let stripped = FileManager.default.temporaryDirectory.appendingPathComponent("rampartd-unordered-\(UUID().uuidString).service")
        defer { try? FileManager.default.removeItem(at: stripped) }
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("Wants=network-pre.target") && !$0.hasPrefix("Before=") }
            .joined(separator: "\n")
        try text.write(to: stripped, atomically: true, encoding: .utf8)
        let e = try boot(unit: stripped.path)
        #expect(e.value("active") == "active", "the daemon itself still starts")
        #expect(!e.orderedBeforeNetwork, "ordering evidence without the ordering lines: rampartd \(e.value("rampartd.ts")), network-pre.target \(e.value("netpre.ts")) after [\(e.value("netpre.after"))]")
    }

    @Test func systemdAnalyzeVerifiesTheUnitOnTheHost() throws {
        // Against a root holding the binaries the unit names.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-verify-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for dir in ["usr/sbin", "etc/systemd/system", "usr/bin"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: DaemonHarness.binary, toPath: root.appendingPathComponent("usr/sbin/rampartd").path)
        try FileManager.default.copyItem(atPath: "/usr/bin/kill", toPath: root.appendingPathComponent("usr/bin/kill").path)
        try FileManager.default.copyItem(atPath: Self.unit, toPath: root.appendingPathComponent("etc/systemd/system/rampartd.service").path)
        let result = try sh(["systemd-analyze", "verify", "--root=\(root.path)", "rampartd.service"], allowFailure: true)
        #expect(result.status == 0, "\(result.err)")
    }
}
