import FoundationEssentials
import Glibc
import Logging
import RampartCompiler
import RampartNetlink
import RampartReport
import RampartSystem
import RampartSyscall

/// Drop logging's side effects (the state and its transitions are `DropLogging`): the journal
/// records, the W3C log file through the background writer, and the kernel's counters.
extension PolicyEngine {
    /// rampartd.conf's `log_interval_seconds`, else the store's `ipsecloginterval`; distinct
    /// records per interval (`log_records`), at most 100 per second of it: far below the
    /// journal's 10,000 per 30 s whatever the flood.
    var dropSettings: DropLogging.Settings {
        let interval = config.logIntervalSeconds ?? store.config.ipsecLogInterval
        return DropLogging.Settings(interval: interval, recordLimit: min(config.logRecords, 100 * interval))
    }

    /// Packets from NFLOG, and what the reader counted as lost since the last batch (`DropQueue`).
    public func dropsLogged(_ packets: [NflogPacket], lost: Int = 0, overrun: Bool = false, at time: Date = Date()) {
        perform(
            drops.logged(
                packets, lost: lost, overrun: overrun, at: time, ruleset: applied ?? Ruleset(),
                settings: dropSettings, interfaceName: Self.interfaceName))
    }

    static func interfaceName(_ index: UInt32) -> String {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &name) != nil else { return "" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The interval's records and total, to the log.
    func summariseDrops(at time: Date = Date()) {
        guard let summary = drops.finish(at: time) else { return }
        let entries = DropLog.entries(summary, origins: filterOrigins())
        for entry in entries {
            var fields: Logger.Metadata = [:]
            for (key, value) in DropLog.journalFields(entry) { fields[key] = .string(value) }
            logger.notice("\(DropLog.message(entry))", metadata: fields)
        }
        // An interval of losses alone (a reconciliation after the flood's last record) is written
        // too: the file's totals must add up to what the kernel counted.
        guard let path = config.logFile, summary.itemised + summary.notItemised.values.reduce(0, +) + summary.lost > 0
        else { return }
        let file = LogFile(path: path, maxBytes: config.logFileMaxBytes, header: W3CLog.header(software: "rampartd"))
        let text = W3CLog.lines(entries)
        let queued = fileWriter.submit(bytes: text.utf8.count) { [self] in
            let result = Result { () throws(SystemError) in try file.append(text) }
            Task { await self.logFileWritten(path, result) }
        }
        if !queued {
            report(
                .logFile,
                "the drop log \(path) is \(fileWriter.limit >> 20) MiB behind (a slow disk?): this interval's records are in this log only"
            )
        }
    }

    /// The background writer's word on one append to `log_file`.
    func logFileWritten(_ path: String, _ result: Result<Void, SystemError>) {
        switch result {
        case .success: clearProblem(.logFile)
        case .failure(let error):
            report(.logFile, "the drop log \(path) cannot be written (\(error)); its records are in this log only")
        }
    }

    /// The drop-log service's queue: what it accounts for is compared with the kernel's counters from now on.
    func attachDropSource(_ queue: DropQueue) {
        drops.attach(queue, kernel: kernelLoggedCount() ?? 0)
    }

    /// What the log rules in force handed to NFLOG (0 with none in force; nil: unreadable).
    func kernelLoggedCount() -> UInt64? {
        applied == nil ? 0 : try? RuleCounter.loggedPackets(client.ruleCounters(), group: config.logGroup)
    }

    /// The next step of reconciling with the kernel's counters after an NFLOG overrun (`DropLogging.reconcile`).
    func reconcileDrops() {
        switch drops.reconcile(at: Date(), dropSettings) {
        case .done(let effects):
            perform(effects)
        case .readKernel(let events):
            let group = config.logGroup
            let kernel = Result { () throws -> UInt64 in
                RuleCounter.loggedPackets(try readingTable { try client.ruleCounters() }, group: group)
            }
            perform(drops.kernelCounted(kernel, events: events))
        }
    }

    var dropReconciliation: DropReconciliation { drops.reconciliation }

    /// Whether an interval's summary is due (none while nothing is dropped).
    var dropIntervalRunning: Bool { timers[.dropSummary] != nil }

    /// The last interval's summary, for tests and status.
    public func lastDrops() -> DropAggregator.Summary? { drops.lastSummary }
}
