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
            try? await Task.sleep(for: .milliseconds(20))
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
        logger.notice("\(type.rawValue) servers now \(found.isEmpty ? "none" : found.map(\.description).joined(separator: ", ")) (from \(source))")
    }

    /// Replaces the elements of `type`'s sets that the applied ruleset has.
    func updateSets(for type: ServerType) {
        guard var ruleset = applied, enforcing == "policy" else { return }
        let fresh = compiler.compile(store, dynamic: dynamic, addresses: addresses)
        let sets = fresh.sets.filter { set in set.source == type.rawValue && ruleset.sets.contains { $0.name == set.name } }
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
            fail("updating the \(type.rawValue) sets failed; they keep their previous addresses: \(error)")
        }
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
        return lines.joined(separator: "\n") + "\n"
    }

    func dynamicJSON() -> JSONValue {
        .object(ServerType.allCases.map { type in
            (type.rawValue, .object([
                ("addresses", .array(addresses.addresses(for: type).map { .string($0.description) })),
                ("source", provenance[type].map { .string($0.source) } ?? .null),
                ("changed", provenance[type].map { .string(ISO8601DateFormatter().string(from: $0.changed)) } ?? .null),
            ]))
        })
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
