import Foundation
import Testing
@testable import RampartDaemon
import RampartPolicy
import RampartSystem
import RampartConfig

/// rampartd.conf: the lease directory lists and their defaults, the logging and metrics keys, and
/// errors that name file, line and column.
@Suite struct DaemonConfigTests {
    /// The shipped file is rampartd.conf(5)'s source (scripts/conf-manpage.py): it must name every
    /// key, and what it sets must be the defaults.
    @Test func theShippedFileNamesEveryKeyWithItsDefault() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("etc/rampart/rampartd.conf").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(try DaemonConfig.parse(text, file: path) == DaemonConfig())
        let named = Set(
            text.split(separator: "\n").compactMap { line -> String? in
                let body = line.hasPrefix("#") ? line.dropFirst() : line[...]
                guard let eq = body.firstIndex(of: "="), !body.hasPrefix(" ") else { return nil }
                return body[..<eq].trimmingCharacters(in: .whitespaces)
            })
        #expect(
            Set(DaemonConfig.keys).subtracting(named).isEmpty,
            "not in the shipped file: \(Set(DaemonConfig.keys).subtracting(named).sorted())")
    }

    /// The fleet keys: off by default; endpoints need a group; names and prefixes are checked.
    @Test func etcdSettings() throws {
        #expect(DaemonConfig().etcdEndpoints.isEmpty && DaemonConfig().etcdGroup == nil)
        let c = try DaemonConfig.parse(
            "etcd_endpoints = https://192.0.2.1:2379, https://192.0.2.2:2379\netcd_group = web\netcd_status_ttl_seconds = 9\n",
            file: "rampartd.conf")
        #expect(
            c.etcdEndpoints == ["https://192.0.2.1:2379", "https://192.0.2.2:2379"] && c.etcdGroup == "web"
                && c.etcdStatusTTLSeconds == 9)
        for (text, message) in [
            ("etcd_endpoints = https://192.0.2.1:2379\n", "etcd_group is not"),
            ("etcd_group = web/1\n", "rampartd.conf:1:14: error: etcd_group: 'web/1'"),
            ("etcd_endpoints = 192.0.2.1:2379\netcd_group = w\n", "is not https://"),
            ("etcd_prefix = /rampart/\n", "must start with '/' and not end with one")
        ] {
            do {
                _ = try DaemonConfig.parse(text, file: "rampartd.conf")
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }

    @Test func leaseDirectoriesAreListsWithTheCommonOnesByDefault() throws {
        let defaults = DaemonConfig()
        #expect(defaults.dhclientLeases == ["/var/lib/dhcp", "/var/lib/dhclient"], "Debian's and RHEL's")
        #expect(defaults.dhcpcdLeases == ["/var/lib/dhcpcd", "/var/lib/dhcpcd5"], "and Raspberry Pi OS's")
        let c = try DaemonConfig.parse(
            "dhclient_leases = /var/lib/dhcp /var/lib/dhclient,/srv/leases\ndhcpcd_leases = /x\nlog_interval_seconds = 5\nlog_records = 50\nmetrics_textfile = /m.prom\n",
            file: "rampartd.conf")
        #expect(c.dhclientLeases == ["/var/lib/dhcp", "/var/lib/dhclient", "/srv/leases"] && c.dhcpcdLeases == ["/x"])
        #expect(
            c.logIntervalSeconds == 5 && c.logRecords == 50 && c.metricsTextfile == "/m.prom"
                && c.metricsIntervalSeconds == 30)
        #expect(throws: Diagnostic.self) { try DaemonConfig.parse("\n  log_records = 0\n", file: "rampartd.conf") }
        do {
            _ = try DaemonConfig.parse("store = /s\n  lease_dir = /x\n", file: "rampartd.conf")
            Issue.record("an unknown key is an error")
        } catch {
            #expect("\(error)".hasPrefix("rampartd.conf:2:3: error: unknown key 'lease_dir'"), "\(error)")
        }
    }

    /// A lease in the second directory of the list counts as one in the first.
    @Test func everyListedDirectoryIsRead() async throws {
        let f = try EngineFixture(
            policy: EngineFixture.webServer
                + "\nipsec static add filter filterlist=Web srcaddr=me dstaddr=DHCP protocol=udp dstport=67\n")
        var config = f.config
        config.dhclientLeases = [f.directory + "/dhcp", f.directory + "/dhclient-rhel"]
        try FileManager.default.createDirectory(atPath: config.dhclientLeases[1], withIntermediateDirectories: true)
        try "lease {\n  interface \"eth0\";\n  option dhcp-server-identifier 192.0.2.67;\n}\n".write(
            toFile: config.dhclientLeases[1] + "/dhclient-eth0.leases", atomically: true, encoding: .utf8)
        await f.engine.replaceConfig(config)
        try await f.start()
        let book = await f.engine.addressBook()
        #expect(book.types.first { $0.type == "DHCP" }?.addresses == ["192.0.2.67"])
    }
}

extension PolicyEngine {
    func replaceConfig(_ c: DaemonConfig) { config = c }
}
