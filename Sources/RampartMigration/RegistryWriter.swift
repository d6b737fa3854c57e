/// Windows' policy objects as a regedit export ("Windows Registry Editor Version 5.00"): the
/// keys of the local store with the values §2.2.1 gives each class, references as registry
/// paths (REG_SZ for the single ones, REG_MULTI_SZ for the lists), and `ActivePolicy`.
/// The caller writes it as regedit does (UTF-16LE with a BOM, CRLF) for `reg import`.
extension WindowsPolicyObjects {
    static let localKey = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local"
    static let localPath = "SOFTWARE\\Policies\\Microsoft\\Windows\\IPSec\\Policy\\Local"
    static let singleReferences: Set<String> = ["ipsecnegotiationpolicyreference", "ipsecisakmpreference"]
    static let referenceSpelling: [String: String] = [
        "ipsecownersreference": "ipsecOwnersReference", "ipsecnfareference": "ipsecNFAReference",
        "ipsecfilterreference": "ipsecFilterReference",
        "ipsecnegotiationpolicyreference": "ipsecNegotiationPolicyReference",
        "ipsecisakmpreference": "ipsecISAKMPReference"
    ]

    /// Version 5 (regedit since Windows 2000 SP… and XP), or 4 (`REGEDIT4`: multi-strings as
    /// single bytes, for Windows 2000's regedit).
    public func registryExport(version: Int = 5) -> String {
        var lines = [version == 4 ? "REGEDIT4" : "Windows Registry Editor Version 5.00", "", "[\(Self.localKey)]"]
        if let activePolicy {
            lines.append("\"ActivePolicy\"=\(Self.string("\(Self.localPath)\\ipsecPolicy\(activePolicy)"))")
        }
        for o in objects {
            lines += ["", "[\(Self.localKey)\\\(o.objectClass.rawValue)\(o.guid)]"]
            if let name = o.name { lines.append("\"ipsecName\"=\(Self.string(name))") }
            if let d = o.description { lines.append("\"description\"=\(Self.string(d))") }
            lines.append("\"ipsecID\"=\(Self.string(o.guid))")
            lines.append("\"ipsecDataType\"=dword:\(Self.hex32(o.dataType ?? 256))")
            if let data = o.data { lines.append(Self.hex("\"ipsecData\"=hex:", data)) }
            if let t = o.whenChanged.flatMap({ UInt32($0) }) { lines.append("\"whenChanged\"=dword:\(Self.hex32(t))") }
            for (key, value) in o.attributes.sorted(by: { $0.key < $1.key }) {
                let spelled =
                    key == "ipsecnegotiationpolicyaction"
                    ? "ipsecNegotiationPolicyAction" : "ipsecNegotiationPolicyType"
                lines.append("\"\(spelled)\"=\(Self.string(value))")
            }
            for (key, guids) in o.references.sorted(by: { $0.key < $1.key }) {
                lines.append(reference(key, guids, version: version))
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    func reference(_ key: String, _ guids: [String], version: Int) -> String {
        let paths = guids.map { guid in
            "\(Self.localPath)\\\(objects.first { $0.guid == guid }?.objectClass.rawValue ?? "ipsecPolicy")\(guid)"
        }
        let name = "\"\(Self.referenceSpelling[key] ?? key)\"="
        if Self.singleReferences.contains(key), paths.count == 1 { return name + Self.string(paths[0]) }
        var units: [UInt16] = []
        for p in paths { units += Array(p.utf16) + [0] }
        units.append(0)
        let bytes =
            version == 4
            ? units.map { UInt8(truncatingIfNeeded: $0) } : units.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        return Self.hex(name + "hex(7):", bytes)
    }

    static func string(_ s: String) -> String {
        "\"" + s.reduce(into: "") { out, c in out += c == "\\" || c == "\"" ? "\\\(c)" : String(c) } + "\""
    }

    static func hex32(_ v: UInt32) -> String { String(v, radix: 16).leftPadded(8) }

    /// `prefix` then the bytes as regedit writes them: lines of at most 80 columns, `\` continued.
    static func hex(_ prefix: String, _ bytes: [UInt8]) -> String {
        var out = prefix
        var column = prefix.count
        for (i, b) in bytes.enumerated() {
            let item = String(b, radix: 16).leftPadded(2) + (i + 1 < bytes.count ? "," : "")
            if column + item.count > 78 && i + 1 < bytes.count {
                out += "\\\r\n  "
                column = 2
            }
            out += item
            column += item.count
        }
        return out
    }
}
