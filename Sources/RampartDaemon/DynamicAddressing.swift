import Foundation
import Logging
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartSources

/// The server types' addresses follow the system: resolv.conf for DNS, the default routes for
/// GATEWAY. A change replaces only that type's set elements, in one transaction: no ruleset
/// reload, no counter reset, no window.
extension Daemon {
    /// Called by the watchers; a burst of events becomes one refresh (20 ms later).
    public func sourceChanged(_ type: ServerType) {
        guard refreshPending.insert(type).inserted else { return }
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(2))
            await self?.runPendingRefresh(type)
        }
    }

    func runPendingRefresh(_ type: ServerType) {
        refreshPending.remove(type)
        refreshAddresses(type, apply: true)
    }

    /// Re-reads one source; if its addresses changed, updates the sets in the kernel.
    func refreshAddresses(_ type: ServerType, apply: Bool) {
        let found: [IPAddress]
        let source: String
        switch type {
        case .dns:
            var servers = ResolvConf.nameservers((try? String(contentsOfFile: config.resolvConf, encoding: .utf8)) ?? "")
            var from = config.resolvConf
            if ResolvConf.isResolvedStub(servers) {
                servers = ResolvConf.nameservers((try? String(contentsOfFile: config.resolvedResolvConf, encoding: .utf8)) ?? "")
                from = config.resolvedResolvConf + " (systemd-resolved's upstream servers)"
            }
            found = servers
            source = from
        case .gateway:
            do {
                found = try RouteMonitor.defaultGateways()
            } catch {
                logger.error("cannot read the default routes: \(error); the gateway set keeps its addresses")
                return
            }
            source = "default routes (main table)"
        case .dhcp, .wins:
            let leases = readLeases()
            if type == .dhcp {
                found = unique(leases.flatMap(\.info.dhcpServers))
                source = leases.filter { !$0.info.dhcpServers.isEmpty }.map(\.file).joined(separator: ", ")
            } else {
                let fromSamba = SmbConf.winsServers((try? String(contentsOfFile: config.smbConf, encoding: .utf8)) ?? "")
                found = unique(leases.flatMap(\.info.winsServers) + fromSamba)
                source = (leases.filter { !$0.info.winsServers.isEmpty }.map(\.file) + (fromSamba.isEmpty ? [] : [config.smbConf])).joined(separator: ", ")
            }
        }
        guard found != addresses.addresses(for: type) || provenance[type] == nil else { return }
        let before = addresses.addresses(for: type)
        switch type {
        case .dns: addresses.dns = found
        case .gateway: addresses.gateway = found
        case .dhcp: addresses.dhcp = found
        case .wins: addresses.wins = found
        }
        provenance[type] = (source.isEmpty ? "no lease names one" : source, Date())
        guard apply, before != found else { return }
        updateSets(for: type)
        // Other DNS servers may answer differently for the host names in filters.
        if type == .dns { resolveNames() }
        logger.notice("\(type.rawValue) servers now \(found.isEmpty ? "none" : found.map(\.description).joined(separator: ", ")) (from \(source))")
    }

    /// Replaces the elements of `type`'s sets that the applied ruleset has.
    func updateSets(for type: ServerType) { updateSets(sources: [type.rawValue]) }

    func updateSets(sources: Set<String>) {
        guard var ruleset = applied, enforcing == "policy" else { return }
        let fresh = compiler.compile(store, dynamic: dynamic, addresses: addresses)
        let sets = fresh.sets.filter { set in sources.contains(set.source) && ruleset.sets.contains { $0.name == set.name } }
        guard !sets.isEmpty else { return }
        let clock = ContinuousClock.now
        do {
            try client.replaceElements(of: sets)
            for set in sets {
                if let i = ruleset.sets.firstIndex(where: { $0.name == set.name }) { ruleset.sets[i] = set }
            }
            applied = ruleset
            logger.info("updated \(sets.map(\.name).joined(separator: ", ")) in \(Self.fmt(Self.ms(ContinuousClock.now - clock))) ms")
        } catch {
            fail("updating the \(sources.sorted().joined(separator: ", ")) sets failed; they keep their previous addresses: \(error)")
        }
    }

    /// The host names the effective filters use.
    func hostNames() -> [String] {
        var names = Set<String>()
        for f in EffectiveFilters.collect(store, dynamic: dynamic) {
            for side in [f.source, f.destination] { if case .dnsName(let n, _) = side { names.insert(n) } }
        }
        return names.sorted()
    }

    /// Resolves every host name (all A and AAAA records) on a thread of its own, then updates
    /// their sets; schedules the next refresh. A failed lookup keeps the last known addresses.
    func resolveNames() {
        let names = hostNames()
        guard !names.isEmpty, !resolving else { return }
        resolving = true
        resolveGeneration += 1
        let generation = resolveGeneration
        let thread = Thread { [self] in
            var results: [String: Result<[IPAddress], HostLookupError>] = [:]
            for name in names { results[name] = HostLookup.resolve(name) }
            let finished = results
            Task { await self.namesResolved(finished, generation: generation) }
        }
        thread.start()
    }

    func namesResolved(_ results: [String: Result<[IPAddress], HostLookupError>], generation: Int) {
        resolving = false
        var changed = Set<String>()
        for (name, result) in results {
            switch result {
            case .success(let found):
                nameResolution[name] = (Date(), nil)
                if addresses.names[name] != found {
                    addresses.names[name] = found
                    changed.insert(name)
                    logger.notice("\(name) now resolves to \(found.map(\.description).joined(separator: ", "))")
                }
            case .failure(let error):
                nameResolution[name] = (Date(), error.message)
                logger.warning("\(name): lookup failed (\(error.message)); keeping \((addresses.names[name] ?? []).map(\.description).joined(separator: ", "))")
            }
        }
        if !changed.isEmpty { updateSets(sources: changed) }
        let seconds = config.dnsRefreshSeconds
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(seconds))
            await self?.scheduledResolve(generation)
        }
    }

    /// Only the newest schedule fires: a resolv.conf change restarts the interval.
    func scheduledResolve(_ generation: Int) {
        guard generation == resolveGeneration else { return }
        resolveNames()
    }

    func unique(_ list: [IPAddress]) -> [IPAddress] {
        var out: [IPAddress] = []
        for a in list where !out.contains(a) { out.append(a) }
        return out
    }

    /// Every lease file of every supported DHCP client, parsed.
    func readLeases() -> [(file: String, info: LeaseInfo)] {
        var out: [(String, LeaseInfo)] = []
        func files(_ directory: String, _ accept: (String) -> Bool) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(accept).sorted().map { directory + "/" + $0 }
        }
        func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        for f in files(config.dhclientLeases, { $0.hasSuffix(".leases") || $0.hasSuffix(".lease") }) {
            out += DhclientLeases.parse(text(f)).map { (f, $0) }
        }
        for f in files(config.networkManagerLeases, { $0.hasPrefix("dhclient") && $0.hasSuffix(".lease") }) {
            out += DhclientLeases.parse(text(f)).map { (f, $0) }
        }
        for f in files(config.networkdLeases, { !$0.hasPrefix(".") }) {
            out.append((f, NetworkdLease.parse(text(f))))
        }
        for f in files(config.dhcpcdLeases, { $0.hasSuffix(".lease") || $0.hasSuffix(".lease6") }) {
            let bytes = [UInt8](FileManager.default.contents(atPath: f) ?? Data())
            out.append((f, DhcpcdLease.parseBinary(bytes)))
        }
        return out
    }

    func dynamicText() -> String {
        var lines: [String] = []
        for type in ServerType.allCases {
            let list = addresses.addresses(for: type)
            var line = "\(type.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(list.isEmpty ? "(none)" : list.map(\.description).joined(separator: ", "))"
            if let p = provenance[type] { line += "  from \(p.source), changed \(ISO8601DateFormatter().string(from: p.changed))" }
            lines.append(line)
        }
        for name in hostNames() {
            let list = addresses.names[name] ?? []
            var line = "\(name)  \(list.isEmpty ? "(unresolved)" : list.map(\.description).joined(separator: ", "))"
            if let r = nameResolution[name] {
                line += "  resolved \(ISO8601DateFormatter().string(from: r.at))" + (r.error.map { "; LAST LOOKUP FAILED: \($0)" } ?? "")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func dynamicJSON() -> JSONValue {
        var members: [(String, JSONValue)] = ServerType.allCases.map { type in
            (type.rawValue, .object([
                ("addresses", .array(addresses.addresses(for: type).map { .string($0.description) })),
                ("source", provenance[type].map { .string($0.source) } ?? .null),
                ("changed", provenance[type].map { .string(ISO8601DateFormatter().string(from: $0.changed)) } ?? .null),
            ]))
        }
        members.append(("names", .object(hostNames().map { name in
            (name, .object([
                ("addresses", .array((addresses.names[name] ?? []).map { .string($0.description) })),
                ("resolved", nameResolution[name].map { .string(ISO8601DateFormatter().string(from: $0.at)) } ?? .null),
                ("error", nameResolution[name]?.error.map { .string($0) } ?? .null),
            ]))
        })))
        return .object(members)
    }
}

extension Services {
    /// inotify on resolv.conf (and resolved's file), and rtnetlink route notifications.
    public static func startAddressWatchers(daemon: Daemon, config: DaemonConfig, logger: Logger) {
        let dnsFiles = Set([config.resolvConf, config.resolvedResolvConf])
        let files = FileWatcher(paths: [config.resolvConf, config.resolvedResolvConf, config.smbConf],
                                directories: [config.dhclientLeases, config.networkdLeases, config.dhcpcdLeases, config.networkManagerLeases])
        let fileThread = Thread {
            files.run { path in
                Task {
                    if dnsFiles.contains(path) {
                        await daemon.sourceChanged(.dns)
                    } else {
                        await daemon.sourceChanged(.dhcp)
                        await daemon.sourceChanged(.wins)
                    }
                }
            }
        }
        fileThread.start()
        do {
            let routes = try RouteMonitor()
            let routeThread = Thread {
                routes.run { Task { await daemon.sourceChanged(.gateway) } }
            }
            routeThread.start()
        } catch {
            logger.error("cannot watch the routing table (\(error)); the gateway set will not follow route changes")
        }
    }
}

public struct HostLookupError: Error, Sendable {
    public var message: String
}

/// getaddrinfo(3) for one name: every IPv4 and IPv6 address, in the system resolver's order
/// (so /etc/hosts and nsswitch apply as for every other program).
enum HostLookup {
    static func resolve(_ name: String) -> Result<[IPAddress], HostLookupError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &result)
        guard status == 0, let first = result else {
            return .failure(HostLookupError(message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let sa = info.pointee.ai_addr {
                let v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                let a = IPAddress.v4(v4)
                if !out.contains(a) { out.append(a) }
            } else if info.pointee.ai_family == AF_INET6, let sa = info.pointee.ai_addr {
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                }
                let a = IPAddress.v6(bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) })
                if !out.contains(a) { out.append(a) }
            }
            cursor = info.pointee.ai_next
        }
        return .success(out)
    }
}
