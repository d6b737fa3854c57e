import Foundation
import RampartTestKit
import Testing
@testable import RampartCompiler
@testable import RampartPolicy

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

func storeFrom(_ script: String, file: String = "t.netsh") throws -> Store {
    var i = Interpreter(store: Store())
    try ScriptRunner.run(ScriptRunner.lines(of: script, file: file), in: &i)
    return i.store
}

func exampleStore(_ name: String) throws -> Store {
    let url = repositoryRoot.appendingPathComponent("etc/rampart/examples/\(name)")
    return try storeFrom(String(contentsOf: url, encoding: .utf8), file: url.path)
}

/// Filters from `static add filter` argument strings, each in its own rule with the given action.
func store(_ filters: [(String, String)], extra: String = "") throws -> Store {
    var script =
        "pushd ipsec static\nadd filteraction name=permit action=permit\nadd filteraction name=block action=block\nadd filteraction name=negotiate action=negotiate\nadd policy name=P assign=yes\n"
    for (i, (args, action)) in filters.enumerated() {
        script +=
            "add filter filterlist=L\(i) \(args)\nadd rule name=R\(i) policy=P filterlist=L\(i) filteraction=\(action)\n"
    }
    return try storeFrom(script + extra)
}

/// Runs `nft -c -f` on a ruleset inside a fresh network namespace: the kernel validates
/// everything (set types, hooks, expressions) without committing.
func nftCheck(_ text: String) throws -> (status: Int32, output: String) {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-check-\(UUID().uuidString).nft")
    try text.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let r = try ChildProcess.run(
        ["/usr/bin/unshare"] + (getuid() == 0 ? ["--net"] : ["--map-root-user", "--net"]) + [
            "nft", "-c", "-f", file.path
        ])
    return (r.status, r.err + r.out)
}
