import Foundation
import Testing
import RampartTestKit
@testable import RampartPolicy
import RampartSystem

@Suite struct StoreTests {
    func sample() throws -> Store {
        try run(
            """
            pushd ipsec static
            add filter filterlist=L srcaddr=192.0.2.0/24 dstaddr=me protocol=tcp dstport=22
            add filter filterlist=L srcaddr=2001:db8::1-2001:db8::9 dstaddr=me
            add filter filterlist=L srcaddr=me dstaddr=DNS protocol=udp dstport=53
            add filter filterlist=L srcaddr=me dstaddr=host.example dstmask=24 protocol=icmp
            add filteraction name=A action=negotiate qmsec="ESP[3DES,SHA1]:3600s" inpass=yes
            add policy name=P assign=yes
            add rule name=R policy=P filterlist=L filteraction=A psk=k
            popd
            dynamic set config bootexemptions tcp:0:22:inbound
            """
        ).store
    }

    @Test func encodeDecodeRoundTrip() throws {
        let store = try sample()
        let data = StoreCodec.encode(store)
        #expect(try StoreCodec.decode(data) == store)
        #expect(String(decoding: data, as: UTF8.self).contains("\"format\" : \"rampart-store\""))
    }

    @Test func corruptStoresAreRefusedWithAReason() throws {
        let good = StoreCodec.encode(try sample())
        let truncated = good.prefix(good.count / 2)
        #expect(throws: StoreError.self) { try StoreCodec.decode(Data(truncated)) }
        #expect(throws: StoreError("not a rampart store (damaged JSON: The given data was not valid JSON.)")) {
            try StoreCodec.decode(Data("{".utf8))
        }
        let newer = String(decoding: good, as: UTF8.self).replacingOccurrences(
            of: "\"version\" : 2", with: "\"version\" : 3")
        #expect(throws: StoreError("format version 3 is newer than this rampart understands (2); upgrade rampart")) {
            try StoreCodec.decode(Data(newer.utf8))
        }
        let dangling = String(decoding: good, as: UTF8.self).replacingOccurrences(
            of: "\"filterList\" : \"L\"", with: "\"filterList\" : \"Gone\"")
        #expect(throws: StoreError("rule 'R' of policy 'P' refers to missing filter list 'Gone'")) {
            try StoreCodec.decode(Data(dangling.utf8))
        }
        let foreign = Data(#"{"format":"something-else","version":1}"#.utf8)
        #expect(throws: StoreError("unknown format 'something-else' (expected 'rampart-store')")) {
            try StoreCodec.decode(foreign)
        }
    }

    /// Version 2 writes a filter as one line; every address form, protocol and flag survives it.
    @Test func filtersAreLinesInVersion2() throws {
        let store = try sample()
        let text = String(decoding: StoreCodec.encode(store), as: UTF8.self)
        #expect(text.contains("\"version\" : 2"))
        for line in [
            "192.0.2.0/24 me 6 0 22 mirrored", "2001:db8::1-2001:db8::9 me any 0 0 mirrored",
            "me server:DNS 17 0 53 mirrored",
            "me dns:host.example/24 icmp 0 0 mirrored"
        ] {
            #expect(text.contains(line), "\(line) in\n\(text)")
        }
        let described = Filter(
            seq: 7, source: .any, destination: .me, proto: .tcp, destinationPort: 80, mirrored: false,
            description: "web  from anywhere ")
        #expect(described.storeLine == "7 any me 6 0 80 one-way web  from anywhere ")
        #expect(try Filter(storeLine: described.storeLine) == described)
    }

    /// A version 1 store (filters as objects) is read as it is; the next write is version 2.
    @Test func version1StoresAreReadAndRewrittenAsVersion2() throws {
        let v1 = """
            {"format": "rampart-store", "version": 1, "sequence": 3,
             "config": {"bootExemptions": [], "bootMode": "stateful", "ikeLogging": 0, "ipsecDiagnostics": 0, "ipsecExempt": 3,
                        "ipsecLogInterval": 3600, "strongCRLCheck": 0},
             "stores": {"persistent": {"filterActions": [], "filterLists": [], "policies": []},
                        "local": {"filterActions": [], "policies": [],
                                  "filterLists": [{"name": "L", "description": "", "guid": "{g}", "seq": 1, "filters": [
                                      {"seq": 2, "source": {"kind": "subnet", "address": "192.0.2.0", "prefix": 24}, "destination": {"kind": "me"},
                                       "proto": 6, "sourcePort": 0, "destinationPort": 22, "mirrored": true, "description": "ssh"},
                                      {"seq": 3, "source": {"kind": "dnsName", "name": "host.example", "prefix": 24}, "destination": {"kind": "server", "server": "DNS"},
                                       "proto": "icmp", "sourcePort": 0, "destinationPort": 0, "mirrored": false, "description": ""}]}]}}}
            """
        let store = try StoreCodec.decode(Data(v1.utf8))
        let filters = store.local.filterLists[0].filters
        #expect(
            filters.map(\.storeLine) == [
                "2 192.0.2.0/24 me 6 0 22 mirrored ssh", "3 dns:host.example/24 server:DNS icmp 0 0 one-way"
            ])
        let rewritten = StoreCodec.encode(store)
        #expect(String(decoding: rewritten, as: UTF8.self).contains("\"version\" : 2"))
        #expect(try StoreCodec.decode(rewritten) == store)
        // Each version has its own filter form: lines in a version 1 store are refused, and so are objects in version 2.
        let mixed = String(decoding: rewritten, as: UTF8.self).replacingOccurrences(
            of: "\"version\" : 2", with: "\"version\" : 1")
        #expect(throws: StoreError.self) { try StoreCodec.decode(Data(mixed.utf8)) }
        #expect(throws: StoreError.self) {
            try StoreCodec.decode(Data(v1.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 2").utf8))
        }
    }

    /// A damaged filter line is refused with its place and the reason.
    @Test func damagedFilterLinesAreRefusedWithTheirPlace() throws {
        let good = String(decoding: StoreCodec.encode(try sample()), as: UTF8.self)
        for (from, to, reason) in [
            ("192.0.2.0/24 me 6 0 22", "192.0.2.0/33 me 6 0 22", "is not an address with a prefix in range"),
            ("192.0.2.0/24 me 6 0 22", "192.0.2.0/24 me 6 0 70000", "destination port 70000 is not 0...65535"),
            (
                "192.0.2.0/24 me 6 0 22 mirrored", "192.0.2.0/24 me 6 0 22 both",
                "'both' is neither mirrored, mirrored-stateful nor one-way"
            ),
            ("192.0.2.0/24 me 6", "192.0.2.0/24 me tcp", "unknown protocol 'tcp'"),
            ("me server:DNS", "me server:NTP", "names no server type"),
            ("192.0.2.0/24 me 6 0 22 mirrored", "192.0.2.0/24 me 6", "has 4 of its 7 fields")
        ] {
            let bad = good.replacingOccurrences(of: from, with: to)
            #expect(bad != good)
            do {
                _ = try StoreCodec.decode(Data(bad.utf8))
                Issue.record("\(to) was accepted")
            } catch {
                #expect(
                    error.message.contains(reason)
                        && error.message.contains("at .stores.local.filterLists[0].filters["), "\(error.message)")
            }
        }
    }

    /// A list long enough to be parsed and written on every core decodes to the same filters in
    /// the same order and back to the same lines, and of two damaged lines the first is named.
    @Test func largeListsParseInOrderAndNameTheFirstDamagedLine() throws {
        let lines = (0..<10_000).map { "\($0 + 1) 198.51.\($0 / 250).\($0 % 250 + 1) me 6 0 \($0 % 1000 + 1) one-way" }
        let parsed = try Filter.parse(lines).get()
        #expect(parsed.map(\.storeLine) == lines)
        #expect(Filter.lines(parsed) == lines)
        var bad = lines
        bad[9_000] = "9001 198.51.0.1 me 6 0 70000 one-way"
        bad[3_000] = "3001 198.51.0.1/33 me 6 0 1 one-way"
        guard case .failure(let failure) = Filter.parse(bad) else {
            Issue.record("a damaged line was accepted")
            return
        }
        // The first chunk's failure, though the second chunk's may be found first.
        #expect(failure.line == 3_000, "\(failure.error.message)")
    }

    @Test func fileSaveIsAtomicAndLoadRefusesCorruptFilesUntouched() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = StoreFile(path: dir.appendingPathComponent("sub/store.json").path)
        #expect(try file.load() == Store())
        let store = try sample()
        try file.withExclusiveLock { try file.save(store) }
        #expect(try file.load() == store)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("sub").path)
            .sorted()
        #expect(leftovers == ["store.json", "store.json.boot", "store.json.lock"])
        #expect(try file.loadBootConfig() == store.config)
        let corrupt = Data("{\"format\":\"rampart-store\",\"version\":1,\"seq".utf8)
        try corrupt.write(to: URL(fileURLWithPath: file.path))
        #expect(throws: StoreError.self) { try file.load() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: file.path)) == corrupt)
    }

    /// Found by the crash trials: a writer killed between writing `store.json.tmp.PID` and the
    /// rename left the whole copy behind, one more on every such kill. The next save removes the
    /// copies of dead writers and leaves a live writer's alone.
    @Test func temporariesOfDeadWritersAreRemovedByTheNextSave() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = StoreFile(path: dir.appendingPathComponent("store.json").path)
        let dead = try ChildProcess(["true"])
        dead.waitUntilExit()
        let live = getppid()
        for name in [
            "store.json.tmp.\(dead.processIdentifier)", "store.json.boot.tmp.\(dead.processIdentifier)",
            "store.json.tmp.\(live)", "store.json.tmp.x"
        ] {
            try Data("{".utf8).write(to: dir.appendingPathComponent(name))
        }
        try file.withExclusiveLock { try file.save(try sample()) }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(
            left == ["store.json", "store.json.boot", "store.json.lock", "store.json.tmp.\(live)", "store.json.tmp.x"],
            "\(left)")
    }

    @Test func environmentSelectsTheStore() {
        #expect(StoreFile.resolve(option: nil, environment: [:]).path == "/var/lib/rampart/store.json")
        #expect(StoreFile.resolve(option: nil, environment: ["RAMPART_STORE": "/tmp/x.json"]).path == "/tmp/x.json")
        #expect(StoreFile.resolve(option: "/o.json", environment: ["RAMPART_STORE": "/tmp/x.json"]).path == "/o.json")
    }
}

@Suite struct ParserPropertyTests {
    static let vocabulary = [
        "ipsec", "static", "dynamic", "add", "set", "delete", "del", "show", "filter", "filterlist",
        "filteraction", "rule", "policy", "config", "name", "=", "\"", "srcaddr", "dstaddr", "me", "any",
        "DNS", "192.0.2.1", "2001:db8::1", "255.255.255.0", "tcp", "80", "yes", "no", "all", "pushd",
        "popd", "mirrored", "qmsec", "ESP[3DES,SHA1]:3600s", "bootmode", "block", "-", "/24", "^", "%X%", "&&"
    ]

    /// Random and mutated lines never crash the lexer, parser or interpreter: they only succeed or return errors.
    @Test func randomAndMutatedLinesOnlyEverReturnErrors() {
        var rng = SplitMix(state: 20261129)
        let seeds = [
            "ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes",
            "ipsec dynamic set config bootexemptions value=tcp:0:3389:inbound",
            #"ipsec static add filteraction name="A B" action=negotiate qmsec="AH[MD5]:204800k/300s ESP[DES,SHA1]""#,
            "ipsec static add rule name=R policy=P filterlist=L filteraction=A"
        ]
        var outcomes = (ok: 0, failed: 0)
        for round in 0..<10000 {
            var line: String
            if round % 2 == 0 {
                let words = (0..<Int.random(in: 1...12, using: &rng)).map { _ in
                    Self.vocabulary.randomElement(using: &rng)!
                }
                line = words.joined(separator: Bool.random(using: &rng) ? " " : "")
            } else {
                var chars = Array(seeds.randomElement(using: &rng)!)
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let position = Int.random(in: 0..<max(1, chars.count), using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0 where !chars.isEmpty: chars.remove(at: position)
                    case 1:
                        chars.insert(
                            Character(Unicode.Scalar(UInt8.random(in: 0...255, using: &rng))),
                            at: min(position, chars.count))
                    default:
                        if !chars.isEmpty {
                            chars[position] = ["=", "\"", " ", ":", "[", "-", "/", "%"].randomElement(using: &rng)!
                        }
                    }
                }
                line = String(chars)
            }
            var interpreter = Interpreter(store: Store(), dynamic: round % 3 == 0 ? DynamicState() : nil)
            do {
                try ScriptRunner.run(ScriptRunner.lines(of: line, file: "fuzz"), in: &interpreter)
                outcomes.ok += 1
            } catch {
                #expect(error.severity == .error)
                #expect(error.location?.file == "fuzz")
                outcomes.failed += 1
            }
            var importer = BatchImporter()
            _ = try? importer.extract(line, file: "fuzz.bat")
        }
        // Both paths were exercised: the generator is not trivially all-valid or all-invalid.
        #expect(outcomes.ok > 0 && outcomes.failed > 0)
    }
}
