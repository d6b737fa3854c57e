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

    /// One packet from NFLOG.
    public func dropLogged(_ logged: NflogPacket, at time: Date = Date()) {
        if let sequence = logged.sequence {
            if let last = lastLogSequence, sequence &- last > 1, sequence &- last < 1 << 31 {
                startDropInterval(at: time)
                drops?.lost(Int(sequence &- last &- 1))
            }
            lastLogSequence = sequence
        }
        let index = logged.hook == 3 ? logged.outInterface : logged.inInterface
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        let interface = index.flatMap { if_indextoname($0, &name) }
            .map { _ in String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) } ?? ""
        // Another table's log rule may use the group too: only rampart's prefixes are records.
        guard let packet = Packet(headers: logged.payload[...], interface: interface),
              let attribution = LogAttribution(prefix: logged.prefix, packet: packet, ruleset: applied ?? Ruleset()) else { return }
        startDropInterval(at: time)
        drops?.add(attribution, packet, direction: logged.hook == 3 ? "out" : "in", at: time.timeIntervalSince1970)
    }

    /// The kernel could not queue NFLOG packets (ENOBUFS); the sequence numbers say how many when
    /// the next one arrives, so this only makes sure the interval reports the loss.
    public func dropLogOverrun(at time: Date = Date()) {
        startDropInterval(at: time)
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
