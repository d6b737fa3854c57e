import CNetfilter
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
            do {
                found = try RouteMonitor.defaultGateways()
            } catch {
                return unreadable("cannot read the default routes: \(error)")
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
        guard var ruleset = applied, enforcing == .policy else { return }
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

    /// Every lease file of every supported DHCP client, parsed; the first that cannot be read
    /// (or listed) fails the whole reading, so the sets keep their last good addresses.
    func readLeases() -> Result<[(file: String, info: LeaseInfo)], SourceFile.Failure> {
        var out: [(String, LeaseInfo)] = []
        func files(_ directory: String, _ accept: (String) -> Bool) throws(SourceFile.Failure) -> [String] {
            try SourceFile.list(directory).filter(accept).sorted().map { directory + "/" + $0 }
        }
        do throws(SourceFile.Failure) {
            for f in try files(config.dhclientLeases, { $0.hasSuffix(".leases") || $0.hasSuffix(".lease") }) {
                out += DhclientLeases.parse(String(decoding: try SourceFile.read(f, limit: SourceFile.leaseLimit).get(), as: UTF8.self)).map { (f, $0) }
            }
            for f in try files(config.networkManagerLeases, { $0.hasPrefix("dhclient") && $0.hasSuffix(".lease") }) {
                out += DhclientLeases.parse(String(decoding: try SourceFile.read(f, limit: SourceFile.leaseLimit).get(), as: UTF8.self)).map { (f, $0) }
            }
            for f in try files(config.networkdLeases, { !$0.hasPrefix(".") }) {
                out.append((f, NetworkdLease.parse(String(decoding: try SourceFile.read(f, limit: SourceFile.leaseLimit).get(), as: UTF8.self))))
            }
            for f in try files(config.dhcpcdLeases, { $0.hasSuffix(".lease") || $0.hasSuffix(".lease6") }) {
                out.append((f, DhcpcdLease.parseBinary(try SourceFile.read(f, limit: SourceFile.leaseLimit).get())))
            }
        } catch {
            return .failure(error)
        }
        return .success(out)
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

extension Daemon.ProblemArea {
    init(_ type: ServerType) {
        switch type {
        case .dns: self = .dns
        case .gateway: self = .gateway
        case .dhcp: self = .dhcp
        case .wins: self = .wins
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// Reads the files addresses come from, bounded: a regular file only (opened without blocking,
/// so a FIFO cannot hang the daemon), at most `limit` bytes. A missing file is empty: that is
/// a real "none" (no lease yet, no resolv.conf); anything else that fails is a failure.
enum SourceFile {
    static let resolvConfLimit = 1 << 20
    static let leaseLimit = 4 << 20

    struct Failure: Error, Sendable {
        var message: String
    }

    static func read(_ path: String, limit: Int) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return .success([]) }
            return .failure(Failure(message: "cannot read \(path): \(String(cString: strerror(code)))"))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(Failure(message: "cannot read \(path): \(String(cString: strerror(errno)))")) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(Failure(message: "\(path) is not a regular file")) }
        guard Int(info.st_size) <= limit else { return .failure(Failure(message: "\(path) is \(info.st_size) bytes, over the \(limit)-byte limit")) }
        var bytes = [UInt8](repeating: 0, count: min(limit + 1, Int(info.st_size) + 4096))
        var count = 0
        while count <= limit {
            if count == bytes.count { bytes += [UInt8](repeating: 0, count: min(bytes.count, limit + 1 - bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Failure(message: "cannot read \(path): \(String(cString: strerror(errno)))"))
            }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else { return .failure(Failure(message: "\(path) grew over the \(limit)-byte limit while being read")) }
        return .success(Array(bytes[0..<count]))
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// A directory's entries; a missing directory has none.
    static func list(_ directory: String) throws(Failure) -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw Failure(message: "cannot list \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
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
