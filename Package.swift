// swift-tools-version:6.1
// GasTown: a multi-agent coding orchestrator as a cluster of town nodes.
// No SwiftPM package dependencies: Foundation, Dispatch, and the system libraries libgit2 and OpenSSL only.
import PackageDescription

let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "GasTown",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gt", targets: ["gt"]),
        .executable(name: "bd", targets: ["bd"]),
        .executable(name: "gt-bench", targets: ["gt-bench"]),
    ],
    targets: [
        // C layer
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .target(name: "CShims", dependencies: ["COpenSSL", "CGit2"]),

        // Pure cores: no I/O, no clock, no hidden randomness.
        .target(name: "Beads", swiftSettings: settings),
        .target(name: "Wire", swiftSettings: settings),
        .target(name: "Membership", swiftSettings: settings),
        .target(name: "Scheduling", swiftSettings: settings),
        .target(name: "Formula", dependencies: ["Beads"], exclude: ["Builtin/LICENSE"], swiftSettings: settings),
        .target(name: "MergeQueue", swiftSettings: settings),
        .target(name: "Health", swiftSettings: settings),

        // Edges
        .target(name: "Transport", dependencies: ["Wire", "COpenSSL", "CShims"], swiftSettings: settings),
        .target(name: "Git", dependencies: ["CGit2", "CShims", "COpenSSL"], swiftSettings: settings),
        .target(name: "LedgerStore", dependencies: ["Beads", "Git", "CShims", "Scheduling"], swiftSettings: settings),
        .target(name: "Sessions", dependencies: ["CShims"], swiftSettings: settings),

        // Shells
        // The town workflow (rigs, polecats, sling, done, mail, hooks): reaches the ledger through `HeldTownLedger`
        // (the node's held store) or opens it embedded; the node assembles it as a component (TownWitness).
        .target(
            name: "Town", dependencies: ["Beads", "Formula", "Git", "LedgerStore", "Sessions", "MergeQueue", "Transport", "Scheduling"],
            swiftSettings: settings),
        .target(
            name: "Node",
            dependencies: [
                "Beads", "Wire", "Membership", "Transport", "Git", "LedgerStore", "Sessions", "MergeQueue", "Town",
                "Scheduling", "Health",
            ],
            swiftSettings: settings),

        // The web dashboard each node serves (HTTP/1.1 + SSE, JSON API, HTML pages): docs/dashboard.md.
        .target(
            name: "Dashboard",
            dependencies: [
                "Beads", "Node", "Town", "Transport", "LedgerStore", "Scheduling", "Membership", "COpenSSL", "CShims",
            ],
            swiftSettings: settings),

        // App and executables
        .target(
            name: "GasTownCLI",
            dependencies: [
                "Beads", "Wire", "Membership", "Formula", "Transport", "Git", "LedgerStore", "Sessions", "Node",
                "Scheduling", "Town", "Health", "Dashboard",
            ],
            swiftSettings: settings),
        .executableTarget(name: "gt", dependencies: ["GasTownCLI"], swiftSettings: settings),
        .executableTarget(name: "bd", dependencies: ["GasTownCLI"], swiftSettings: settings),
        .executableTarget(
            name: "gt-bench",
            dependencies: [
                "GasTownCLI", "GasTownTestKit", "Beads", "Git", "LedgerStore", "Membership", "MergeQueue", "Transport",
            ],
            swiftSettings: settings),
        // Child processes for multi-process tests (git compare-and-swap pushes; store locks and kill -9).
        .executableTarget(name: "gt-testhelper", dependencies: ["CShims", "Git", "LedgerStore"], swiftSettings: settings),

        // Test support and tests
        .target(
            name: "GasTownTestKit",
            dependencies: [
                "Beads", "Wire", "Membership", "Formula", "MergeQueue", "Transport", "Git", "LedgerStore", "Sessions",
                "Node", "Town",
            ],
            swiftSettings: settings),
        .testTarget(name: "BeadsTests", dependencies: ["Beads", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "WireTests", dependencies: ["Wire", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "FormulaTests", dependencies: ["Formula", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "MembershipTests", dependencies: ["Membership", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "MergeQueueTests", dependencies: ["MergeQueue", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "HealthTests", dependencies: ["Health"], swiftSettings: settings),
        .testTarget(
            name: "MembershipShellTests",
            dependencies: ["Node", "Membership", "Transport", "Wire", "GasTownCLI", "GasTownTestKit"],
            swiftSettings: settings),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(name: "GitTests", dependencies: ["Git", "GasTownTestKit", "gt-testhelper"], swiftSettings: settings),
        .testTarget(
            name: "LedgerStoreTests", dependencies: ["LedgerStore", "GasTownTestKit", "gt-testhelper"],
            swiftSettings: settings),
        .testTarget(name: "SessionsTests", dependencies: ["Sessions", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(
            name: "LedgerSyncTests", dependencies: ["LedgerStore", "Git", "Beads", "GasTownTestKit", "bd"],
            swiftSettings: settings),
        .testTarget(
            name: "GasTownCLITests", dependencies: ["GasTownCLI", "Formula", "GasTownTestKit"], swiftSettings: settings),
        .testTarget(
            name: "NodeTests", dependencies: ["Node", "GasTownCLI", "GasTownTestKit", "gt"], swiftSettings: settings),
        .testTarget(
            name: "DashboardTests",
            dependencies: [
                "Dashboard", "Node", "Wire", "Beads", "LedgerStore", "Transport", "Sessions", "Town", "GasTownCLI",
                "GasTownTestKit", "gt", "bd",
            ],
            swiftSettings: settings),
        .testTarget(
            name: "TownTests", dependencies: ["Town", "Node", "Beads", "LedgerStore", "GasTownTestKit", "gt"],
            swiftSettings: settings),
    ]
)
