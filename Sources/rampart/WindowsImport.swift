import ArgumentParser
import Foundation
import RampartControl
import RampartMigration
import RampartPolicy

/// Windows' own policy stores that `rampart import` reads besides batch files (docs/migration.md).
enum WindowsStore {
    case registry, ldif

    /// By the first line that is not blank or a comment: regedit's header, or LDIF's `dn:`/`version:`.
    static func kind(_ text: String) -> WindowsStore? {
        for line in text.split(whereSeparator: \.isNewline) {
            let t = line.trimmingCharacters(in: CharacterSet.whitespaces.union(["\u{FEFF}"]))
            if t.isEmpty || t.hasPrefix("#") || t.hasPrefix(";") { continue }
            if t == "Windows Registry Editor Version 5.00" || t == "REGEDIT4" { return .registry }
            let lower = t.lowercased()
            return lower.hasPrefix("dn:") || lower.hasPrefix("version:") ? .ldif : nil
        }
        return nil
    }

    /// A `.ipsec` file (netsh's `exportpolicy`, the snap-in's "Export Policies") has no published
    /// format: the way to a file rampart reads goes through any Windows machine.
    static func ipsecFileRefusal(_ path: String) -> String {
        "\(path) is a policy file written by 'netsh ipsec static exportpolicy' or the IP Security Policies snap-in, whose format is not published; "
            + "on any Windows machine, import it ('netsh ipsec static importpolicy file=\(path)'), export the local store "
            + "('reg export HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local policy.reg'), and give that file to 'rampart import'"
    }
}

extension Import {
    /// A registry or LDIF export: its objects become a netsh script, which runs as `exec` runs
    /// one (through rampartd when it runs), or is printed with --netsh.
    func importWindowsStore(_ kind: WindowsStore, text: String) throws {
        let conversion = try parsed { () throws(Diagnostic) in
            let objects =
                kind == .registry
                ? try WindowsPolicyObjects.from(RegistryExport.parse(text, file: file))
                : WindowsPolicyObjects.from(try LDIF.parse(text, file: file))
            var c = try WindowsPolicyConversion.convert(objects)
            if objects.ignored > 0 {
                c.diagnostics.append(
                    Diagnostic(
                        .note,
                        "\(objects.ignored) \(kind == .registry ? "key(s)" : "record(s)") that are not IPsec policy objects of the store were ignored",
                        at: nil))
            }
            return c
        }
        for d in conversion.diagnostics { printError(d) }
        let script = conversion.script(source: file)
        if netsh {
            print(script, terminator: "")
            return
        }
        let name = "\(file) (as netsh)"
        let plan = try parsed { () throws(Diagnostic) in try ScriptPlan.exec(script, file: name) }
        let request = ControlRequest(
            op: .exec, name: name, script: script, dryRun: dryRun, location: global.location.rawValue)
        if try viaDaemon(request, global: global, changes: !dryRun) { return }
        try transaction(plan, global: global, dryRun: dryRun)
    }
}
