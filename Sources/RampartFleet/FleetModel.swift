import RampartPolicy

/// Where the fleet lives in etcd (docs/fleet.md): `PREFIX/groups/GROUP/policy` holds the group's
/// netsh script; `PREFIX/status/GROUP/HOST` each host's report, bound to its lease.
public struct FleetKeys: Sendable, Equatable {
    public static let defaultPrefix = "/rampart/v1"
    public var prefix: String

    public init(prefix: String = FleetKeys.defaultPrefix) {
        var p = prefix
        while p.hasSuffix("/") { p.removeLast() }
        self.prefix = p
    }

    public func policy(group: String) -> String { "\(prefix)/groups/\(group)/policy" }
    public func statusPrefix(group: String) -> String { "\(prefix)/status/\(group)/" }
    public func status(group: String, host: String) -> String { statusPrefix(group: group) + host }

    /// Group and host names: a key component each, so no `/`, and readable in RBAC role names.
    public static func validName(_ name: String) -> Bool { FleetNames.valid(name) }
}

/// A line diff (longest common subsequence) in unified form without hunks' context limits:
/// domain scripts are short, and an admin reviewing a rollback wants to see all of it.
public enum LineDiff {
    public static func unified(_ a: String, _ b: String, from: String, to: String) -> String {
        let x = a.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let y = b.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let n = x.count, m = y.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out = "--- \(from)\n+++ \(to)\n"
        var i = 0, j = 0
        var changed = false
        while i < n || j < m {
            if i < n, j < m, x[i] == y[j] {
                out += " \(x[i])\n"
                i += 1
                j += 1
            } else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] {
                out += "+\(y[j])\n"
                j += 1
                changed = true
            } else {
                out += "-\(x[i])\n"
                i += 1
                changed = true
            }
        }
        return changed ? out : ""
    }
}

/// A host's status key (`PREFIX/status/GROUP/HOST`), written by rampartd under its lease and
/// read by `rampart domain status`.
public struct HostReport: Codable, Sendable, Equatable {
    public var host: String
    /// The domain policy revision the host enforces (nil: none).
    public var revision: Int64?
    public var cached: Bool
    public var policy: String?
    /// running, degraded, boot…
    public var health: String
    /// When the enforced domain policy arrived (ISO 8601).
    public var applied: String?
    /// The last revision the host refused, and why.
    public var refusedRevision: Int64?
    public var error: String?
    public var problems: [String]
    public var seen: String
    public var version: String
    /// SSH sessions the revision in force cut when it arrived (the pushing admin was not there
    /// to confirm): "revision 7 cut session 198.51.100.7:51000 -> 192.0.2.10:22: …".
    public var cutSessions: [String]?

    public init(
        host: String, revision: Int64?, cached: Bool, policy: String?, health: String, applied: String?,
        refusedRevision: Int64?, error: String?, problems: [String], seen: String, version: String,
        cutSessions: [String]? = nil
    ) {
        self.cutSessions = cutSessions
        self.host = host
        self.revision = revision
        self.cached = cached
        self.policy = policy
        self.health = health
        self.applied = applied
        self.refusedRevision = refusedRevision
        self.error = error
        self.problems = problems
        self.seen = seen
        self.version = version
    }
}
