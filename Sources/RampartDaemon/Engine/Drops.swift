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
    /// rampartd.conf's `log_interval_seconds`, else the store's `ipsecloginterval`.
    var dropInterval: Int { config.logIntervalSeconds ?? store.config.ipsecLogInterval }

    /// Distinct records per interval (`log_records`), at most 100 per second of it: far below the
    /// journal's 10,000 per 30 s whatever the flood.
    var dropRecordLimit: Int { min(config.logRecords, 100 * dropInterval) }

    /// Packets from NFLOG, and what the reader counted as lost since the last batch (`DropQueue`).
    public func dropsLogged(_ packets: [NflogPacket], lost: Int = 0, overrun: Bool = false, at time: Date = Date()) {
        if lost > 0 || overrun {
            startDropInterval(at: time)
            drops?.lost(lost)
        }
        if overrun && dropReconciliation == .idle && dropSource != nil {
            dropReconciliation = .wanted
            schedule(.dropReconcile, after: .milliseconds(100))
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
        drops = DropAggregator(limit: dropRecordLimit, start: time.timeIntervalSince1970)
        schedule(.dropSummary, after: .seconds(dropInterval))
    }

    /// The interval's records and total, to the log.
    func summariseDrops(at time: Date = Date()) {
        guard var current = drops else { return }
        let summary = current.finish(at: time.timeIntervalSince1970)
        drops = nil
        interfaceNames = [:]
        lastDropSummary = summary
        Self.add(summary, to: &totals)
        let origins = filterOrigins()
        let entries = DropLog.entries(summary, origins: origins)
        for entry in entries {
            var fields: Logger.Metadata = [:]
            for (key, value) in DropLog.journalFields(entry) { fields[key] = .string(value) }
            logger.notice("\(DropLog.message(entry))", metadata: fields)
        }
        if let path = config.logFile, !summary.records.isEmpty {
            let file = LogFile(path: path, maxBytes: config.logFileMaxBytes, header: W3CLog.header(software: "rampartd"))
            let text = W3CLog.lines(entries)
            let queued = fileWriter.submit(bytes: text.utf8.count) { [self] in
                let result = Result { () throws(SystemError) in try file.append(text) }
                Task { await self.logFileWritten(path, result) }
            }
            if !queued {
                report(.logFile, "the drop log \(path) is \(fileWriter.limit >> 20) MiB behind (a slow disk?): this interval's records are in this log only")
            }
        }
    }

    /// The background writer's word on one append to `log_file`.
    func logFileWritten(_ path: String, _ result: Result<Void, SystemError>) {
        switch result {
        case .success: clearProblem(.logFile)
        case .failure(let error): report(.logFile, "the drop log \(path) cannot be written (\(error)); its records are in this log only")
        }
    }

    static func add(_ summary: DropAggregator.Summary, to totals: inout Totals) {
        for r in summary.records { totals.drops["\(r.key.direction) \(r.key.kind.rawValue)", default: 0] += r.count }
        for (key, count) in summary.notItemisedByKind { totals.drops[key, default: 0] += count }
        totals.itemised += summary.itemised
        totals.notItemised += summary.notItemised.values.reduce(0, +)
        totals.lost += summary.lost
    }

    /// The drop-log service's queue: from now on, what it accounts for is compared with what the
    /// kernel's rules counted since now.
    func attachDropSource(_ queue: DropQueue) {
        dropSource = queue
        let kernel = applied == nil ? 0 : (try? RuleCounter.loggedPackets(client.ruleCounters(), group: config.logGroup)) ?? 0
        dropBaseline = (kernel, queue.accounted)
    }

    /// A ruleset replaced every rule: their counters start again from 0.
    func rulesReplaced() {
        rulesetGeneration += 1
        dropBaseline = (0, dropSource?.accounted ?? 0)
    }

    /// After ENOBUFS the loss is known from the next packet's sequence number; packets the kernel
    /// could not deliver after the last one that came show in no gap. So once the reader is idle
    /// with nothing in its socket, the kernel's count of logged packets (RuleCounter.loggedPackets)
    /// is read, and when, 30 ms later (three NFLOG flush timeouts: all those packets have been
    /// sent or dropped), the reader still has had nothing, what the counters saw beyond what came
    /// or was counted lost is lost too. A flood that goes on postpones it; a ruleset replaced in
    /// between starts it again. Exact unless a ruleset is replaced while its log rules' packets are
    /// still in flight: then that interval's total can only come out lower (docs/logging.md).
    func reconcileDrops() {
        guard let source = dropSource, let baseline = dropBaseline else {
            dropReconciliation = .idle
            return
        }
        switch dropReconciliation {
        case .idle:
            return
        case .wanted:
            guard let events = source.quiet() else { return schedule(.dropReconcile, after: .milliseconds(100)) }
            do {
                let rules = try readingTable { try client.ruleCounters() }
                dropReconciliation = .counted(events: events, kernel: RuleCounter.loggedPackets(rules, group: config.logGroup),
                                              generation: rulesetGeneration)
                schedule(.dropReconcile, after: .milliseconds(30))
            } catch {
                logger.warning("after an NFLOG overrun the kernel's counters could not be read (\(error)); trying again in 1 s")
                schedule(.dropReconcile, after: .seconds(1))
            }
        case .counted(let events, let kernel, let generation):
            guard generation == rulesetGeneration, source.quiet() == events else {
                dropReconciliation = .wanted
                return schedule(.dropReconcile, after: .milliseconds(100))
            }
            dropReconciliation = .idle
            let accounted = source.accounted
            let unseen = (Int(kernel) - Int(baseline.kernel)) - (accounted - baseline.accounted)
            if unseen > 0 {
                startDropInterval(at: Date())
                drops?.lost(unseen)
                logger.notice("NFLOG overrun: \(unseen) drop(s) after the last delivered packet are counted as lost (kernel counters)")
            }
            dropBaseline = (kernel, accounted)
        }
    }

    /// Whether an interval's summary is due (none while nothing is dropped).
    var dropIntervalRunning: Bool { timers[.dropSummary] != nil }

    /// The last interval's summary, for tests and status.
    public func lastDrops() -> DropAggregator.Summary? { lastDropSummary }
}
