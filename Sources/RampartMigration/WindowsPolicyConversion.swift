import RampartPolicy

/// Windows' policy objects as the store objects the equivalent netsh commands create: each
/// ipsecFilter a filter list, each standard ipsecNegotiationPolicy a filter action, each
/// ipsecPolicy a policy with its ISAKMP settings, its rules (ipsecNFA) and its default response
/// rule, and the assignment. What cannot be carried over is said, naming the object (class,
/// GUID, name) and the field; a blob that does not decode is an error (nothing is imported).
public struct WindowsPolicyConversion: Sendable {
    public var store = PolicyStore()
    public var diagnostics: [Diagnostic] = []
    /// One line per object read: `ipsecFilter{…} "Web In", whenChanged 1165238076`.
    public var provenance: [String] = []

    let objects: [WindowsPolicyObjects.Object]
    /// Netsh names given so far, by class and GUID.
    var names: [WindowsPolicyObjects.ObjectClass: [String: String]] = [:]

    init(_ objects: WindowsPolicyObjects) {
        self.objects = objects.objects
        diagnostics = objects.warnings
    }

    /// The store the objects make, with every warning.
    public static func convert(_ objects: WindowsPolicyObjects) throws(Diagnostic) -> WindowsPolicyConversion {
        var c = WindowsPolicyConversion(objects)
        for o in c.objects {
            let name = o.name.map { "\"\($0)\"" } ?? "(no name)"
            c.provenance.append(
                "\(o.objectClass.rawValue)\(o.guid) \(name)" + (o.whenChanged.map { ", whenChanged \($0)" } ?? ""))
        }
        for o in c.objects(.filter) { try c.addFilterList(o) }
        for o in c.objects(.negotiation) where o.attributes["ipsecnegotiationpolicytype"] != defaultResponseType {
            try c.addFilterAction(o)
        }
        for o in c.objects(.policy) { try c.addPolicy(o) }
        c.warnOrphans()
        if let active = objects.activePolicy {
            if let i = c.store.policies.firstIndex(where: { $0.guid == active }) {
                c.store.policies[i].assigned = true
            } else {
                c.warn("the assigned policy ipsecPolicy\(active) is not in the file: no policy is assigned", at: nil)
            }
        }
        return c
    }

    static let defaultResponseType = "{62F49E13-6C37-11D1-864C-14A300000000}"

    func objects(_ c: WindowsPolicyObjects.ObjectClass) -> [WindowsPolicyObjects.Object] {
        objects.filter { $0.objectClass == c }
    }

    func object(_ c: WindowsPolicyObjects.ObjectClass, _ guid: String?) -> WindowsPolicyObjects.Object? {
        guard let guid else { return nil }
        return objects.first { $0.objectClass == c && $0.guid == guid }
    }

    /// `ipsecFilter{…} "Web In"`: how a diagnostic names an object.
    static func label(_ o: WindowsPolicyObjects.Object) -> String {
        "\(o.objectClass.rawValue)\(o.guid)" + (o.name.map { $0.isEmpty ? "" : " \"\($0)\"" } ?? "")
    }

    mutating func warn(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.warning(message, at: location))
    }

    /// The blob, decoded; an error names the object and where in the blob it went wrong.
    static func decoded<T>(
        _ o: WindowsPolicyObjects.Object, _ decode: ([UInt8]) throws(BlobError) -> T
    )
        throws(Diagnostic) -> T
    {
        guard let data = o.data else { throw .error("\(label(o)): no ipsecData", at: o.location) }
        if let type = o.dataType, type != 256 {
            throw .error("\(label(o)): ipsecDataType is \(type), not 256 ([MS-GPIPSEC] §2.2.1)", at: o.location)
        }
        do {
            return try decode(data)
        } catch {
            throw .error("\(label(o)): ipsecData \(error)", at: o.location)
        }
    }

    /// What a blob held beyond its fields: bytes after the structure, zero fields with data.
    mutating func report(_ o: WindowsPolicyObjects.Object, leftover: Int, reserved: [String] = []) {
        if leftover > 0 {
            warn("\(Self.label(o)): \(leftover) byte(s) after its ipsecData's fields: ignored", at: o.location)
        }
        if !reserved.isEmpty {
            warn(
                "\(Self.label(o)): ipsecData field(s) \(reserved.joined(separator: ", ")) hold data, which [MS-GPIPSEC] §2.2.1 says to ignore: ignored",
                at: o.location)
        }
    }

    /// A netsh name for the object: its ipsecName, else its description, else class and GUID;
    /// made unique among its class's names.
    mutating func name(_ o: WindowsPolicyObjects.Object, fallback: String) -> String {
        if let known = names[o.objectClass]?[o.guid] { return known }
        var base =
            (o.name?.isEmpty == false ? o.name : nil) ?? (o.description?.isEmpty == false ? o.description : nil)
            ?? "\(fallback) \(o.guid.dropFirst().prefix(8))"
        if base.contains("\"") {
            base = String(base.map { $0 == "\"" ? "'" : $0 })
            warn("\(Self.label(o)): a name holds '\"', which netsh cannot quote: it is \(base) here", at: o.location)
        }
        let used = Set((names[o.objectClass] ?? [:]).values.map { $0.lowercased() })
        var unique = base
        var n = 2
        while used.contains(unique.lowercased()) {
            unique = "\(base) (\(n))"
            n += 1
        }
        if unique != base {
            warn("\(Self.label(o)): another object has its name: it is \(unique) here", at: o.location)
        }
        names[o.objectClass, default: [:]][o.guid] = unique
        return unique
    }

    /// The equivalent netsh script, for `exec` (and for review: `import --dry-run --netsh`), its
    /// first lines naming every object read with its GUID and whenChanged.
    public func script(source: String) -> String {
        var lines = ["# netsh commands equivalent to the Windows policy objects of \(source):"]
        lines += provenance.map { "#   \($0)" }
        lines.append("pushd ipsec static")
        lines += ScriptWriter.commands(for: store)
        lines.append("popd")
        return lines.joined(separator: "\n") + "\n"
    }
}
