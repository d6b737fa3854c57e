import RampartPolicy

/// What a one-shot compile says about server types and host names that have no addresses: their
/// sets are empty, so the filters that name them match nothing (a DNS permit then blocks DNS).
/// rampartd keeps the sets live; `rampart apply` and `compile` know only `--addresses`.
public enum EmptyAddresses {
    public static func warnings(_ filters: [ActiveFilter], addresses: DynamicAddresses) -> [String] {
        var naming: [String: [String]] = [:]
        var order: [String] = []
        for f in filters {
            let id = f.isMirror && f.id.hasSuffix("m") ? String(f.id.dropLast()) : f.id
            for spec in [f.source, f.destination] {
                guard let what = emptyName(spec, addresses) else { continue }
                if naming[what] == nil { order.append(what) }
                if naming[what]?.contains(id) != true { naming[what, default: []].append(id) }
            }
        }
        return order.map { what in
            let ids = naming[what] ?? []
            return
                "\(what) has no addresses here: the \(ids.count == 1 ? "filter that names it" : "\(ids.count) filters that name it") (\(ids.joined(separator: ", "))) \(ids.count == 1 ? "matches" : "match") nothing; without rampartd, give the addresses with --addresses FILE (rampartd keeps these sets live from resolv.conf, leases, routes and DNS)"
        }
    }

    static func emptyName(_ spec: AddressSpec, _ addresses: DynamicAddresses) -> String? {
        switch spec {
        case .server(let type): return addresses.addresses(for: type).isEmpty ? type.rawValue : nil
        case .dnsName(let name, _): return (addresses.names[name.lowercased()] ?? []).isEmpty ? name : nil
        default: return nil
        }
    }
}
