import ArgumentParser
import Foundation
import RampartCompiler
import RampartPolicy

func printError(_ message: Any) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

func readInput(_ path: String) throws -> String {
    do {
        if path == "-" {
            return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw ValidationError("\(path): not a text file")
        }
        return text
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("rampart: error: cannot read \(path): \(error.localizedDescription)")
        throw ExitCode.failure
    }
}

func loadStore(_ file: StoreFile) throws -> Store {
    do {
        return try file.load()
    } catch {
        printError("rampart: error: \(error)")
        throw ExitCode.failure
    }
}

/// One netsh command from the command line, as a one-line script.
func runSingle(context: String, words: [String], global: GlobalOptions) throws {
    let line = ScriptRunner.commandLine(arguments: [context] + words)
    let readOnly = words.first.map { ["show", "sh", "dump"].contains($0.lowercased()) } ?? true
    try transaction(global: global, dryRun: false, readOnly: readOnly) { interpreter throws(Diagnostic) in
        try ScriptRunner.run([line], in: &interpreter, context: .ipsec)
    }
}

/// Runs `body` against a copy of the store under the store lock; writes the store and any
/// exported files only if every command succeeded. Prints diagnostics and outputs.
func transaction(global: GlobalOptions, dryRun: Bool, readOnly: Bool = false,
                 _ body: (inout Interpreter) throws(Diagnostic) -> Void) throws {
    let file = global.storeFile
    try withoutActuallyEscaping(body) { body in
    let work = {
        let original = try loadStore(file)
        var interpreter = Interpreter(
            store: original,
            workingDirectory: FileManager.default.currentDirectoryPath,
            readFile: { path in try String(contentsOfFile: path, encoding: .utf8) })
        interpreter.location = global.location
        do {
            try body(&interpreter)
        } catch {
            for d in interpreter.diagnostics { printError(d) }
            printError(error)
            printError("rampart: nothing was changed")
            throw ExitCode.failure
        }
        for d in interpreter.diagnostics { printError(d) }
        render(interpreter.outputs, json: global.json)
        if dryRun {
            let changed = interpreter.store != original
            print("dry run: \(changed ? "the store would change" : "the store would not change")\(interpreter.pendingFiles.isEmpty ? "" : ", \(interpreter.pendingFiles.count) file(s) would be written"); nothing was written")
            return
        }
        if interpreter.store != original {
            try file.save(interpreter.store)
        }
        for pending in interpreter.pendingFiles {
            try writeAtomically(Data(pending.contents.utf8), to: pending.path)
        }
    }
    do {
        if readOnly || dryRun {
            try work()
        } else {
            try file.withExclusiveLock(work)
        }
    } catch let error as StoreError {
        printError("rampart: error: \(error)")
        throw ExitCode.failure
    }
    }
}

func render(_ outputs: [Output], json: Bool) {
    guard !outputs.isEmpty else { return }
    if json {
        let values = outputs.map(ShowRenderer.json)
        print((values.count == 1 ? values[0] : .array(values)).rendered())
    } else {
        for o in outputs { print(ShowRenderer.text(o), terminator: "") }
    }
}

/// `show active`: the effective filter list in match order.
enum ActiveListing {
    static func matchText(_ f: ActiveFilter) -> String {
        var s = "\(f.source.display) -> \(f.destination.display) \(f.proto)"
        if f.sourcePort != 0 || f.destinationPort != 0 { s += " \(f.sourcePort)->\(f.destinationPort)" }
        return s
    }

    static func text(_ filters: [ActiveFilter]) -> String {
        if filters.isEmpty {
            return "No active filters: no policy is assigned (or its rules have no filters); all traffic is permitted.\n"
        }
        var rows = [["RANK", "WEIGHT", "IN", "OUT", "ID", "ORIGIN", "MATCH"]]
        for (i, f) in filters.enumerated() {
            let w = f.weight
            rows.append([String(i + 1), "\(w.pairLabel) #\(w.fossenRank)", f.inbound.rawValue, f.outbound.rawValue, f.id, f.origin.description, matchText(f)])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func json(_ filters: [ActiveFilter]) -> JSONValue {
        .array(filters.enumerated().map { i, f in
            .object([
                ("rank", .int(i + 1)), ("id", .string(f.id)), ("class", .string(f.weight.pairLabel)),
                ("fossenRank", .int(f.weight.fossenRank)), ("inbound", .string(f.inbound.rawValue)),
                ("outbound", .string(f.outbound.rawValue)), ("origin", .string(f.origin.description)),
                ("srcaddr", .string(f.source.display)), ("dstaddr", .string(f.destination.display)),
                ("protocol", .string(f.proto.description)), ("srcport", .int(Int(f.sourcePort))),
                ("dstport", .int(Int(f.destinationPort))), ("mirrorHalf", .bool(f.isMirror)),
            ])
        })
    }
}
