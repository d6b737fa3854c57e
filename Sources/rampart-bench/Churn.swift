import Foundation
import RampartNamespaceKit
import RampartSystem
import RampartTestKit

/// `--only churn`: rampartd with `filters` filters, edited for `seconds` — a filter added, then
/// removed, one edit every `pause` seconds, so the policy keeps its size — and its resident memory
/// (VmRSS, and the peak VmHWM) after READY, after the first 50 edits and every `every` seconds.
/// The question it answers: does memory stay flat under hours of edits, and what is the cost per filter?
@MainActor func churn(filters: Int, seconds: Int, pause: Double, every: Int, work: URL) throws {
    func memory(_ pid: Int32) -> (rss: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name) } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }
    let storePath = work.appendingPathComponent("churn-store.json").path
    try StoreFile(path: storePath).save(store(Fixtures.synthetic(filters: filters)))
    let socket = work.appendingPathComponent("churn.sock").path
    setenv("RAMPART_SOCKET", socket, 1)
    let ns = try Namespace("churn")
    defer { ns.delete() }
    let (p, notify) = try readyDaemon(
        in: ns, ["--store", storePath, "--socket", socket], notifyPath: work.appendingPathComponent("n-churn.sock").path
    )
    defer { stopDaemon(p, notify) }
    let start = ContinuousClock.now
    var rows: [(label: String, edits: Int, rss: Int, peak: Int)] = []
    let ready = memory(p.processIdentifier)
    rows.append(("after READY", 0, ready.rss, ready.peak))
    var edits = 0, nextReport = every
    while ContinuousClock.now - start < .seconds(seconds) {
        let address = "198.51.77.\(edits / 2 % 250 + 1)"
        _ = timed([
            rampartBinary, "static", edits % 2 == 0 ? "add" : "delete", "filter", "filterlist=L0", "srcaddr=\(address)",
            "dstaddr=me", "protocol=tcp", "dstport=1", "mirrored=no"
        ])
        edits += 1
        let elapsed = Int((ContinuousClock.now - start).components.seconds)
        if edits == 50 || elapsed >= nextReport {
            let m = memory(p.processIdentifier)
            rows.append((edits == 50 ? "after 50 edits" : "after \(elapsed / 60) min", edits, m.rss, m.peak))
            if elapsed >= nextReport { nextReport += every }
        }
        Thread.sleep(forTimeInterval: pause)
    }
    let end = memory(p.processIdentifier)
    rows.append(
        ("at the end (\(Int((ContinuousClock.now - start).components.seconds / 60)) min)", edits, end.rss, end.peak))
    print("")
    print("rampartd with \(filters) filters, a one-filter edit every \(pause) s (after the last), \(Date())")
    print("")
    print("| when | edits | resident (VmRSS) | peak (VmHWM) | resident per filter |")
    print("|---|---|---|---|---|")
    for r in rows {
        print(
            "| \(r.label) | \(r.edits) | \(r.rss / 1024) MiB | \(r.peak / 1024) MiB | \(r.rss * 1024 / filters) bytes |"
        )
    }
}
