import Testing
@testable import RampartCompiler
import RampartPolicy
@testable import RampartReport
import RampartSystem
import Foundation

/// Drops aggregate per tuple within an interval, bounded, with totals that add up.
@Suite struct DropAggregatorTests {
    func packet(
        _ source: String, _ proto: UInt8 = 6, sport: UInt16 = 40000, dport: UInt16 = 22, type: UInt8 = 0
    ) -> Packet {
        Packet(
            source: IPAddress(source)!, destination: IPAddress("192.0.2.1")!, proto: proto, sourcePort: sport,
            destinationPort: dport, icmpType: type)
    }

    @Test func dropsAggregatePerTupleWithTimes() {
        var a = DropAggregator(limit: 10, start: 100)
        let f12 = LogAttribution(kind: .filter, direction: "in", id: "F12")
        // 37 SYNs from one host to one port, from changing source ports: one record.
        for i in 0..<37 {
            a.add(f12, packet("203.0.113.7", sport: UInt16(40000 + i)), direction: "in", at: 100 + Double(i))
        }
        for i in 0..<5 {
            a.add(
                LogAttribution(kind: .filter, direction: "in", id: "F3"), packet("198.51.100.9", 17, dport: 53),
                direction: "in", at: 110 + Double(i))
        }
        a.add(f12, packet("203.0.113.7", 1, type: 8), direction: "in", at: 120)
        a.add(f12, packet("203.0.113.7", 1, type: 8), direction: "in", at: 121)
        a.add(LogAttribution(kind: .invalid, direction: nil, id: nil), packet("203.0.113.8"), direction: "out", at: 122)
        let s = a.finish(at: 160)
        #expect(s.records.map(\.count) == [37, 5, 2, 1])
        #expect(s.records[0].first == 100 && s.records[0].last == 136)
        #expect(s.records[2].key.port == 8 && s.records[2].key.proto == 1, "ICMP by type")
        #expect(
            s.records[3].key.direction == "out" && s.records[3].key.kind == .invalid && s.records[3].key.filter == nil)
        #expect(s.total == 45 && s.lost == 0 && s.start == 100 && s.end == 160)
        let next = a.finish(at: 220)
        #expect(next.records.isEmpty && next.total == 0 && next.start == 160, "a new interval starts empty")
    }

    @Test func theTableIsBoundedAndTotalsReconcile() {
        var a = DropAggregator(limit: 3, start: 0)
        for i in 0..<10 {
            a.add(
                LogAttribution(kind: .filter, direction: "in", id: "F\(i % 2)"), packet("203.0.113.\(i + 1)"),
                direction: "in", at: Double(i))
        }
        a.add(LogAttribution(kind: .filter, direction: "in", id: "F0"), packet("203.0.113.1"), direction: "in", at: 11)
        a.lost(4)
        let s = a.finish(at: 60)
        #expect(s.records.count == 3)
        #expect(s.records[0].count == 2, "a known tuple still counts when the table is full")
        #expect(s.notItemised == ["F0": 3, "F1": 4])
        #expect(s.itemised == 4 && s.total == 11 && s.lost == 4)
    }

    /// A name holding U+2028, U+2029 or U+0085 (an old store, a domain policy) never breaks a log
    /// record into lines (issue 29, item 14); the lexer refuses them in new names.
    @Test func lineSeparatorsInNamesStayOnOneLine() throws {
        var a = DropAggregator(limit: 10, start: 0)
        a.add(
            LogAttribution(kind: .filter, direction: "in", id: "F3"), packet("203.0.113.7", 17, dport: 53),
            direction: "in", at: 1_764_638_625)
        let origin = FilterOrigin(
            source: .store(.local), policy: "Web\u{2028}Server", rule: "Block\u{2029}all\u{85}x", filterList: "L",
            position: 1)
        let entries = DropLog.entries(a.finish(at: 1_764_638_700), origins: ["F3": origin])
        let record = W3CLog.lines(entries).split(separator: "\n").first.map(String.init) ?? ""
        #expect(
            record
                == "2025-12-02 01:23:45 DROP UDP 203.0.113.7 192.0.2.1 - 53 1 F3 Block%E2%80%A9all%C2%85x Web%E2%80%A8Server in"
                + " 2025-12-02 01:23:45 - eth0 L local/Web%E2%80%A8Server/Block%E2%80%A9all%C2%85x/L/#1")
        #expect(W3CLog.parse(W3CLog.header(software: "t") + record + "\n") == [entries[0]], "and reads back exactly")
        let message = DropLog.message(entries[0])
        #expect(
            !message.contains("\u{2028}") && !message.contains("\u{2029}") && !message.contains("\u{85}"), "\(message)")
        for bad in ["\u{2028}", "\u{2029}", "\u{85}"] {
            #expect(throws: Diagnostic.self) { try storeFrom("ipsec static add policy name=\"A\(bad)B\"\n") }
        }
    }

    @Test func w3cLinesAndRotation() throws {
        var a = DropAggregator(limit: 10, start: 0)
        a.add(
            LogAttribution(kind: .filter, direction: "in", id: "F3"), packet("203.0.113.7", 17, dport: 53),
            direction: "in", at: 1_764_638_625)
        a.add(
            LogAttribution(kind: .filter, direction: "in", id: "F3"), packet("203.0.113.7", 17, dport: 53),
            direction: "in", at: 1_764_638_626.7)
        a.add(
            LogAttribution(kind: .invalid, direction: nil, id: nil), packet("203.0.113.8", 1, type: 8),
            direction: "out", at: 1_764_638_627)
        let origin = FilterOrigin(
            source: .store(.local), policy: "Web Server", rule: "Block all", filterList: "L", position: 1)
        let entries = DropLog.entries(a.finish(at: 1_764_638_700), origins: ["F3": origin])
        let lines = W3CLog.lines(entries)
        #expect(
            lines == """
                2025-12-02 01:23:45 DROP UDP 203.0.113.7 192.0.2.1 - 53 2 F3 Block%20all Web%20Server in 2025-12-02 01:23:46 - eth0 L local/Web%20Server/Block%20all/L/#1
                2025-12-02 01:23:47 DROP ICMP 203.0.113.8 192.0.2.1 - - 1 invalid - - out 2025-12-02 01:23:47 8 eth0 - -
                #Remark: total start=1970-01-01T00:00:00Z end=2025-12-02T01:25:00Z logged=3 itemised=3 records=2 not-itemised=0 lost=0

                """)
        // Every journal field comes back as it went, and so does every W3C line.
        for entry in entries {
            let fields = Dictionary(uniqueKeysWithValues: DropLog.journalFields(entry))
            #expect(DropLog.entry(journal: fields) == entry)
        }
        let parsed = W3CLog.parse(W3CLog.header(software: "t") + lines)
        #expect(parsed == entries, "the records and the total, from its #Remark")
        #expect(W3CLog.field("-") == "%2D" && W3CLog.decoded("%2D") == "-" && W3CLog.field(nil) == "-")
        #expect(
            W3CLog.field("50% \"off\"") == "50%25%20%22off%22" && W3CLog.decoded("50%25%20%22off%22") == "50% \"off\"")
        #expect(W3CLog.decoded("%zz%4") == "%zz%4", "not an escape: as written")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rampart-w3c-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = LogFile(path: directory + "/drops.log", maxBytes: 1200, header: W3CLog.header(software: "test"))
        try file.append(lines)
        try file.append(lines)
        #expect(
            try String(contentsOfFile: file.path, encoding: .utf8) == W3CLog.header(software: "test") + lines + lines)
        try file.append(lines)
        #expect(
            try String(contentsOfFile: file.path + ".1", encoding: .utf8) == W3CLog.header(software: "test") + lines
                + lines, "rotated before passing 1,200 bytes")
        #expect(
            try String(contentsOfFile: file.path, encoding: .utf8) == W3CLog.header(software: "test") + lines,
            "a new file starts with the directives")
    }
}
