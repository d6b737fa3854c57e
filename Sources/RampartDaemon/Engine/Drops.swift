import FoundationEssentials
import Glibc
import Logging
import RampartCompiler
import RampartNetlink
import RampartReport
import RampartSystem

/// Drop logging: the packets the ruleset's log rules hand to NFLOG, attributed to the filter that
/// dropped them and aggregated per `ipsecloginterval` (reference §10). At the end of the interval
/// of the first drop, one record per aggregate and a total go to the log; no timer runs while
/// nothing is dropped.
extension PolicyEngine {
    /// Distinct records per interval; past it drops are counted per filter as not itemised.
    static let dropRecordLimit = 1000

    /// Packets from NFLOG, and what the reader counted as lost since the last batch (`DropQueue`).
    public func dropsLogged(_ packets: [NflogPacket], lost: Int = 0, overrun: Bool = false, at time: Date = Date()) {
        if lost > 0 || overrun {
            startDropInterval(at: time)
            drops?.lost(lost)
        }
        let ruleset = applied ?? Ruleset()
        for logged in packets {
            let outbound = logged.hook == 3
            let interface = (outbound ? logged.outInterface : logged.inInterface).map(interfaceName) ?? ""
            // Another table's log rule may use the group too: only rampart's prefixes are records.
            guard let packet = Packet(headers: logged.payload[...], interface: interface),
                  let attribution = LogAttribution(prefix: logged.prefix, packet: packet, ruleset: ruleset) else { continue }
            startDropInterval(at: time)
            drops?.add(attribution, packet, direction: outbound ? "out" : "in", at: time.timeIntervalSince1970)
        }
    }

    /// Names by index, cached for the interval: a flood must not cost an ioctl per packet.
    private func interfaceName(_ index: UInt32) -> String {
        if let known = interfaceNames[index] { return known }
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        let found = if_indextoname(index, &name) != nil
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        interfaceNames[index] = found
        return found
    }

    func startDropInterval(at time: Date) {
        guard drops == nil else { return }
        drops = DropAggregator(limit: Self.dropRecordLimit, start: time.timeIntervalSince1970)
        schedule(.dropSummary, after: .seconds(store.config.ipsecLogInterval))
    }

    /// The interval's records and total, to the log.
    func summariseDrops(at time: Date = Date()) {
        guard var current = drops else { return }
        let summary = current.finish(at: time.timeIntervalSince1970)
        drops = nil
        interfaceNames = [:]
        lastDropSummary = summary
        let origins = CounterListing.origins(store, dynamic: dynamic)
        func when(_ t: Double) -> String { Date(timeIntervalSince1970: t).formatted(.iso8601) }
        for r in summary.records {
            let k = r.key
            let what = k.kind == .filter ? (k.filter.map { "\($0)\(origins[$0].map { " [\($0)]" } ?? "")" } ?? "a grouped filter no longer in force") : (k.kind == .boot ? "boot mode" : "invalid")
            let proto = NftRenderer.protocolName(k.proto)
            let port = k.port.map { k.proto == 1 || k.proto == 58 ? " type \($0)" : " port \($0)" } ?? ""
            logger.notice("drop \(k.direction) \(what): \(proto) \(k.source) -> \(k.destination)\(port), \(r.count) packet(s), first \(when(r.first)), last \(when(r.last))")
        }
        if let path = config.logFile, !summary.records.isEmpty {
            var filterOrigins: [String: FilterOrigin] = [:]
            for f in EffectiveFilters.collect(store, dynamic: dynamic) { filterOrigins[f.id] = f.origin }
            let file = LogFile(path: path, maxBytes: config.logFileMaxBytes, header: W3CLog.header(software: "rampartd"))
            do {
                try file.append(W3CLog.lines(summary, origins: filterOrigins))
                clearProblem(.logFile)
            } catch {
                report(.logFile, "the drop log \(path) cannot be written (\(error)); its records are in this log only")
            }
        }
        let notItemised = summary.notItemised.values.reduce(0, +)
        logger.notice("drops from \(when(summary.start)) to \(when(summary.end)): \(summary.total) logged (\(summary.itemised) in \(summary.records.count) record(s), \(notItemised) not itemised), \(summary.lost) lost")
    }

    /// Whether an interval's summary is due (none while nothing is dropped).
    var dropIntervalRunning: Bool { timers[.dropSummary] != nil }

    /// The last interval's summary, for tests and status.
    public func lastDrops() -> DropAggregator.Summary? { lastDropSummary }
}
