/// A named set of addresses (a rampart extension): `add addressgroup name=Admins
/// addresses=192.0.2.10,198.51.100.0/24,2001:db8::/48`, used as `srcaddr=group:Admins`. It lives
/// in one store, like a filter list; it compiles to one named interval set per address family, so
/// changing it changes set elements only (docs/extensions.md).
public struct AddressGroup: Hashable, Sendable {
    public var name: String
    public var description: String
    /// As given (hosts, prefixes, ranges; both families), in order; `elements` is the merged form.
    public var members: [AddressRange]
    public var seq: Int

    public init(name: String, description: String = "", members: [AddressRange], seq: Int) {
        self.name = name
        self.description = description
        self.members = members
        self.seq = seq
    }

    /// Sorted and merged, per family: what the interval sets hold.
    public var elements: [AddressRange] { AddressRange.normalize(members) }

    /// At most this many members in one group (nft handles far more; a policy that needs more is
    /// better served by a blocklist filter list, which groups itself).
    public static let maximumMembers = 10_000

    /// Letters, digits, `_` and `-`, starting with a letter, at most 64: the name becomes part of
    /// the nftables set name (`group_l_Admins_v4`).
    public static func validName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter, name.count <= 64 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// `192.0.2.10, 198.51.100.0/24, 2001:db8::/48, 192.0.2.20-192.0.2.30`: separated by commas
    /// or blanks. Host bits under a prefix are refused (a group is a list an admin reads).
    public static func parseMembers(_ text: String) -> Result<[AddressRange], ValueError> {
        let items = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
        guard !items.isEmpty else { return .failure(ValueError("an address group needs at least one address")) }
        guard items.count <= maximumMembers else {
            return .failure(ValueError("\(items.count) addresses; an address group holds at most \(maximumMembers)"))
        }
        var out: [AddressRange] = []
        out.reserveCapacity(items.count)
        for item in items {
            if let slash = item.firstIndex(of: "/") {
                guard let a = IPAddress(item[..<slash]), let p = Int(item[item.index(after: slash)...]),
                    (1...a.family.bits).contains(p)
                else {
                    return .failure(ValueError("'\(item)' is not an address with a prefix length"))
                }
                guard a.masked(prefix: p) == a else {
                    return .failure(
                        ValueError("'\(item)' has host bits set under /\(p); write \(a.masked(prefix: p))/\(p)"))
                }
                out.append(AddressRange(prefix: a, length: p))
            } else if let dash = item.firstIndex(of: "-"), let a = IPAddress(item[..<dash]) {
                guard let b = IPAddress(item[item.index(after: dash)...]), a.family == b.family, a <= b else {
                    return .failure(ValueError("'\(item)' is not a range of addresses of one family, low to high"))
                }
                out.append(AddressRange(first: a, last: b))
            } else if let a = IPAddress(item) {
                out.append(AddressRange(prefix: a, length: a.family.bits))
            } else {
                return .failure(
                    ValueError(
                        "'\(item)' is not an IP address, a prefix or a range (an address group holds literal addresses only)"
                    ))
            }
        }
        return .success(out)
    }

    public var membersText: String { members.map(\.description).joined(separator: ",") }
}

/// In the store: `{"name": …, "description": …, "seq": …, "members": ["192.0.2.10", "198.51.100.0/24"]}`.
extension AddressGroup: Codable {
    enum CodingKeys: String, CodingKey { case name, description, seq, members }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        seq = try c.decode(Int.self, forKey: .seq)
        guard AddressGroup.validName(name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .name, in: c, debugDescription: "'\(name)' is not a valid address group name")
        }
        let texts = try c.decode([String].self, forKey: .members)
        switch AddressGroup.parseMembers(texts.joined(separator: ",")) {
        case .success(let m) where m.count == texts.count: members = m
        case .success:
            throw DecodingError.dataCorruptedError(
                forKey: .members, in: c, debugDescription: "address group '\(name)' has an empty member")
        case .failure(let e):
            throw DecodingError.dataCorruptedError(
                forKey: .members, in: c, debugDescription: "address group '\(name)': \(e.message)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(seq, forKey: .seq)
        try c.encode(members.map(\.description), forKey: .members)
    }
}
