import FoundationEssentials

/// The store's on-disk JSON form (docs/store-format.md). Decoding is strict: a newer version,
/// an unknown format, a truncated file or an inconsistent store is refused with the reason.
public enum StoreCodec {
    public static let format = "rampart-store"
    /// 2: filters are one line each (`Filter.storeLine`). Version 1 stores are read as they are and
    /// written as version 2 by the next change.
    public static let version = 2

    /// How a filter list's filters are written: objects (version 1) or lines (version 2).
    enum FilterForm: Sendable, Equatable {
        case objects, lines
    }

    static let filterForm = CodingUserInfoKey(rawValue: "rampart.filterForm")!

    static func decoder(version: Int) -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.userInfo[filterForm] = version == 1 ? FilterForm.objects : FilterForm.lines
        return decoder
    }

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
        /// Written only when there is one (`FilterIdentity`).
        var retiredFilterIDs: [String: [String: [Int]]]?
    }

    struct Stores: Codable {
        var local: PolicyStore
        var persistent: PolicyStore
    }

    static func document(_ store: Store) -> Document {
        Document(
            format: format, version: version, sequence: store.sequence, config: store.config,
            stores: Stores(local: store.local, persistent: store.persistent),
            retiredFilterIDs: store.retiredFilterIDs.isEmpty ? nil : store.retiredFilterIDs)
    }

    static func store(_ doc: Document) -> Store {
        var store = Store()
        store.sequence = doc.sequence
        store.config = doc.config
        store.local = doc.stores.local
        store.persistent = doc.stores.persistent
        store.retiredFilterIDs = doc.retiredFilterIDs ?? [:]
        return store
    }

    public static func encode(_ store: Store) -> Data {
        let doc = document(store)
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
        return try! encoder.encode(BootDocument(format: "rampart-boot", version: version, config: config))
            + Data("\n".utf8)
    }

    public static func decodeBootConfig(_ data: Data) throws(StoreError) -> DynamicConfig {
        do {
            let doc = try JSONDecoder().decode(BootDocument.self, from: data)
            guard doc.format == "rampart-boot", doc.version <= version else {
                throw StoreError("not a rampart boot file of a known version")
            }
            return doc.config
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("boot file is damaged: \(describe(error))")
        }
    }

    struct PendingDocument: Codable {
        var format: String
        var version: Int
        var deadline: String
        var requestedBy: String
        var previous: Document
    }

    public static func encodePending(_ pending: PendingConfirmation) -> Data {
        let doc = PendingDocument(
            format: "rampart-pending", version: version, deadline: iso8601(pending.deadline),
            requestedBy: pending.requestedBy,
            previous: document(pending.previous))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try! encoder.encode(doc) + Data("\n".utf8)
    }

    public static func decodePending(_ data: Data) throws(StoreError) -> PendingConfirmation {
        let doc: PendingDocument
        do {
            doc = try decoder(version: try JSONDecoder().decode(Header.self, from: data).version).decode(
                PendingDocument.self, from: data)
        } catch {
            throw StoreError("pending-confirmation journal is damaged: \(describe(error))")
        }
        guard doc.format == "rampart-pending", doc.version <= version, let deadline = parseISO8601(doc.deadline) else {
            throw StoreError("not a pending-confirmation journal of a known version")
        }
        let store = store(doc.previous)
        do {
            try validate(store)
        } catch {
            throw StoreError("pending-confirmation journal holds an invalid store: \(error.message)")
        }
        return PendingConfirmation(deadline: deadline, previous: store, requestedBy: doc.requestedBy)
    }

    static func iso8601(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    static func parseISO8601(_ text: String) -> Date? {
        try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }

    /// The format version a store file declares (it is not otherwise checked here).
    public static func declaredVersion(_ data: Data) throws(StoreError) -> Int {
        do {
            return try JSONDecoder().decode(Header.self, from: data).version
        } catch {
            throw StoreError("not a rampart store (\(describe(error)))")
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
        guard header.format == format else {
            throw StoreError("unknown format '\(header.format)' (expected '\(format)')")
        }
        guard header.version <= version else {
            throw StoreError(
                "format version \(header.version) is newer than this rampart understands (\(version)); upgrade rampart")
        }
        guard header.version >= 1 else { throw StoreError("invalid format version \(header.version)") }
        let doc: Document
        do {
            doc = try StoreCodec.decoder(version: header.version).decode(Document.self, from: data)
        } catch {
            // Foundation reports a number too large for its field (a port of 70000) as "not
            // valid JSON", with no path: find the field ourselves.
            if let place = outOfRangePort(data) { throw StoreError("number out of range\(place)") }
            throw StoreError(describe(error))
        }
        let store = store(doc)
        try validate(store)
        return store
    }

    /// Checks the invariants every command maintains; a store that breaks them was edited or damaged.
    /// The largest sequence number or rule id a store may hold: far beyond any real policy, and
    /// far enough below Int.max that counting on from it can never overflow.
    public static let maxCounter = Int(Int32.max)

    public static func validate(_ store: Store) throws(StoreError) {
        var validator = StoreValidator(store: store)
        try validator.validate()
    }

    /// ` at .stores.local.filterLists[0].filters[3].destinationPort: 70000 is not 0...65535`, if any port is.
    static func outOfRangePort(_ data: Data) -> String? {
        guard let root = try? JSONDecoder().decode(JSONDocument.self, from: data) else { return nil }
        func walk(_ value: JSONDocument, _ path: String) -> String? {
            switch value {
            case .object(let members):
                for key in members.keys.sorted() {
                    let child = members[key]!
                    if key.lowercased().hasSuffix("port"), case .number(let n) = child, !(0...65535).contains(n) {
                        let shown = child.integer.map(String.init) ?? String(n)
                        return " at \(path).\(key): \(shown) is not 0...65535"
                    }
                    if let found = walk(child, path + "." + key) { return found }
                }
            case .array(let elements):
                for (i, child) in elements.enumerated() {
                    if let found = walk(child, path + "[\(i)]") { return found }
                }
            case .number, .string, .bool, .null:
                break
            }
            return nil
        }
        return walk(root, "")
    }

    public static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c):
            return
                "damaged JSON\(path(c.codingPath)): \(c.debugDescription)\(c.underlyingError.map { " (\($0))" } ?? "")"
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

/// The invariants of `StoreCodec.validate`, one part of the store at a time; sequence numbers are
/// unique across the whole store.
struct StoreValidator {
    let store: Store
    private var seqs = Set<Int>()

    init(store: Store) {
        self.store = store
    }

    mutating func validate() throws(StoreError) {
        let c = store.config
        try Self.range(c.ipsecDiagnostics, 0...7, "config.ipsecDiagnostics")
        try Self.range(c.ikeLogging, 0...1, "config.ikeLogging")
        try Self.range(c.strongCRLCheck, 0...2, "config.strongCRLCheck")
        try Self.range(c.ipsecLogInterval, 60...86400, "config.ipsecLogInterval")
        try Self.range(c.ipsecExempt, 0...3, "config.ipsecExempt")
        try Self.range(store.sequence, 0...StoreCodec.maxCounter, "sequence")
        for seqs in store.retiredFilterIDs.values.flatMap(\.values) {
            for n in seqs { try Self.range(n, 1...store.sequence, "retiredFilterIDs") }
        }
        for location in StoreLocation.allCases { try validate(location) }
    }

    static func range(
        _ value: Int, _ allowed: ClosedRange<Int>, _ what: @autoclosure () -> String
    ) throws(StoreError) {
        guard allowed.contains(value) else {
            throw StoreError("\(what()) is \(value), outside \(allowed.lowerBound)...\(allowed.upperBound)")
        }
    }

    // `what` is built only for an error: two per filter were most of validating a large store.
    static func address(_ a: AddressSpec, _ what: @autoclosure () -> String) throws(StoreError) {
        switch a {
        case .dnsName(let name, let prefix):
            guard Values.isHostName(name) else { throw StoreError("\(what()): '\(name)' is not a host name") }
            if let prefix { try range(prefix, 0...32, "\(what()): the prefix of \(name)") }
        case .subnet(let ip, let prefix):
            try range(prefix, 0...ip.family.bits, "\(what()): the prefix of \(ip)")
        default:
            break
        }
    }

    mutating func seq(_ n: Int, _ what: @autoclosure () -> String) throws(StoreError) {
        guard n > 0, n <= store.sequence, seqs.insert(n).inserted else {
            throw StoreError("\(what()) has an invalid or duplicate sequence number \(n)")
        }
    }

    static func unique(_ names: [String], _ kind: String, in location: StoreLocation) throws(StoreError) {
        var seen = Set<String>()
        for n in names {
            guard !n.isEmpty, seen.insert(n.lowercased()).inserted else {
                throw StoreError("\(location) store: \(kind) name '\(n)' is empty or duplicated")
            }
        }
    }

    mutating func validate(_ location: StoreLocation) throws(StoreError) {
        let s = store[location]
        try Self.unique(s.policies.map(\.name), "policy", in: location)
        try Self.unique(s.filterLists.map(\.name), "filter list", in: location)
        try Self.unique(s.filterActions.map(\.name), "filter action", in: location)
        try Self.unique(s.addressGroups.map(\.name), "address group", in: location)
        for g in s.addressGroups { try seq(g.seq, "address group '\(g.name)'") }
        try Self.unique(s.schedules.map(\.name), "schedule", in: location)
        for sc in s.schedules { try schedule(sc, in: location) }
        guard s.policies.filter(\.assigned).count <= 1 else {
            throw StoreError("\(location) store: more than one assigned policy")
        }
        for l in s.filterLists { try filterList(l, of: s, in: location) }
        for a in s.filterActions { try seq(a.seq, "filter action '\(a.name)'") }
        for p in s.policies { try policy(p, of: s, in: location) }
    }

    mutating func schedule(_ sc: Schedule, in location: StoreLocation) throws(StoreError) {
        try seq(sc.seq, "schedule '\(sc.name)'")
        guard Schedule.validName(sc.name), sc.days & 0x7f != 0, sc.days & 0x80 == 0, (0...1439).contains(sc.start),
            (1...1440).contains(sc.end),
            sc.start != sc.end
        else {
            throw StoreError("\(location) store: schedule '\(sc.name)' has invalid days or hours")
        }
        if let tz = sc.timezone, case .failure(let e) = Schedule.parseTimeZone(tz) {
            throw StoreError("schedule '\(sc.name)': \(e.message)")
        }
    }

    mutating func filterList(_ l: FilterList, of s: PolicyStore, in location: StoreLocation) throws(StoreError) {
        try seq(l.seq, "filter list '\(l.name)'")
        for f in l.filters {
            try seq(f.seq, "a filter of '\(l.name)'")
            try Self.address(f.source, "filter F\(f.seq) of '\(l.name)' srcaddr")
            try Self.address(f.destination, "filter F\(f.seq) of '\(l.name)' dstaddr")
            if (f.sourcePort != 0 || f.destinationPort != 0) && !f.proto.hasPorts {
                throw StoreError("filter F\(f.seq) has ports without TCP or UDP")
            }
            if f.tcpFlags != nil && f.proto != .tcp {
                throw StoreError("filter F\(f.seq) tests TCP flags but its protocol is \(f.proto)")
            }
            for side in [f.source, f.destination] {
                if case .group(let g) = side, s.addressGroupIndex(g) == nil {
                    throw StoreError(
                        "filter F\(f.seq) of '\(l.name)' refers to missing address group '\(g)' of the \(location) store"
                    )
                }
            }
        }
    }

    mutating func policy(_ p: Policy, of s: PolicyStore, in location: StoreLocation) throws(StoreError) {
        try seq(p.seq, "policy '\(p.name)'")
        try Self.unique(p.rules.map(\.name), "rule of '\(p.name)'", in: location)
        try Self.range(p.nextRuleID, 1...StoreCodec.maxCounter, "policy '\(p.name)' nextRuleID")
        try Self.range(p.qmpermm, 0...StoreCodec.maxCounter, "policy '\(p.name)' qmpermm")
        try Self.range(p.mmlifetime, 1...StoreCodec.maxCounter, "policy '\(p.name)' mmlifetime")
        try Self.range(p.pollingInterval, 0...StoreCodec.maxCounter, "policy '\(p.name)' pollingInterval")
        var ids = Set<Int>()
        for r in p.rules {
            try seq(r.seq, "rule '\(r.name)'")
            guard r.id > 0, r.id < p.nextRuleID, ids.insert(r.id).inserted else {
                throw StoreError(
                    "rule '\(r.name)' of policy '\(p.name)' has an invalid or duplicate id \(r.id) (ids run from 1 to nextRuleID - 1 = \(p.nextRuleID - 1))"
                )
            }
            if let t = r.tunnel { try Self.address(t, "rule '\(r.name)' tunnel") }
            if let sc = r.schedule, s.scheduleIndex(sc) == nil {
                throw StoreError("rule '\(r.name)' of policy '\(p.name)' refers to missing schedule '\(sc)'")
            }
            guard s.filterListIndex(r.filterList) != nil else {
                throw StoreError(
                    "rule '\(r.name)' of policy '\(p.name)' refers to missing filter list '\(r.filterList)'")
            }
            guard s.filterActionIndex(r.filterAction) != nil else {
                throw StoreError(
                    "rule '\(r.name)' of policy '\(p.name)' refers to missing filter action '\(r.filterAction)'")
            }
        }
    }
}
