// swift-tools-version: 6.1
import PackageDescription

// MARK: - Build settings

/// `Float.squareRoot()` lowers to `__builtin_sqrtf`; with C's default `-fmath-errno` that becomes
/// a call to `sqrtf` plus an errno branch, which stops the optimizer loops from vectorizing
/// (see ../shared/docs/MACHINE-FACTS.md). sqrt of a negative number never happens in these
/// kernels, so dropping errno changes no result.
let numericsFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno"])]

let package = Package(
    name: "FedSim",
    // Linux is where FedSim runs; on macOS, Synchronization (Mutex, Atomic) needs 15.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fedsim", targets: ["fedsim"]),
        .library(name: "FedCore", targets: ["FedCore"]),
        .library(name: "FedOptim", targets: ["FedOptim"]),
        .library(name: "FedConfig", targets: ["FedConfig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // MARK: - Libraries, from the bottom of the graph up

        /// Parameter layouts, seeded random streams, FNV-1a hashes, work spread over threads. No networking.
        .target(name: "FedCore", swiftSettings: numericsFlags),
        /// zlib (Debian zlib1g-dev), found by pkg-config: FedData reads gzip-compressed IDX files with it.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        /// Data sets: loaders (CSV, LIBSVM, IDX images plain or gzip, Fashion-MNIST), synthetic generators,
        /// partitions.
        .target(name: "FedData", dependencies: ["CZlib", "FedCore"]),
        /// FedSim's own matrix products and image kernels: the same bits on every CPU (vectors across
        /// columns, sums in order; multiply-adds fused only where asked, as exact FMA), where BLAS
        /// kernels differ from machine to machine. libm: the fused product's portable path calls fmaf.
        .target(
            name: "CFedKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])],
            linkerSettings: [.linkedLibrary("m")]),
        /// Networks of layers on one contiguous parameter buffer: dense models, conv nets, presets.
        .target(name: "FedModels", dependencies: ["CFedKernels", "FedCore", "FedData"], swiftSettings: numericsFlags),
        /// Optimizers as composable gradient transforms with explicit, serializable state.
        .target(name: "FedOptim", dependencies: ["FedCore"], swiftSettings: numericsFlags),
        /// The transport seam: message frames, the `MessageSocket` protocol, the injectable clock.
        .target(name: "FedTransport"),
        /// An in-memory ROUTER/DEALER network and a manual clock: the coordinator's and client
        /// host's rules tested without processes, in milliseconds.
        .target(name: "FedTransportMemory", dependencies: ["FedTransport"]),
        /// libzmq (Debian libzmq3-dev), found by pkg-config. Only FedTransportZMQ imports it.
        .systemLibrary(
            name: "CZeroMQ", path: "Sources/CZeroMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        /// A thin, safe layer over libzmq: EINTR retried, EAGAIN a value, typed errors; a `MessageSocket`.
        .target(name: "FedTransportZMQ", dependencies: ["CZeroMQ", "FedTransport"]),
        /// The messages of a federation: tasks, updates, state policies (no bytes: those are FedWire).
        .target(name: "FedProtocol", dependencies: ["FedOptim"]),
        /// Every byte layout: the strict wire codec, optimizer-state and snapshot coding, raw Float32.
        .target(name: "FedWire", dependencies: ["FedOptim", "FedProtocol", "FedTransport"]),
        /// A virtual client: shard, model copy, optimizer, state policy, local training.
        .target(name: "FedClient", dependencies: ["FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol"]),
        /// Server-side aggregation: FedAvg and the server optimizers, robust means, state averaging.
        .target(name: "FedStrategy", dependencies: ["FedOptim", "FedProtocol"]),
        /// The round engine: sampling, tasks, update validation, aggregation, evaluation; the client-pool seam.
        .target(
            name: "FedCoordinator",
            dependencies: [
                "FedClient", "FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol", "FedStrategy"
            ]),
        /// Strict YAML/JSON reading: every key known, every value in range, errors with file, line and key path.
        .target(name: "FedConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        /// The run schema: a topology's sections and the optimizer block, read strictly and written back resolved.
        .target(
            name: "FedTopology",
            dependencies: [
                "FedClient", "FedConfig", "FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol", "FedStrategy",
                "FedTransport", .product(name: "Yams", package: "Yams")
            ]),
        /// A run: prepared from a topology, driven by the one RunDriver, recorded in its run directory; the in-process pool.
        .target(
            name: "FedSimulation",
            dependencies: [
                "FedClient", "FedCoordinator", "FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol",
                "FedStrategy", "FedTopology", "FedTransport", "FedWire"
            ]),
        /// Distributed runs over ZeroMQ: the coordinator's pool, client hosts, the process launcher.
        .target(
            name: "FedCluster",
            dependencies: [
                "FedClient", "FedCoordinator", "FedOptim", "FedProtocol", "FedSimulation", "FedTopology",
                "FedTransport", "FedTransportZMQ", "FedWire"
            ]),
        /// `fedsim compare` and `fedsim report`: specs, the run queue, summaries, HTML/SVG reports.
        .target(
            name: "FedCompare",
            dependencies: [
                "FedConfig", "FedCoordinator", "FedCore", "FedData", "FedSimulation", "FedTopology",
                .product(name: "Yams", package: "Yams")
            ]),
        /// Throughput benchmarks (optimizer step vs STREAM triad, conv net passes), run by `fedsim bench`.
        .target(
            name: "FedBench", dependencies: ["FedCore", "FedData", "FedModels", "FedOptim"], swiftSettings: numericsFlags),

        /// The readers of untrusted bytes (wire decoder, topology parser, data loaders) as fuzz targets.
        .target(
            name: "FedFuzzTargets",
            dependencies: ["FedData", "FedOptim", "FedProtocol", "FedTopology", "FedTransport", "FedWire"]),

        // MARK: - Executable

        /// libFuzzer driver for FedFuzzTargets (Scripts/fuzz.sh); without -DFUZZING, a corpus replayer.
        .executableTarget(name: "fedsim-fuzz", dependencies: ["FedFuzzTargets"]),
        /// The `fedsim` command line (swift-argument-parser).
        .executableTarget(
            name: "fedsim",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "FedBench", "FedCluster",
                "FedCompare", "FedConfig", "FedCore", "FedModels", "FedOptim", "FedProtocol", "FedSimulation", "FedTopology",
                "FedTransport", "FedTransportZMQ", "FedWire"
            ]),

        // MARK: - Tests

        /// Finds the built `fedsim`, runs it, reads the run directories it writes.
        .target(name: "FedTestSupport", path: "Tests/FedTestSupport"),
        .testTarget(name: "FedCLITests", dependencies: ["FedTestSupport", "fedsim"]),
        .testTarget(
            name: "FedClusterTests",
            dependencies: [
                "FedClient", "FedCluster", "FedCore", "FedCoordinator", "FedData", "FedProtocol", "FedSimulation",
                "FedTestSupport", "FedTopology", "FedTransport", "FedTransportMemory", "FedTransportZMQ", "FedWire",
                "fedsim",
            ]),
        .testTarget(
            name: "FedCompareTests",
            dependencies: [
                "FedCompare", "FedCoordinator", "FedTestSupport", "fedsim"
            ]),
        .testTarget(name: "FedCoordinatorTests", dependencies: ["FedCoordinator", "FedOptim", "FedProtocol"]),
        .testTarget(name: "FedCoreTests", dependencies: ["FedCore"]),
        .testTarget(name: "FedFuzzTargetsTests", dependencies: ["FedCore", "FedFuzzTargets"]),
        .testTarget(name: "FedDataTests", dependencies: ["FedCore", "FedData"]),
        .testTarget(
            name: "FedModelsTests", dependencies: ["CFedKernels", "FedCore", "FedData", "FedModels", "FedOptim"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "FedOptimTests",
            dependencies: [
                "FedConfig", "FedCore", "FedOptim", "FedTopology"
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "FedSimulationTests",
            dependencies: [
                "FedClient", "FedCoordinator", "FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol", "FedSimulation", "FedStrategy",
                "FedTopology", "FedWire",
            ]),
        .testTarget(
            name: "FedStrategyTests",
            dependencies: [
                "FedOptim", "FedProtocol", "FedSimulation", "FedStrategy", "FedTopology"
            ]),
        .testTarget(name: "FedTopologyTests", dependencies: ["FedTopology"]),
        .testTarget(name: "FedWireTests", dependencies: ["FedOptim", "FedProtocol", "FedTransport", "FedWire"]),
    ]
)
