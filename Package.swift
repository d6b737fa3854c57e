// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "rampart",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rampart", targets: ["rampart"]),
        .executable(name: "rampartd", targets: ["rampartd"]),
        .library(name: "RampartPolicy", targets: ["RampartPolicy"]),
        .library(name: "RampartCompiler", targets: ["RampartCompiler"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // etcd's JSON gateway (docs/fleet.md): HTTP/1.1 (NIOHTTP1) with TLS client certificates
        // (NIOSSL) and a streaming body for /v3/watch, in RampartFleet's GatewayHTTP. (Not
        // async-http-client: it brings Foundation and ICU's data, 34 MB, into rampartd.)
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0")
    ],
    targets: [
        // Pure core: model, netsh grammar, batch importer, interpreter, store codec.
        .target(name: "RampartPolicy", swiftSettings: strict),
        // Pure core: ordering, expansion, ruleset model, nft text/JSON rendering.
        .target(name: "RampartCompiler", dependencies: ["RampartPolicy"], swiftSettings: strict),
        // libnftnl + libmnl + the netfilter uapi headers.
        // sd_journal_sendv: rampartd's records go to the journal with their own fields.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CNetfilter", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev", "libmnl-dev"])]),
        // The system layer: store file locking and atomic writes, bounded file reads, inotify,
        // eventfd wakeups, systemd notification, host lookups. The pure modules do no I/O.
        // NIOConcurrencyHelpers: NIOLockedValueBox, a pthread mutex ThreadSanitizer can see
        // (Synchronization.Mutex it cannot, on Linux: docs/hardening.md).
        .target(name: "RampartSyscall", swiftSettings: strict),
        .target(name: "RampartConfig", dependencies: ["RampartPolicy"], swiftSettings: strict),
        .target(
            name: "RampartSystem",
            dependencies: [
                "RampartPolicy", "RampartConfig", "RampartSyscall", "CRampartSystem",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ],
            swiftSettings: strict),
        // eventfd, SO_PEERCRED, O_PATH, setns: what Glibc's module does not import.
        .target(name: "CRampartSystem"),
        // The one door to the kernel: netlink transport, linearizer, apply, set updates, read-back.
        .target(
            name: "RampartNetlink",
            dependencies: ["CNetfilter", "RampartCompiler", "RampartPolicy", "RampartSystem", "RampartSyscall"],
            swiftSettings: strict),
        // A transport that records batches and answers as nf_tables does: tests only.
        .target(
            name: "RampartNetlinkFake", dependencies: ["RampartNetlink", "RampartSystem", "CNetfilter"],
            swiftSettings: strict),
        // Every rendering for people and for --json: show, active, counters, status, dynamic.
        .target(
            name: "RampartReport", dependencies: ["RampartPolicy", "RampartCompiler", "RampartVici"],
            swiftSettings: strict),
        .target(name: "RampartVici", swiftSettings: strict),
        // Pure parsers of the files dynamic addresses come from: resolv.conf, DHCP leases, smb.conf.
        .target(name: "RampartSources", dependencies: ["RampartPolicy"], swiftSettings: strict),
        // Windows' own IPsec policy stores (registry exports, LDIF) read into their objects. Pure.
        .target(name: "RampartMigration", dependencies: ["RampartPolicy"], swiftSettings: strict),
        // The control-socket protocol and its blocking client (shared by rampart and rampartd).
        .target(name: "RampartControl", dependencies: ["RampartPolicy", "RampartSyscall"], swiftSettings: strict),
        // The etcd client for domain policy (fleet): range, txn, lease, watch over the JSON gateway.
        .target(
            name: "RampartFleet",
            dependencies: [
                "RampartPolicy",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio")
            ], swiftSettings: strict),
        // The daemon's services: startup, reload, self-healing, control socket, systemd notification.
        .target(
            name: "RampartDaemon",
            dependencies: [
                "RampartPolicy", "RampartCompiler", "RampartNetlink", "RampartControl", "RampartSources",
                "RampartSystem",
                "RampartReport", "RampartFleet", "RampartIPsec", "RampartVici", "RampartConfig", "RampartSyscall",
                "CRampartSystem", "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio")
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "rampartd",
            dependencies: [
                "RampartDaemon", "RampartSystem", "RampartConfig", "RampartNetlink", "RampartControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: strict
        ),
        // IPsec through strongSwan: the VICI protocol (pure wire codec for now).
        .target(
            name: "RampartIPsec",
            dependencies: ["RampartPolicy", "RampartCompiler", "RampartSystem", "RampartVici", "RampartSyscall"],
            swiftSettings: strict),
        // Helpers for tests and benchmarks only. The pure kit (fixtures, the deterministic
        // generator) links no C library; the namespace kit (netns, processes, notify sockets) is
        // for the integration tests and benchmarks.
        .target(name: "CRampartTestKit"),
        .target(name: "RampartTestKit", dependencies: ["CRampartTestKit", "RampartSyscall"], swiftSettings: strict),
        .target(
            name: "RampartNamespaceKit",
            dependencies: ["RampartNetlink", "CRampartSystem", "RampartTestKit", "RampartSyscall"],
            swiftSettings: strict),
        .executableTarget(
            name: "rampart",
            dependencies: [
                "RampartPolicy", "RampartCompiler", "RampartNetlink", "RampartControl", "RampartSystem",
                "RampartReport", "RampartFleet", "RampartIPsec", "RampartVici", "RampartConfig", "RampartSyscall",
                "RampartMigration", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: strict
        ),
        // Fuzz targets of every outside-input parser (docs/fuzzing.md, fuzz/run.sh); built normally
        // it replays corpora.
        .executableTarget(
            name: "rampart-fuzz",
            dependencies: [
                "RampartIPsec", "RampartVici", "RampartConfig", "RampartPolicy", "RampartSources", "RampartNetlink",
                "RampartControl", "RampartCompiler", "RampartReport", "RampartSystem", "RampartMigration"
            ],
            swiftSettings: strict),
        // Benchmarks against nft -f (docs/benchmarks.md); not part of the product.
        .executableTarget(
            name: "rampart-bench",
            dependencies: [
                "RampartTestKit", "RampartSyscall", "RampartNamespaceKit", "RampartNetlink", "RampartCompiler",
                "RampartPolicy", "RampartSystem", "RampartReport", "CNetfilter"
            ], swiftSettings: strict),
        // Pure: no root, no namespace, no libnftnl.
        .testTarget(
            name: "RampartPolicyTests",
            dependencies: ["RampartPolicy", "RampartReport", "RampartSystem", "RampartTestKit"], swiftSettings: strict),
        .testTarget(
            name: "RampartCompilerTests",
            dependencies: ["RampartCompiler", "RampartPolicy", "RampartReport", "RampartSystem", "RampartTestKit"],
            exclude: ["Golden"], swiftSettings: strict),
        .testTarget(
            name: "RampartSourcesTests", dependencies: ["RampartSources", "RampartPolicy", "RampartTestKit"],
            swiftSettings: strict),
        .testTarget(
            name: "RampartMigrationTests", dependencies: ["RampartMigration", "RampartPolicy", "RampartTestKit"],
            exclude: ["Golden"], swiftSettings: strict),
        .testTarget(
            name: "RampartControlTests", dependencies: ["RampartControl", "RampartPolicy"], swiftSettings: strict),
        .testTarget(
            name: "RampartIPsecTests",
            dependencies: [
                "RampartIPsec", "RampartVici", "RampartPolicy", "RampartCompiler", "RampartReport", "RampartTestKit"
            ], swiftSettings: strict),
        // No root: the netlink wire format, the linearizer against its checked-in bytecode
        // goldens (nft is the oracle where it can run), and the engine with a recording transport.
        .testTarget(
            name: "RampartNetlinkTests",
            dependencies: [
                "RampartNetlink", "RampartNetlinkFake", "RampartCompiler", "RampartPolicy", "RampartTestKit",
                "RampartNamespaceKit"
            ],
            exclude: ["Golden"], swiftSettings: strict),
        .testTarget(
            name: "RampartDaemonTests",
            dependencies: [
                "RampartDaemon", "RampartConfig", "CRampartSystem", "RampartNetlinkFake", "RampartNetlink",
                "RampartControl", "RampartSystem", "RampartReport", "RampartCompiler", "RampartPolicy",
                "RampartTestKit",
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOEmbedded", package: "swift-nio")
            ], swiftSettings: strict),
        // Root, namespaces, the real kernel and the real daemon.
        .testTarget(
            name: "RampartIntegrationTests",
            dependencies: [
                "rampart", "RampartFleet", "RampartIPsec", "RampartTestKit", "RampartNamespaceKit", "RampartCompiler",
                "RampartPolicy", "RampartSystem", "RampartControl"
            ], swiftSettings: strict),
        .testTarget(
            name: "RampartCLITests",
            dependencies: [
                "rampart", "RampartPolicy", "RampartCompiler", "RampartReport", "RampartSystem", "RampartTestKit"
            ], exclude: ["Golden"], swiftSettings: strict)
    ],
    swiftLanguageModes: [.v6]
)
