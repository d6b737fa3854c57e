import Foundation

/// The store's on-disk JSON form (docs/store-format.md). Decoding is strict: a newer version,
/// an unknown format, a truncated file or an inconsistent store is refused with the reason.
public enum StoreCodec {
    public static let format = "rampart-store"
    public static let version = 1

    struct Header: Decodable {
        var format: String
        var version: Int
    }

    struct Document: Codable {
        var format: String
        var version: Int
        var sequence: Int
        var config: DynamicConfig
        var stores: Stores
    }

    struct Stores: Codable {
        var local: PolicyStore
        var persistent: PolicyStore
    }

    public static func encode(_ store: Store) -> Data {
        let doc = Document(format: format, version: version, sequence: store.sequence, config: store.config,
                           stores: Stores(local: store.local, persistent: store.persistent))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail; a failure here is a programming error.
        return try! encoder.encode(doc) + Data("\n".utf8)
    }

    struct BootDocument: Codable {
        var format: String
        var version: Int
        var config: DynamicConfig
    }

    public static func encodeBootConfig(_ config: DynamicConfig) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(BootDocument(format: "rampart-boot", version: version, config: config)) + Data("\n".utf8)
    }

    public static func decodeBootConfig(_ data: Data) throws(StoreError) -> DynamicConfig {
        do {
            let doc = try JSONDecoder().decode(BootDocument.self, from: data)
            guard doc.format == "rampart-boot", doc.version <= version else { throw StoreError("not a rampart boot file of a known version") }
            return doc.config
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("boot file is damaged: \(describe(error))")
        }
    }

    public static func decode(_ data: Data) throws(StoreError) -> Store {
        let decoder = JSONDecoder()
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: data)
        } catch {
            throw StoreError("not a rampart store (\(describe(error)))")
        }
        guard header.format == format else { throw StoreError("unknown format '\(header.format)' (expected '\(format)')") }
        guard header.version <= version else {
            throw StoreError("format version \(header.version) is newer than this rampart understands (\(version)); upgrade rampart")
        }
        guard header.version >= 1 else { throw StoreError("invalid format version \(header.version)") }
        let doc: Document
        do {
            doc = try decoder.decode(Document.self, from: data)
        } catch {
            throw StoreError(describe(error))
        }
        var store = Store()
        store.sequence = doc.sequence
        store.config = doc.config
        store.local = doc.stores.local
        store.persistent = doc.stores.persistent
        try validate(store)
        return store
    }

    /// Checks the invariants every command maintains; a store that breaks them was edited or damaged.
    public static func validate(_ store: Store) throws(StoreError) {
        let c = store.config
        guard (0...7).contains(c.ipsecDiagnostics), (0...1).contains(c.ikeLogging), (0...2).contains(c.strongCRLCheck),
              (60...86400).contains(c.ipsecLogInterval), (0...3).contains(c.ipsecExempt) else {
            throw StoreError("config value out of range")
        }
        var seqs = Set<Int>()
        func seq(_ n: Int, _ what: String) throws(StoreError) {
            guard n > 0, n <= store.sequence, seqs.insert(n).inserted else {
                throw StoreError("\(what) has an invalid or duplicate sequence number \(n)")
            }
        }
        for location in StoreLocation.allCases {
            let s = store[location]
            func unique(_ names: [String], _ kind: String) throws(StoreError) {
                var seen = Set<String>()
                for n in names {
                    guard !n.isEmpty, seen.insert(n.lowercased()).inserted else {
                        throw StoreError("\(location) store: \(kind) name '\(n)' is empty or duplicated")
                    }
                }
            }
            try unique(s.policies.map(\.name), "policy")
            try unique(s.filterLists.map(\.name), "filter list")
            try unique(s.filterActions.map(\.name), "filter action")
            guard s.policies.filter(\.assigned).count <= 1 else {
                throw StoreError("\(location) store: more than one assigned policy")
            }
            for l in s.filterLists {
                try seq(l.seq, "filter list '\(l.name)'")
                for f in l.filters {
                    try seq(f.seq, "a filter of '\(l.name)'")
                    if (f.sourcePort != 0 || f.destinationPort != 0) && !f.proto.hasPorts {
                        throw StoreError("filter F\(f.seq) has ports without TCP or UDP")
                    }
                }
            }
            for a in s.filterActions { try seq(a.seq, "filter action '\(a.name)'") }
            for p in s.policies {
                try seq(p.seq, "policy '\(p.name)'")
                try unique(p.rules.map(\.name), "rule of '\(p.name)'")
                for r in p.rules {
                    try seq(r.seq, "rule '\(r.name)'")
                    guard s.filterListIndex(r.filterList) != nil else {
                        throw StoreError("rule '\(r.name)' of policy '\(p.name)' refers to missing filter list '\(r.filterList)'")
                    }
                    guard s.filterActionIndex(r.filterAction) != nil else {
                        throw StoreError("rule '\(r.name)' of policy '\(p.name)' refers to missing filter action '\(r.filterAction)'")
                    }
                }
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c):
            return "damaged JSON\(path(c.codingPath)): \(c.debugDescription)\(c.underlyingError.map { " (\($0.localizedDescription))" } ?? "")"
        case DecodingError.keyNotFound(let key, let c):
            return "missing field '\(key.stringValue)'\(path(c.codingPath))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong value\(path(c.codingPath)): \(c.debugDescription)"
        default:
            return "\(error)"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "" : " at " + keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
