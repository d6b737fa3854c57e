import FoundationEssentials
import RampartCompiler
import RampartControl
import RampartIPsec
import RampartNetlink
import RampartPolicy
import RampartReport
import RampartSources
import RampartSystem
import RampartVici
import RampartConfig
import RampartMigration

/// Every parser that takes outside input, as a fuzz target: bytes in, nothing out but a crash
/// (or a sanitizer report) when a parser is wrong. docs/fuzzing.md.
enum FuzzTarget: String, CaseIterable {
    case netsh, batch, store, bootconfig, resolvconf, smbconf, dhclient, networkd, dhcpcd, daemonconfig, control
    case regexport, ldif, ipsecdata
    case netlink, nftmonitor, route, nflog, journal, w3c, packet, vici

    func run(_ bytes: [UInt8]) {
        switch self {
        case .netsh, .batch, .store, .bootconfig, .resolvconf, .smbconf, .dhclient, .networkd, .dhcpcd, .daemonconfig,
            .control:
            runFileParser(bytes)
        case .regexport, .ldif, .ipsecdata:
            runWindowsStore(bytes)
        case .netlink, .nftmonitor, .route, .nflog, .journal, .w3c, .packet, .vici:
            runWireParser(bytes)
        }
    }

    /// Windows' policy stores (issue 32): a regedit export or an LDIF export, read into objects.
    private func runWindowsStore(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .regexport:
            guard let export = try? RegistryExport.parse(text, file: "fuzz.reg") else { return }
            _ = try? WindowsPolicyObjects.from(export)
        case .ldif:
            guard let ldif = try? LDIF.parse(text, file: "fuzz.ldf") else { return }
            _ = WindowsPolicyObjects.from(ldif)
        case .ipsecdata:
            // Each class's decoder on the same bytes: the seeds start with each class's GUID.
            _ = try? PolicyData.decode(bytes)
            _ = try? ISAKMPData.decode(bytes)
            _ = try? NFAData.decode(bytes)
            _ = try? NegotiationData.decode(bytes)
            _ = try? FilterData.decode(bytes)
        default: return
        }
    }

    /// What rampart reads from files and its control socket.
    private func runFileParser(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .netsh:
            // Decoding (UTF-16, BOMs), lexing, parsing, and running against an empty store.
            guard let decoded = try? ScriptText.decode(bytes, file: "fuzz.netsh") else { return }
            var interpreter = Interpreter(store: Store(), makeGUID: { "{00000000-0000-0000-0000-000000000000}" })
            try? ScriptRunner.run(ScriptRunner.lines(of: decoded, file: "fuzz.netsh"), in: &interpreter)
        case .batch:
            guard let decoded = try? ScriptText.decode(bytes, file: "fuzz.bat") else { return }
            // `reg add`/`reg delete` lines for the policy store, as `rampart import` reads them.
            if let batch = try? ScriptPlan.batch(decoded, file: "fuzz.bat", defines: ["X": "192.0.2.1"]),
                !batch.registry.isEmpty,
                let export = try? RegCommands.export(
                    batch.registry.map { .init(location: $0.location, arguments: $0.arguments) }),
                let objects = try? WindowsPolicyObjects.from(export)
            {
                _ = try? WindowsPolicyConversion.convert(objects)
            }
            guard let planned = try? ScriptPlan.import(decoded, file: "fuzz.bat", defines: ["X": "192.0.2.1"])
            else { return }
            var interpreter = Interpreter(store: Store(), makeGUID: { "{00000000-0000-0000-0000-000000000000}" })
            try? ScriptRunner.run(planned.script, in: &interpreter)
        case .store:
            // A store that decodes must encode and decode to the same store.
            guard let store = try? StoreCodec.decode(Data(bytes)) else { return }
            guard let again = try? StoreCodec.decode(StoreCodec.encode(store)), again == store else {
                fatalError("store round trip differs")
            }
        case .bootconfig:
            _ = try? StoreCodec.decodeBootConfig(Data(bytes))
            _ = try? StoreCodec.decodePending(Data(bytes))
        case .resolvconf:
            _ = ResolvConf.nameservers(bytes: bytes)
        case .smbconf:
            _ = SmbConf.winsServers(text)
        case .dhclient:
            _ = DhclientLeases.parse(text, now: 1_796_212_800)
        case .networkd:
            _ = NetworkdLease.parse(text)
        case .dhcpcd:
            _ = DhcpcdLease.parseBinary(bytes)
        case .daemonconfig:
            _ = try? DaemonConfig.parse(text, file: "rampartd.conf")
        case .control:
            _ = try? ControlCodec.decode(ControlRequest.self, from: Data(bytes))
        default:
            break
        }
    }

    /// What rampart reads from the kernel, charon and its own logs.
    private func runWireParser(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .netlink:
            for message in NetlinkMessages(bytes: bytes) {
                _ = ErrorReply(message)
                for a in message.attributes(after: 4) {
                    _ = a.string
                    _ = a.u32BigEndian
                }
            }
        case .nftmonitor:
            var parser = NftablesMonitor.Parser(table: "rampart")
            _ = parser.consume(bytes, own: [1])
        case .route:
            for message in NetlinkMessages(bytes: bytes) { _ = RouteMonitor.defaultRouteGateways(message.data) }
        case .nflog:
            let ruleset = FuzzTarget.groupedRuleset
            for p in Nflog.packets(bytes) {
                if let packet = Packet(headers: p.payload[...], interface: "eth0") {
                    _ = LogAttribution(prefix: p.prefix, packet: packet, ruleset: ruleset)
                }
            }
        case .journal:
            for line in text.split(separator: "\n") { _ = DropLog.journalLine(line).flatMap(DropLog.entry(journal:)) }
        case .w3c:
            _ = W3CLog.parse(text)
        case .packet:
            _ = Packet(headers: bytes[...], interface: "eth0")
        case .vici:
            // charon's side of the socket: framing, packets, messages, the events rampartd reads.
            // A packet that decodes must encode to the same bytes' meaning.
            var framer = ViciFramer()
            guard let packets = try? framer.feed(bytes) else { return }
            for packet in packets {
                if case .event(let name, let m) = packet { _ = IPsecEvent.parse(name: name, m) }
                guard let framed = try? packet.framed() else { continue }
                var again = ViciFramer()
                guard let back = try? again.feed(framed), back == [packet] else {
                    fatalError("VICI round trip differs")
                }
            }
        default:
            break
        }
    }

    /// A ruleset with grouped filter sets, for the NFLOG target's attribution.
    static let groupedRuleset: Ruleset = {
        var script = "ipsec static add filteraction name=B action=block\n"
        for i in 1...20 {
            script +=
                "ipsec static add filter filterlist=L srcaddr=192.0.2.\(i) dstaddr=me protocol=udp dstport=\(1000 + i)\n"
        }
        script +=
            "ipsec static add policy name=P assign=yes\nipsec static add rule name=R policy=P filterlist=L filteraction=B\nipsec dynamic set config ipsecdiagnostics 7\n"
        var interpreter = Interpreter(store: Store())
        try? ScriptRunner.run(ScriptRunner.lines(of: script, file: "seed"), in: &interpreter)
        return RulesetCompiler().compile(interpreter.store)
    }()
}
