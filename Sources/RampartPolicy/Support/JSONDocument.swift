/// Any JSON document, decoded without Foundation's `JSONSerialization`: for walking files whose
/// shape is not ours (systemd-networkd's JSON leases) or checking numbers by path.
public indirect enum JSONDocument: Decodable, Sendable, Equatable {
    case object([String: JSONDocument])
    case array([JSONDocument])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? single.decode(Double.self) {
            self = .number(n)
        } else if let s = try? single.decode(String.self) {
            self = .string(s)
        } else if let a = try? single.decode([JSONDocument].self) {
            self = .array(a)
        } else {
            self = .object(try single.decode([String: JSONDocument].self))
        }
    }

    /// An integral number's value.
    public var integer: Int? {
        guard case .number(let n) = self, n == n.rounded(), abs(n) < 1e15 else { return nil }
        return Int(n)
    }
}
