import FoundationEssentials

/// One quick-mode offer: `ESP[3DES,SHA1]:100000k/2000s`, `AH[MD5]`, `AH[SHA1]+ESP[DES,MD5]:3600s`.
/// Stored so negotiate actions round-trip; enforcement needs IKE, which rampart does not speak.
public struct QuickModeOffer: Hashable, Sendable, Codable, CustomStringConvertible {
    public var ahHash: String?
    public var espConfidentiality: String?
    public var espIntegrity: String?
    public var lifetimeKilobytes: Int?
    public var lifetimeSeconds: Int?

    public init(
        ahHash: String? = nil, espConfidentiality: String? = nil, espIntegrity: String? = nil,
        lifetimeKilobytes: Int? = nil, lifetimeSeconds: Int? = nil
    ) {
        self.ahHash = ahHash
        self.espConfidentiality = espConfidentiality
        self.espIntegrity = espIntegrity
        self.lifetimeKilobytes = lifetimeKilobytes
        self.lifetimeSeconds = lifetimeSeconds
    }

    public var description: String {
        var parts: [String] = []
        if let ahHash { parts.append("AH[\(ahHash)]") }
        if let c = espConfidentiality, let i = espIntegrity { parts.append("ESP[\(c),\(i)]") }
        var text = parts.joined(separator: "+")
        switch (lifetimeKilobytes, lifetimeSeconds) {
        case let (k?, s?): text += ":\(k)k/\(s)s"
        case let (k?, nil): text += ":\(k)k"
        case let (nil, s?): text += ":\(s)s"
        case (nil, nil): break
        }
        return text
    }

    static let confidentiality = ["DES", "3DES", "NONE", "AES128", "AES192", "AES256"]
    static let integrity = ["MD5", "SHA1", "NONE", "SHA256"]
    static let hashes = ["MD5", "SHA1", "SHA256"]

    /// Parses one offer; the error text says which part is wrong.
    public static func parse(_ text: String) -> Result<QuickModeOffer, ValueError> {
        var offer = QuickModeOffer()
        var body = Substring(text)
        if let colon = body.firstIndex(of: ":") {
            let life = body[body.index(after: colon)...]
            body = body[..<colon]
            for piece in life.split(separator: "/", omittingEmptySubsequences: false) {
                let lower = piece.lowercased()
                if lower.hasSuffix("k"), let k = Int(lower.dropLast()), k > 0, offer.lifetimeKilobytes == nil {
                    offer.lifetimeKilobytes = k
                } else if lower.hasSuffix("s"), let s = Int(lower.dropLast()), s > 0, offer.lifetimeSeconds == nil {
                    offer.lifetimeSeconds = s
                } else {
                    return .failure(ValueError("invalid lifetime '\(life)' in '\(text)' (expected Nk/Ns, Ns or Nk)"))
                }
            }
        }
        for part in body.split(separator: "+", omittingEmptySubsequences: false) {
            let upper = part.uppercased()
            guard let open = upper.firstIndex(of: "["), upper.hasSuffix("]") else {
                return .failure(ValueError("invalid security method '\(text)' (expected ESP[conf,auth] or AH[hash])"))
            }
            let kind = upper[..<open]
            let args = upper[upper.index(after: open)..<upper.index(before: upper.endIndex)]
                .split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            switch kind {
            case "AH" where offer.ahHash == nil:
                guard args.count == 1, hashes.contains(args[0]) else {
                    return .failure(ValueError("invalid AH hash in '\(text)' (expected MD5 or SHA1)"))
                }
                offer.ahHash = args[0]
            case "ESP" where offer.espConfidentiality == nil:
                guard args.count == 2, confidentiality.contains(args[0]), integrity.contains(args[1]) else {
                    return .failure(
                        ValueError("invalid ESP algorithms in '\(text)' (expected ESP[DES|3DES|None,MD5|SHA1|None])"))
                }
                guard !(args[0] == "NONE" && args[1] == "NONE") else {
                    return .failure(ValueError("ESP[None,None] offers no protection in '\(text)'"))
                }
                offer.espConfidentiality = args[0] == "NONE" ? "None" : args[0]
                offer.espIntegrity = args[1] == "NONE" ? "None" : args[1]
            default:
                return .failure(ValueError("invalid security method '\(part)' in '\(text)'"))
            }
        }
        return .success(offer)
    }
}

/// One main-mode offer: `3DES-SHA1-2`.
public struct MainModeOffer: Hashable, Sendable, Codable, CustomStringConvertible {
    public var confidentiality: String
    public var hash: String
    public var group: Int

    public var description: String { "\(confidentiality)-\(hash)-\(group)" }

    public init(confidentiality: String, hash: String, group: Int) {
        self.confidentiality = confidentiality
        self.hash = hash
        self.group = group
    }

    public static func parse(_ text: String) -> Result<MainModeOffer, ValueError> {
        let parts = text.uppercased().split(separator: "-").map(String.init)
        guard parts.count == 3, ["DES", "3DES", "AES128", "AES192", "AES256"].contains(parts[0]),
            ["MD5", "SHA1", "SHA256", "SHA384"].contains(parts[1]),
            let g = Int(parts[2]), [1, 2, 3, 14, 19, 20, 24].contains(g)
        else {
            return .failure(
                ValueError("invalid main mode method '\(text)' (expected Conf-Hash-Group such as 3DES-SHA1-2)"))
        }
        return .success(MainModeOffer(confidentiality: parts[0], hash: parts[1], group: g))
    }
}

/// An authentication method of a rule, in command-line order (the order is the preference).
public enum AuthMethod: Hashable, Sendable, Codable, CustomStringConvertible {
    case kerberos
    case presharedKey(String)
    case rootCA(String)

    public var description: String {
        switch self {
        case .kerberos: return "kerberos=yes"
        case .presharedKey(let k): return "psk=\(quoted(k))"
        case .rootCA(let c): return "rootca=\(quoted(c))"
        }
    }
}

/// The error a value parser returns; the caller adds the location.
public struct ValueError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Double-quotes a value for a netsh command line when it needs it.
public func quoted(_ value: String) -> String {
    if !value.isEmpty && !value.contains(where: { $0 == " " || $0 == "\t" || $0 == "=" || $0 == "\"" || $0 == "#" }) {
        return value
    }
    return "\"" + value.replacing("\"", with: "\\'") + "\""
}
