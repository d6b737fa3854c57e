import ArgumentParser
import FoundationEssentials
import RampartControl
import RampartMigration
import RampartPolicy
import RampartSystem

/// Windows' own policy stores that `rampart import` reads besides batch files (docs/migration.md).
enum WindowsStore {
    case registry, ldif

    /// By the first line that is not blank or a comment: regedit's header, or LDIF's `dn:`/`version:`.
    static func kind(_ text: String) -> WindowsStore? {
        for line in text.split(whereSeparator: \.isNewline) {
            let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\u{FEFF}" }
            let t = String(line.drop(while: blank).reversed().drop(while: blank).reversed())
            if t.isEmpty || t.hasPrefix("#") || t.hasPrefix(";") { continue }
            if t == "Windows Registry Editor Version 5.00" || t == "REGEDIT4" { return .registry }
            let lower = t.lowercased()
            return lower.hasPrefix("dn:") || lower.hasPrefix("version:") ? .ldif : nil
        }
        return nil
    }

    /// A `.ipsec` file (netsh's `exportpolicy`, the snap-in's "Export Policies") has no published
    /// format: the way to a file rampart reads goes through any Windows machine.
    /// A registry or LDIF export as the netsh script of its objects (for `import` and
    /// `domain push`), its warnings and notes printed.
    static func netshScript(_ kind: WindowsStore, text: String, file: String) throws -> String {
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
        return conversion.script(source: file)
    }

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
        try run(try WindowsStore.netshScript(kind, text: text, file: file))
    }

    /// A batch file with `reg add`/`reg delete` lines for the policy store: the objects they
    /// leave become netsh commands, followed by the file's own netsh commands, run as one script.
    func importRegistryBatch(
        _ batch: BatchImporter.Result, text: String, defines: [String: String], scriptPath: String?
    ) throws {
        let conversion = try parsed { () throws(Diagnostic) in
            let lines = batch.registry.map { RegCommands.Line(location: $0.location, arguments: $0.arguments) }
            let objects = try WindowsPolicyObjects.from(RegCommands.export(lines))
            var c = try WindowsPolicyConversion.convert(objects)
            if let late = batch.registry.first(where: { $0.afterCommands > 0 }) {
                c.diagnostics.append(
                    .warning(
                        "the objects of the reg lines are made before the file's netsh commands run, whatever their order; this reg line comes after a netsh command",
                        at: late.location))
            }
            return c
        }
        for d in conversion.diagnostics { printError(d) }
        let commands = try parsed { () throws(Diagnostic) in
            try ScriptPlan.extract(text, file: file, defines: defines, scriptPath: scriptPath)
        }
        if !netsh { for s in batch.skipped { print(s.listing) } }
        try run(conversion.script(source: file) + commands)
    }

    /// The converted script: printed with --netsh, else run as `exec` runs one.
    private func run(_ script: String) throws {
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

/// `rampart exportpolicy`: a store location's objects to a file, as rampart's netsh export or
/// as a `.reg` Windows imports (docs/migration.md).
struct ExportPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exportpolicy",
        abstract:
            "Write a store's policies to a file: a netsh script, or a .reg that Windows imports with 'reg import'.",
        discussion: """
            --format reg writes Windows' local policy store \
            (HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local) as regedit does (UTF-16 with \
            a BOM); what Windows cannot hold (rampart's extensions, AES, SHA-256, host names) is refused. \
            Examples:
              rampart exportpolicy --format reg --location persistent boot.reg
              rampart exportpolicy --format netsh web.netsh
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case netsh, reg
    }

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "netsh (rampart's export, read by importpolicy) or reg (for Windows).")
    var format: Format = .netsh

    @Argument(help: "The file to write.")
    var file: String

    func run() throws {
        let store = try loadStore(global.storeFile)[global.location]
        let data: Data
        switch format {
        case .netsh:
            data = Data(ScriptWriter.export(store, location: global.location).utf8)
        case .reg:
            let objects = try parsed { () throws(Diagnostic) in
                try WindowsPolicyExport.objects(store, now: UInt32(Date().timeIntervalSince1970))
            }
            // regedit's own form: UTF-16LE with a byte-order mark.
            var bytes: [UInt8] = [0xFF, 0xFE]
            for u in objects.registryExport().utf16 { bytes += [UInt8(u & 0xff), UInt8(u >> 8)] }
            data = Data(bytes)
        }
        try writeAtomically(data, to: file)
        print(
            "wrote the \(global.location.rawValue) store's \(store.policies.count) policies to \(file)"
                + (format == .reg ? "; on Windows: reg import \(file)" : ""))
    }
}
