import RampartPolicy

/// The IPsec policy objects of a Windows policy store ([MS-GPIPSEC] §2.2.1), as a registry
/// export or an LDIF export holds them: five classes, each with its name, description, GUID,
/// the `ipsecData` blob and its references to the others. Where they came from is kept for
/// diagnostics; what is not an IPsec object of the local store (or of `CN=IP Security`) is
/// counted as ignored.
public struct WindowsPolicyObjects: Sendable, Equatable {
    public enum ObjectClass: String, Sendable, CaseIterable {
        case policy = "ipsecPolicy", isakmp = "ipsecISAKMPPolicy", nfa = "ipsecNFA",
            negotiation = "ipsecNegotiationPolicy", filter = "ipsecFilter"
    }

    public struct Object: Sendable, Equatable {
        public var objectClass: ObjectClass
        /// `{6A1E5C3F-72B7-11D2-ACF0-0260B025CAFE}`, upper case.
        public var guid: String
        public var name: String?
        public var description: String?
        /// As the store has it: a registry DWORD (seconds since 1970) or an LDAP generalized time.
        public var whenChanged: String?
        public var dataType: UInt32?
        public var data: [UInt8]?
        /// `ipsecNFAReference`, `ipsecFilterReference`… (lowercased) → the GUIDs they name.
        public var references: [String: [String]] = [:]
        /// `ipsecNegotiationPolicyAction`, `ipsecNegotiationPolicyType` (lowercased) → GUID.
        public var attributes: [String: String] = [:]
        public var location: SourceLocation

        public init(objectClass: ObjectClass, guid: String, location: SourceLocation) {
            self.objectClass = objectClass
            self.guid = guid
            self.location = location
        }
    }

    public var objects: [Object] = []
    /// The GUID of the assigned policy: the Local key's `ActivePolicy`, or the GPO object's reference.
    public var activePolicy: String?
    /// Keys or records that are not IPsec policy objects of the store read.
    public var ignored = 0
    /// Values and attributes the specification does not give a class, each naming its object.
    public var warnings: [Diagnostic] = []

    public init() {}

    public static let referenceNames = [
        "ipsecownersreference", "ipsecnfareference", "ipsecfilterreference", "ipsecnegotiationpolicyreference",
        "ipsecisakmpreference"
    ]

    /// `ipsecFilter{…}` → the class and the GUID (upper case), from a key name, a registry path
    /// or a DN's first RDN (`CN=ipsecFilter{…},CN=IP Security,…`).
    public static func objectName(_ text: String) -> (ObjectClass, String)? {
        var last = Substring(text)
        if let slash = last.lastIndex(of: "\\") { last = last[last.index(after: slash)...] }
        if last.lowercased().hasPrefix("cn=") {
            last = last.dropFirst(3)
            if let comma = last.firstIndex(of: ",") { last = last[..<comma] }
        }
        guard let brace = last.firstIndex(of: "{"), last.hasSuffix("}") else { return nil }
        let prefix = last[..<brace].lowercased()
        guard let c = ObjectClass.allCases.first(where: { $0.rawValue.lowercased() == prefix }),
            let guid = canonicalGUID(last[brace...])
        else { return nil }
        return (c, guid)
    }

    /// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` in upper case, or nil.
    public static func canonicalGUID(_ text: Substring) -> String? {
        let inner = text.hasPrefix("{") && text.hasSuffix("}") ? text.dropFirst().dropLast() : text
        let groups = inner.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12], inner.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            return nil
        }
        return "{" + inner.uppercased() + "}"
    }
}

extension WindowsPolicyObjects {
    static let localStorePath = "software\\policies\\microsoft\\windows\\ipsec\\policy\\local"

    /// The objects under `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\IPSec\Policy\Local`
    /// (`HKLM\…` too); every other key is counted as ignored. `[-KEY]` removes an object read before.
    public static func from(_ export: RegistryExport) throws(Diagnostic) -> WindowsPolicyObjects {
        var out = WindowsPolicyObjects()
        for key in export.keys {
            guard let relative = localRelative(key.path) else {
                out.ignored += 1
                continue
            }
            if relative.isEmpty {
                if let active = key.value("ActivePolicy")?.strings(version: export.version)?.first {
                    out.activePolicy = objectName(active)?.1
                }
                continue
            }
            guard let (objectClass, guid) = objectName(relative), !relative.contains("\\") else {
                out.ignored += 1
                continue
            }
            out.objects.removeAll { $0.guid == guid && $0.objectClass == objectClass }
            if key.deleted { continue }
            out.objects.append(try object(objectClass, guid, key, version: export.version, warnings: &out.warnings))
        }
        return out
    }

    /// The part of `path` below the local store's key ("" for the key itself), or nil.
    static func localRelative(_ path: String) -> String? {
        let lower = path.lowercased()
        for root in ["hkey_local_machine\\", "hklm\\"] where lower.hasPrefix(root + localStorePath) {
            let rest = path.dropFirst(root.count + localStorePath.count)
            if rest.isEmpty { return "" }
            guard rest.hasPrefix("\\") else { return nil }
            return String(rest.dropFirst())
        }
        return nil
    }

    static func object(
        _ c: ObjectClass, _ guid: String, _ key: RegistryExport.Key, version: Int, warnings: inout [Diagnostic]
    ) throws(Diagnostic) -> Object {
        var o = Object(objectClass: c, guid: guid, location: key.location)
        for (name, value) in key.values {
            let lower = name.lowercased()
            switch (lower, value) {
            case ("ipsecname", _): o.name = value.strings(version: version)?.first
            case ("description", _): o.description = value.strings(version: version)?.first
            case ("whenchanged", .dword(let t)): o.whenChanged = String(t)
            case ("ipsecdatatype", .dword(let t)): o.dataType = t
            case ("ipsecdata", .binary(_, let bytes)): o.data = bytes
            case ("ipsecid", _):
                guard let id = value.strings(version: version)?.first.flatMap({ canonicalGUID(Substring($0)) }),
                    id == guid
                else {
                    throw .error("\(c.rawValue)\(guid): ipsecID does not name the key's own GUID", at: key.location)
                }
            case (_, _) where referenceNames.contains(lower):
                o.references[lower] = (value.strings(version: version) ?? []).compactMap { objectName($0)?.1 }
            case ("ipsecnegotiationpolicyaction", _), ("ipsecnegotiationpolicytype", _):
                o.attributes[lower] = value.strings(version: version)?.first.flatMap { canonicalGUID(Substring($0)) }
            default:
                warnings.append(
                    .warning(
                        "\(c.rawValue)\(guid): the value '\(name)' is not one [MS-GPIPSEC] §2.2.1 gives this class, or not of its type: ignored",
                        at: key.location))
            }
        }
        return o
    }
}

extension WindowsPolicyObjects {
    /// The objects of an LDIF export of `CN=IP Security,CN=System,…` (each record whose
    /// objectClass is one of the five), and the assignment of the GPO object
    /// (`CN=ipsec,CN=Windows,CN=Microsoft,CN=Machine,CN={GPO},…`: its `ipsecOwnersReference`).
    public static func from(_ ldif: LDIF) -> WindowsPolicyObjects {
        var out = WindowsPolicyObjects()
        var assignments: [(String, SourceLocation)] = []
        for record in ldif.records {
            let classes = Set(record.strings("objectClass").map { $0.lowercased() })
            if record.dn.lowercased().hasPrefix("cn=ipsec,cn=windows,cn=microsoft,cn=machine,") {
                if let policy = record.strings("ipsecOwnersReference").compactMap({ objectName($0)?.1 }).first {
                    assignments.append((policy, record.location))
                }
                continue
            }
            guard let c = ObjectClass.allCases.first(where: { classes.contains($0.rawValue.lowercased()) }),
                let guid = record.string("ipsecID").flatMap({ canonicalGUID(Substring($0)) })
                    ?? objectName(record.dn).map(\.1)
            else {
                out.ignored += 1
                continue
            }
            out.objects.append(object(c, guid, record, warnings: &out.warnings))
        }
        if assignments.count == 1 {
            out.activePolicy = assignments[0].0
        } else if assignments.count > 1 {
            out.warnings.append(
                .warning(
                    "\(assignments.count) GPO objects assign IPsec policies: none is assigned here (assign one with 'set policy name=… assign=yes')",
                    at: assignments[0].1))
        }
        return out
    }

    static let ldifIgnored: Set<String> = [
        "objectclass", "cn", "distinguishedname", "instancetype", "whencreated", "usncreated", "usnchanged",
        "name", "objectguid", "objectcategory", "dscorepropagationdata", "showinadvancedviewonly", "ipsecid"
    ]

    static func object(
        _ c: ObjectClass, _ guid: String, _ record: LDIF.Record, warnings: inout [Diagnostic]
    ) -> Object {
        var o = Object(objectClass: c, guid: guid, location: record.location)
        for (name, values) in record.attributes.sorted(by: { $0.key < $1.key }) {
            let text = values.first.map { String(decoding: $0, as: UTF8.self) }
            switch name {
            case "ipsecname": o.name = text
            case "description": o.description = text
            case "whenchanged": o.whenChanged = text
            case "ipsecdatatype": o.dataType = text.flatMap { UInt32($0) }
            case "ipsecdata": o.data = values.first
            case _ where referenceNames.contains(name):
                o.references[name] = values.compactMap { objectName(String(decoding: $0, as: UTF8.self))?.1 }
            case "ipsecnegotiationpolicyaction", "ipsecnegotiationpolicytype":
                o.attributes[name] = text.flatMap { canonicalGUID(Substring($0)) }
            case _ where ldifIgnored.contains(name): break
            default:
                warnings.append(
                    .warning(
                        "\(c.rawValue)\(guid): the attribute '\(name)' is not one [MS-GPIPSEC] §2.2.1 gives this class: ignored",
                        at: record.location))
            }
        }
        return o
    }
}
