// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "rampart",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rampart", targets: ["rampart"]),
        .executable(name: "rampartd", targets: ["rampartd"]),
        .library(name: "RampartPolicy", targets: ["RampartPolicy"]),
        .library(name: "RampartCompiler", targets: ["RampartCompiler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // Pure core: model, netsh grammar, batch importer, interpreter, store codec.
        .target(name: "RampartPolicy", swiftSettings: strict),
        // Pure core: ordering, expansion, ruleset model, nft text/JSON rendering.
        .target(name: "RampartCompiler", dependencies: ["RampartPolicy"], swiftSettings: strict),
        // libnftnl + libmnl + the netfilter uapi headers.
        .systemLibrary(name: "CNetfilter", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev", "libmnl-dev"])]),
        // The one door to the kernel: netlink transport, linearizer, apply, set updates, read-back.
        .target(name: "RampartNetlink", dependencies: ["CNetfilter", "RampartCompiler", "RampartPolicy"], swiftSettings: strict),
        // Pure parsers of the files dynamic addresses come from: resolv.conf, DHCP leases, smb.conf.
        .target(name: "RampartSources", dependencies: ["RampartPolicy"], swiftSettings: strict),
        // The control-socket protocol and its blocking client (shared by rampart and rampartd).
        .target(name: "RampartControl", dependencies: ["RampartPolicy"], swiftSettings: strict),
        // The daemon's services: startup, reload, self-healing, control socket, systemd notification.
        .target(
            name: "RampartDaemon",
            dependencies: [
                "RampartPolicy", "RampartCompiler", "RampartNetlink", "RampartControl", "RampartSources", "CNetfilter",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "rampartd",
            dependencies: ["RampartDaemon", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // Helpers for tests and benchmarks only: namespaces, processes, generated policies.
        .target(name: "RampartTestSupport", dependencies: ["RampartNetlink", "CNetfilter"], swiftSettings: strict),
        .executableTarget(
            name: "rampart",
            dependencies: [
                "RampartPolicy", "RampartCompiler", "RampartNetlink", "RampartControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks against nft -f (docs/benchmarks.md); not part of the product.
        .executableTarget(name: "rampart-bench", dependencies: ["RampartTestSupport", "RampartNetlink", "RampartCompiler", "RampartPolicy"], swiftSettings: strict),
        .testTarget(name: "RampartPolicyTests", dependencies: ["RampartPolicy", "RampartTestSupport"], swiftSettings: strict),
        .testTarget(name: "RampartCompilerTests", dependencies: ["RampartCompiler", "RampartPolicy", "RampartTestSupport"], exclude: ["Golden"], swiftSettings: strict),
        .testTarget(name: "RampartSourcesTests", dependencies: ["RampartSources", "RampartPolicy", "RampartTestSupport"], swiftSettings: strict),
        .testTarget(name: "RampartNetlinkTests", dependencies: ["RampartNetlink", "RampartCompiler", "RampartPolicy", "RampartTestSupport"], swiftSettings: strict),
        .testTarget(name: "RampartIntegrationTests", dependencies: ["rampart", "RampartTestSupport", "RampartCompiler", "RampartPolicy"], swiftSettings: strict),
        .testTarget(name: "RampartControlTests", dependencies: ["RampartControl", "RampartPolicy"], swiftSettings: strict),
        .testTarget(name: "RampartCLITests", dependencies: ["rampart", "RampartPolicy", "RampartCompiler"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
