import Foundation
import Glibc
import Testing
@testable import RampartDaemon
import RampartNetlink
import RampartSystem
import Synchronization

/// Files rampartd writes where a local user may reach (issue 29, item 4): a FIFO, a link, a
/// file someone else owns or can write, a directory others can write — refused at once, never
/// waited on or adopted.
@Suite struct OwnedFileTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "rampart-owned-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }

    func log(_ name: String = "drops.log") -> LogFile {
        LogFile(path: directory + "/" + name, maxBytes: 1 << 20, header: "#Fields: x\n")
    }

    func refusal(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }

    @Test func aFifoAtTheLogPathIsRefusedWithoutWaiting() throws {
        #expect(mkfifo(directory + "/drops.log", 0o644) == 0)
        let message = refusal { try log().append("line\n") }
        #expect(message?.contains("not a regular file") == true, "\(message ?? "written")")
    }

    @Test func aSymlinkHardLinkOrForeignFileIsRefused() throws {
        let target = directory + "/target"
        try "x".write(toFile: target, atomically: false, encoding: .utf8)
        #expect(symlink(target, directory + "/sym.log") == 0)
        #expect(refusal { try log("sym.log").append("line\n") } != nil, "a symlink")
        #expect(link(target, directory + "/hard.log") == 0)
        #expect(refusal { try log("hard.log").append("line\n") }?.contains("links") == true, "a hard link")
        let foreign = directory + "/foreign.log"
        try "".write(toFile: foreign, atomically: false, encoding: .utf8)
        #expect(chown(foreign, 65534, 65534) == 0)
        #expect(refusal { try log("foreign.log").append("line\n") }?.contains("belongs to uid 65534") == true)
        let open = directory + "/open.log"
        try "".write(toFile: open, atomically: false, encoding: .utf8)
        #expect(chmod(open, 0o666) == 0)
        #expect(refusal { try log("open.log").append("line\n") }?.contains("writable by group or others") == true)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "x", "nothing was written through a link")
    }

    @Test func aDirectoryOthersCanWriteIsRefused() throws {
        #expect(chmod(directory, 0o1777) == 0)
        #expect(refusal { try log().append("line\n") }?.contains("writable by group or others") == true)
        #expect(!FileManager.default.fileExists(atPath: directory + "/drops.log"))
    }

    @Test func rotationCreatesItsOwnFile() throws {
        let file = LogFile(path: directory + "/drops.log", maxBytes: 40, header: "#H\n")
        try file.append("first line of thirty bytes...\n")
        try file.append("second line, rotated out......\n")
        #expect(
            try String(contentsOfFile: directory + "/drops.log.1", encoding: .utf8)
                == "#H\nfirst line of thirty bytes...\n")
        #expect(
            try String(contentsOfFile: directory + "/drops.log", encoding: .utf8)
                == "#H\nsecond line, rotated out......\n")
        var info = stat()
        #expect(stat(directory + "/drops.log", &info) == 0 && info.st_mode & 0o777 == 0o640)
    }

    /// One interval's records larger than `log_file_max_bytes` never make the file pass it (issue
    /// 29, item 19): the lines that fit, and a remark counting the rest.
    @Test func anAppendNeverPassesTheMaximum() throws {
        let file = LogFile(path: directory + "/drops.log", maxBytes: 4096, header: "#Fields: x\n")
        let records = (0..<300).map {
            "2026-12-07 01:00:00 DROP UDP 203.0.113.\($0 % 250) 192.0.2.1 - 53 1 F3 - - in\n"
        }.joined()
        try file.append(records)
        try file.append(records)
        for name in ["drops.log", "drops.log.1"] {
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            #expect(text.utf8.count <= 4096, "\(name): \(text.utf8.count) bytes")
            #expect(text.hasPrefix("#Fields: x\n") && text.contains("records over log_file_max_bytes not written"))
        }
    }

    /// A temporary planted at the metrics file's name (owned by another user) is replaced by a
    /// file of rampartd's own, so the user never ends up owning `rampart.prom`.
    @Test func aPlantedTemporaryIsNeverAdopted() throws {
        let path = directory + "/rampart.prom"
        let temp = "\(path).tmp.\(getpid())"
        try "rampart_healthy 1\n".write(toFile: temp, atomically: false, encoding: .utf8)
        #expect(chown(temp, 65534, 65534) == 0 && chmod(temp, 0o666) == 0)
        try writeAtomically(Data("rampart_healthy 0\n".utf8), to: path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_uid == geteuid(), "the file is rampartd's, not the planter's")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "rampart_healthy 0\n")
    }

    @Test func theBackgroundWriterRunsJobsInOrderAndIsBounded() {
        let writer = BackgroundWriter(name: "test.writer", limit: 100)
        let order = Mutex<[Int]>([])
        let gate = Latch<Bool>()
        #expect(
            writer.submit(bytes: 60) {
                _ = gate.wait()
                order.withLock { $0.append(1) }
            })
        #expect(writer.submit(bytes: 40) { order.withLock { $0.append(2) } })
        #expect(!writer.submit(bytes: 1) { order.withLock { $0.append(3) } }, "over the limit: refused")
        gate.open(true)
        writer.drain()
        #expect(order.withLock { $0 } == [1, 2])
    }

    /// One host's traffic blocked, its drops logged.
    static let loggedBlock = """
        pushd ipsec static
        add filteraction name=Block action=block
        add filter filterlist=Ban srcaddr=203.0.113.8 dstaddr=me mirrored=no
        add policy name=P assign=yes
        add rule name=b policy=P filterlist=Ban filteraction=Block
        popd
        ipsec dynamic set config ipsecdiagnostics 7

        """

    /// A FIFO planted at `log_file` (issue 29, item 4): the engine goes on answering, and the
    /// refusal is a problem in the status.
    @Test func aFifoAtLogFileNeitherFreezesTheEngineNorIsWritten() async throws {
        let fifo = directory + "/drops.log"
        #expect(mkfifo(fifo, 0o666) == 0)
        let f = try EngineFixture(
            policy: Self.loggedBlock, configure: { $0.logFile = fifo })
        try await f.start()
        let set = try #require(
            await f.engine.applied?.chains.first { $0.name == "input" }?.rules.first { $0.id.hasPrefix("F") })
        await f.engine.dropsLogged([
            NflogPacket(
                family: 2, hook: 1, prefix: "rampart in \(set.id) ", inInterface: 1,
                payload: DropLogTests.udp(from: [203, 0, 113, 8], port: 9), sequence: 1)
        ])
        await f.engine.fireDueTimers(now: .now + .seconds(3600))
        f.engine.fileWriter.drain()
        #expect(await eventually(5) { await f.engine.status().problems.contains { $0.contains("not a regular file") } })
    }

    /// An interval that holds only losses (the kernel counters' tail after an NFLOG overrun) is a
    /// total line in `log_file`, as it is in the journal: the file's totals add up.
    @Test func anIntervalOfLossesAloneIsWrittenToTheLogFile() async throws {
        let path = directory + "/drops.log"
        let f = try EngineFixture(
            policy: Self.loggedBlock, configure: { $0.logFile = path })
        try await f.start()
        await f.engine.dropsLogged([], lost: 17, overrun: true)
        await f.engine.fireDueTimers(now: .now + .seconds(3600))
        f.engine.fileWriter.drain()
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let totals = text.split(separator: "\n").filter { $0.hasPrefix("#Remark: total ") }
        #expect(
            totals.count == 1 && totals[0].hasSuffix(" logged=0 itemised=0 records=0 not-itemised=0 lost=17"), "\(text)"
        )
    }
}
