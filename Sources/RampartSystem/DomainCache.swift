import FoundationEssentials
import Glibc
import RampartPolicy

/// The last domain policy this host applied (docs/fleet.md): the script itself and its etcd
/// revision, written atomically (0600: a policy says what the host exposes) after every
/// successful apply, read at boot before etcd is asked anything.
public struct DomainCache: Sendable, Equatable, Codable {
    public static let formatName = "rampart-domain-cache"
    public var format = DomainCache.formatName
    public var version = 1
    public var group: String
    public var revision: Int64
    public var arrived: Double
    public var script: String

    public init(group: String, revision: Int64, arrived: Double, script: String) {
        self.group = group
        self.revision = revision
        self.arrived = arrived
        self.script = script
    }

    /// nil when there is no cache file; a damaged one is an error, never a half-read policy.
    public static func load(_ path: String) throws(StoreError) -> DomainCache? {
        guard SourceFile.exists(path) else { return nil }
        let data = try StoreFile.readRegularFile(path, what: "domain cache")
        let cache: DomainCache
        do {
            cache = try JSONDecoder().decode(DomainCache.self, from: data)
        } catch {
            throw StoreError("domain cache \(path) is damaged: \(error)")
        }
        guard cache.format == formatName, cache.version == 1 else {
            throw StoreError("domain cache \(path) is not a version 1 \(formatName) file")
        }
        return cache
    }

    public func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeAtomically(try encoder.encode(self), to: path, mode: 0o600)
    }

    public static func remove(_ path: String) {
        unlink(path)
    }
}
