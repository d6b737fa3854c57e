import FoundationEssentials
import Glibc
import Logging
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartSources
import RampartSystem

/// The address book: the server types' addresses follow the system — resolv.conf for DNS, the
/// default routes for GATEWAY, DHCP leases and smb.conf for DHCP and WINS — and host names in
/// filters follow DNS. A change replaces only the affected sets' elements, in one transaction:
/// no ruleset reload, no counter reset, no window.
extension PolicyEngine {
    /// Called by the watchers; a burst of events becomes one refresh (a timer, 2 ms later).
    public func sourceChanged(_ type: ServerType) {
        guard timers[.refresh(type)] == nil else { return }
        schedule(.refresh(type), after: .milliseconds(2))
    }

    /// Re-reads one source; if its addresses changed, updates the sets in the kernel. A source
    /// that cannot be read (a FIFO, a device, too large, EMFILE…) keeps the last good addresses
    /// and shows as a problem until it reads again: a failed read is never "no servers".
    func refreshAddresses(_ type: ServerType, apply: Bool) {
        let found: [IPAddress]
        let source: String
        let area = ProblemArea(type)
        func unreadable(_ message: String) {
            report(area, "\(type.rawValue) servers: \(message); the \(type.rawValue) set keeps \(addresses.addresses(for: type).map(\.description).joined(separator: ", ").nonEmpty ?? "no addresses")")
        }
        switch type {
        case .dns:
            var from = config.resolvConf
            var servers: [IPAddress]
            // resolv.conf is replaced, not removed: a moment without it (rm, then write) must not
            // empty the set. Only with no servers known yet does a missing file mean none.
            if !addresses.dns.isEmpty && !SourceFile.exists(config.resolvConf) {
                return unreadable("\(config.resolvConf) is missing")
            }
            switch SourceFile.read(config.resolvConf, limit: SourceFile.resolvConfLimit) {
            case .success(let bytes): servers = ResolvConf.nameservers(bytes: bytes)
            case .failure(let e): return unreadable(e.message)
            }
            if ResolvConf.isResolvedStub(servers) {
                switch SourceFile.read(config.resolvedResolvConf, limit: SourceFile.resolvConfLimit) {
                case .success(let bytes): servers = ResolvConf.nameservers(bytes: bytes)
                case .failure(let e): return unreadable(e.message)
                }
                from = config.resolvedResolvConf + " (systemd-resolved's upstream servers)"
            }
            found = servers
            source = from
        case .gateway:
            switch environment.gateways() {
            case .success(let gateways): found = trustedGateways(gateways)
            case .failure(let error): return unreadable("cannot read the default routes: \(error)")
            }
            source = "default routes (main table)"
        case .dhcp, .wins:
            let leases: [(file: String, info: LeaseInfo)]
            switch readLeases() {
            case .success(let l): leases = l
            case .failure(let e): return unreadable(e.message)
            }
            if type == .dhcp {
                found = unique(leases.flatMap(\.info.dhcpServers))
                source = leases.filter { !$0.info.dhcpServers.isEmpty }.map(\.file).joined(separator: ", ")
            } else {
                let fromSamba: [IPAddress]
                switch SourceFile.read(config.smbConf, limit: SourceFile.leaseLimit) {
                case .success(let bytes): fromSamba = SmbConf.winsServers(String(decoding: bytes, as: UTF8.self))
                case .failure(let e): return unreadable(e.message)
                }
                found = unique(leases.flatMap(\.info.winsServers) + fromSamba)
                source = (leases.filter { !$0.info.winsServers.isEmpty }.map(\.file) + (fromSamba.isEmpty ? [] : [config.smbConf])).joined(separator: ", ")
            }
        }
        clearProblem(area)
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
        guard case .policy(var ruleset) = enforcement else { return }
        let fresh = compiler.compile(store, dynamic: dynamic, addresses: addresses, at: wallNow)
        let sets = fresh.sets.filter { set in sources.contains(set.source) && ruleset.sets.contains { $0.name == set.name } }
        guard !sets.isEmpty else { return }
        let clock = ContinuousClock.now
        do {
            try client.replaceElements(of: sets)
            ownGeneration = try? client.generation()
            for set in sets {
                if let i = ruleset.sets.firstIndex(where: { $0.name == set.name }) { ruleset.sets[i] = set }
            }
            enforcement = .policy(ruleset)
            clearProblem(.sets)
            logger.info("updated \(sets.map(\.name).joined(separator: ", ")) in \(Self.fmt(Self.ms(ContinuousClock.now - clock))) ms")
        } catch {
            report(.sets, "updating the \(sources.sorted().joined(separator: ", ")) sets failed; they keep their previous addresses: \(error)")
            return
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

    /// Hands every host name to the lookup service (all A and AAAA records, off the engine);
    /// `namesResolved` updates their sets and schedules the next round. A failed lookup keeps
    /// the last known addresses.
    func resolveNames() {
        let names = hostNames()
        guard !names.isEmpty, !resolving else { return }
        resolving = true
        cancelTimer(.resolveNames)
        lookupQueue = names
        lookupBell.ring()
    }

    /// For the lookup service: the names to resolve now, if any.
    public func takeLookups() -> [String]? {
        defer { lookupQueue = nil }
        return lookupQueue
    }

    public func namesResolved(_ results: [String: Result<[IPAddress], HostLookupError>]) {
        resolving = false
        var changed = Set<String>()
        for (name, result) in results.sorted(by: { $0.key < $1.key }) {
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
        // A resolv.conf change resolves at once and restarts this interval.
        schedule(.resolveNames, after: .seconds(config.dnsRefreshSeconds))
    }

    /// The routers of the default routes, less those learned from router advertisements unless
    /// `gateway_from_router_advertisements` says so; either way each such router is logged once.
    func trustedGateways(_ gateways: [DefaultGateway]) -> [IPAddress] {
        let advertised = gateways.filter(\.fromRouterAdvertisement).map(\.address)
        if advertised != advertisedRouters {
            advertisedRouters = advertised
            for router in advertised {
                if config.gatewayFromRouterAdvertisements {
                    logger.notice("GATEWAY: \(router) is a default router by a router advertisement; taken (gateway_from_router_advertisements = yes)")
                } else {
                    logger.warning("GATEWAY: \(router) is a default router by a router advertisement, which anyone on the link can send; not taken as a GATEWAY (set gateway_from_router_advertisements = yes to trust them)")
                }
            }
        }
        return unique(gateways.filter { !$0.fromRouterAdvertisement || config.gatewayFromRouterAdvertisements }.map(\.address))
    }

    func unique(_ list: [IPAddress]) -> [IPAddress] {
        var out: [IPAddress] = []
        for a in list where !out.contains(a) { out.append(a) }
        return out
    }

    /// Every current lease of every supported DHCP client, parsed; the first file that cannot be
    /// read (or directory listed) fails the whole reading, so the sets keep their last good
    /// addresses. Expired leases are left out, and the sets are read again when the next current
    /// one expires (a lease that ends while its file stays as it is).
    func readLeases() -> Result<[(file: String, info: LeaseInfo)], SourceFile.Failure> {
        let now = environment.wallClock()
        var out: [(String, LeaseInfo)] = []
        func files(_ directories: [String], _ accept: (String) -> Bool) throws(SourceFile.Failure) -> [String] {
            var all: [String] = []
            for directory in directories { all += try SourceFile.list(directory).filter(accept).sorted().map { directory + "/" + $0 } }
            return all
        }
        func text(_ f: String) throws(SourceFile.Failure) -> String { String(decoding: try SourceFile.read(f, limit: SourceFile.leaseLimit).get(), as: UTF8.self) }
        do throws(SourceFile.Failure) {
            for f in try files(config.dhclientLeases, { $0.hasSuffix(".leases") || $0.hasSuffix(".lease") }) {
                out += DhclientLeases.parse(try text(f), now: now).map { (f, $0) }
            }
            for f in try files(config.networkManagerLeases, { $0.hasPrefix("dhclient") && $0.hasSuffix(".lease") }) {
                out += DhclientLeases.parse(try text(f), now: now).map { (f, $0) }
            }
            // networkd removes a lease file when the lease ends.
            for f in try files(config.networkdLeases, { !$0.hasPrefix(".") }) {
                out.append((f, NetworkdLease.parse(try text(f))))
            }
            for f in try files(config.dhcpcdLeases, { $0.hasSuffix(".lease") || $0.hasSuffix(".lease6") }) {
                var lease = DhcpcdLease.parseBinary(try SourceFile.read(f, limit: SourceFile.leaseLimit).get())
                // dhcpcd rewrites the file at each renewal: the lease runs from then.
                var info = stat()
                if let seconds = lease.leaseSeconds, seconds != UInt32.max, stat(f, &info) == 0 {
                    lease.expires = Double(info.st_mtim.tv_sec) + Double(seconds)
                }
                if (lease.expires ?? .infinity) > now { out.append((f, lease)) }
            }
        } catch {
            return .failure(error)
        }
        // Its own timer: the debounce slot of `sourceChanged` must stay free for the next change.
        if let next = out.compactMap(\.1.expires).min() {
            schedule(.leaseExpiry, after: .seconds(max(1, Int((next - now).rounded(.up)))))
        } else {
            cancelTimer(.leaseExpiry)
        }
        return .success(out)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
