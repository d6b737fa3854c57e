import FoundationEssentials
import Glibc
import Logging
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartSources
import RampartSystem

/// The address book's side effects (its state is `AddressBook`): the server types' addresses follow the system — resolv.conf for DNS, the
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
        let area = ProblemArea(type)
        let found: [IPAddress], source: String
        switch readSource(type) {
        case .success(let read): (found, source) = read
        case .failure(let failure):
            let kept =
                book.addresses.addresses(for: type).map(\.description).joined(separator: ", ").nonEmpty
                ?? "no addresses"
            return report(area, "\(type.rawValue) servers: \(failure.message); the \(type.rawValue) set keeps \(kept)")
        }
        clearProblem(area)
        guard book.record(type, found, source: source, at: Date()), apply else { return }
        updateSets(for: type)
        // Other DNS servers may answer differently for the host names in filters.
        if type == .dns { resolveNames() }
        logger.notice(
            "\(type.rawValue) servers now \(found.isEmpty ? "none" : found.map(\.description).joined(separator: ", ")) (from \(source))"
        )
    }

    struct SourceFailure: Error {
        var message: String
    }

    /// One server type's addresses as its source has them now, and what that source is.
    func readSource(_ type: ServerType) -> Result<([IPAddress], String), SourceFailure> {
        switch type {
        case .dns: return readResolvConf()
        case .gateway:
            switch environment.gateways() {
            case .success(let gateways):
                let (trusted, effects) = book.trustedGateways(
                    gateways, trustAdvertised: config.gatewayFromRouterAdvertisements)
                perform(effects)
                return .success((trusted, "default routes (main table)"))
            case .failure(let error):
                return .failure(SourceFailure(message: "cannot read the default routes: \(error)"))
            }
        case .dhcp, .wins:
            let leases: [(file: String, info: LeaseInfo)]
            switch readLeases() {
            case .success(let l): leases = l
            case .failure(let e): return .failure(SourceFailure(message: e.message))
            }
            if type == .dhcp {
                return .success(
                    (
                        AddressBook.unique(leases.flatMap(\.info.dhcpServers)),
                        leases.filter { !$0.info.dhcpServers.isEmpty }.map(\.file).joined(separator: ", ")
                    ))
            }
            let fromSamba: [IPAddress]
            switch SourceFile.read(config.smbConf, limit: SourceFile.leaseLimit) {
            case .success(let bytes): fromSamba = SmbConf.winsServers(String(decoding: bytes, as: UTF8.self))
            case .failure(let e): return .failure(SourceFailure(message: e.message))
            }
            let files =
                leases.filter { !$0.info.winsServers.isEmpty }.map(\.file) + (fromSamba.isEmpty ? [] : [config.smbConf])
            return .success(
                (AddressBook.unique(leases.flatMap(\.info.winsServers) + fromSamba), files.joined(separator: ", ")))
        }
    }

    /// resolv.conf is replaced, not removed: a moment without it (rm, then write) must not empty
    /// the set. Only with no servers known yet does a missing file mean none.
    func readResolvConf() -> Result<([IPAddress], String), SourceFailure> {
        if !book.addresses.dns.isEmpty && !SourceFile.exists(config.resolvConf) {
            return .failure(SourceFailure(message: "\(config.resolvConf) is missing"))
        }
        let servers: [IPAddress]
        switch SourceFile.read(config.resolvConf, limit: SourceFile.resolvConfLimit) {
        case .success(let bytes): servers = ResolvConf.nameservers(bytes: bytes)
        case .failure(let e): return .failure(SourceFailure(message: e.message))
        }
        guard ResolvConf.isResolvedStub(servers) else { return .success((servers, config.resolvConf)) }
        switch SourceFile.read(config.resolvedResolvConf, limit: SourceFile.resolvConfLimit) {
        case .success(let bytes):
            return .success(
                (
                    ResolvConf.nameservers(bytes: bytes),
                    config.resolvedResolvConf + " (systemd-resolved's upstream servers)"
                ))
        case .failure(let e): return .failure(SourceFailure(message: e.message))
        }
    }

    /// Replaces the elements of `type`'s sets that the applied ruleset has.
    func updateSets(for type: ServerType) { updateSets(sources: [type.rawValue]) }

    /// `onlyChanged`: leave out the sets whose elements the ruleset in force already has (after a
    /// restore, which puts back the ruleset as last enforced).
    func updateSets(sources: Set<String>, onlyChanged: Bool = false) {
        guard case .policy(var ruleset) = enforcement else { return }
        let fresh = compiler.compile(store, dynamic: dynamic, addresses: book.addresses, at: wallNow)
        let sets = fresh.sets.filter { set in
            sources.contains(set.source)
                && ruleset.sets.contains { $0.name == set.name && (!onlyChanged || $0.elements != set.elements) }
        }
        guard !sets.isEmpty else {
            if onlyChanged { clearProblem(.sets) }
            return
        }
        let clock = ContinuousClock.now
        do {
            try client.replaceElements(of: sets)
            for set in sets {
                if let i = ruleset.sets.firstIndex(where: { $0.name == set.name }) { ruleset.sets[i] = set }
            }
            table.enforced(.policy(ruleset), generation: try? client.generation())
            clearProblem(.sets)
            logger.info(
                "updated \(sets.map(\.name).joined(separator: ", ")) in \(Self.fmt(Self.ms(ContinuousClock.now - clock))) ms"
            )
        } catch {
            report(
                .sets,
                "updating the \(sources.sorted().joined(separator: ", ")) sets failed; they keep their previous addresses: \(error)"
            )
            return
        }
    }

    /// The host names the effective filters use.
    func hostNames() -> [String] { EffectiveFilters.hostNames(store, dynamic: dynamic) }

    /// Hands every host name to the lookup service (all A and AAAA records, off the engine);
    /// `namesResolved` updates their sets and schedules the next round. A failed lookup keeps
    /// the last known addresses.
    func resolveNames() { perform(book.resolve(hostNames())) }

    /// For the lookup service: the names to resolve now, if any.
    public func takeLookups() -> [String]? { book.takeLookups() }

    public func namesResolved(_ results: [String: Result<[IPAddress], HostLookupError>]) {
        // A resolv.conf change resolves at once and restarts this interval.
        perform(book.resolved(results, at: Date(), refresh: .seconds(config.dnsRefreshSeconds)))
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
            for directory in directories {
                all += try SourceFile.list(directory).filter(accept).sorted().map { directory + "/" + $0 }
            }
            return all
        }
        func text(_ f: String) throws(SourceFile.Failure) -> String {
            String(decoding: try SourceFile.read(f, limit: SourceFile.leaseLimit).get(), as: UTF8.self)
        }
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
