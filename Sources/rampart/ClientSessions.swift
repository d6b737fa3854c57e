import FoundationEssentials
import Glibc

/// The SSH sessions this command runs in, for rampartd's lockout guard: `SSH_CONNECTION` from our
/// environment or, when sudo or su dropped it, from the nearest ancestor process that has it
/// (root, or the same user, can read their environments).
func clientSessions() -> [String] {
    if let own = ProcessInfo.processInfo.environment["SSH_CONNECTION"], !own.isEmpty { return [own] }
    var pid = getppid()
    for _ in 0..<64 where pid > 1 {
        if let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") {
            for entry in environ.split(separator: 0) where entry.starts(with: Array("SSH_CONNECTION=".utf8)) {
                return [String(decoding: entry.dropFirst("SSH_CONNECTION=".utf8.count), as: UTF8.self)]
            }
        }
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }),
            let parent = Int32(line.dropFirst(5).filter { $0 != " " && $0 != "\t" })
        else { break }
        pid = parent
    }
    return []
}

/// `--force` or RAMPART_ASSUME_YES=1 (scripts run by automation): apply even a change that
/// would cut an SSH session.
func forced(_ global: GlobalOptions) -> Bool {
    global.force || ["1", "yes", "true"].contains(ProcessInfo.processInfo.environment["RAMPART_ASSUME_YES"] ?? "")
}
