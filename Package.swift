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
    platforms: [.macOS(.v13)],
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
        // MARK: - Libraries

        /// Parameter buffers and layouts, seeded random numbers, hashing. No networking.
        .target(name: "FedCore", swiftSettings: numericsFlags),
        /// Data sets: loaders (CSV, LIBSVM, MNIST IDX), synthetic generators, partitions.
        .target(name: "FedData", dependencies: ["FedCore"]),
        /// FedSim's own matrix product: the same bits on every CPU (vectors across columns, sums in
        /// order, no fused multiply-add), where BLAS kernels differ from machine to machine.
        .target(name: "CFedKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        /// Models on one contiguous parameter buffer: linear, logistic, softmax regression, MLP.
        .target(name: "FedModels", dependencies: ["FedCore", "FedData", "CFedKernels"], swiftSettings: numericsFlags),
        /// Optimizers as composable gradient transforms with explicit, serializable state.
        .target(name: "FedOptim", dependencies: ["FedCore"], swiftSettings: numericsFlags),
        /// The messages coordinator and clients exchange (and, with the distributed issue, their codec).
        .target(name: "FedProtocol", dependencies: ["FedCore", "FedOptim", "FedTransport"]),
        /// A virtual client: shard, model copy, optimizer, state policy, local training.
        .target(name: "FedClient", dependencies: ["FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol"]),
        /// Server-side aggregation (FedAvg, weighted means in client-id order, state averaging).
        .target(name: "FedStrategy", dependencies: ["FedOptim", "FedProtocol"]),
        /// The round engine: sampling, tasks, aggregation, evaluation; the client-pool seam.
        .target(name: "FedCoordinator", dependencies: ["FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol", "FedClient", "FedStrategy"]),
        /// Wires a topology into a run: data, partition, clients, engine, run directory.
        .target(name: "FedSimulation", dependencies: ["FedCore", "FedData", "FedModels", "FedOptim", "FedProtocol", "FedClient", "FedStrategy", "FedCoordinator", "FedConfig"]),
        /// libzmq (Debian libzmq3-dev), found by pkg-config. Only FedTransportZMQ imports it.
        .systemLibrary(
            name: "CZeroMQ", path: "Sources/CZeroMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        /// A thin, safe layer over libzmq: EINTR retried, EAGAIN a value, typed errors.
        .target(name: "FedTransportZMQ", dependencies: ["CZeroMQ", "FedTransport"]),
        /// The transport seam: message frames, the `MessageSocket` protocol, the injectable clock.
        .target(name: "FedTransport"),
        /// An in-memory ROUTER/DEALER network and a manual clock: the coordinator's and client
        /// host's rules tested without processes, in milliseconds.
        .target(name: "FedTransportMemory", dependencies: ["FedTransport"]),
        /// Distributed runs over ZeroMQ: the coordinator's pool, client hosts, checkpoints, launcher.
        .target(name: "FedCluster", dependencies: ["FedCore", "FedConfig", "FedClient", "FedCoordinator", "FedOptim",
                                                   "FedProtocol", "FedSimulation", "FedTransport", "FedTransportZMQ"]),
        /// `fedsim compare` and `fedsim report`: specs, the run queue, summaries, HTML/SVG reports.
        .target(name: "FedCompare", dependencies: ["FedConfig", "FedCoordinator", "FedSimulation", .product(name: "Yams", package: "Yams")]),
        /// Strict YAML/JSON configuration reading (path-aware errors) and the optimizer block.
        .target(
            name: "FedConfig",
            dependencies: ["FedCore", "FedOptim", "FedData", "FedModels", "FedProtocol", "FedClient", "FedStrategy",
                           .product(name: "Yams", package: "Yams")]),

        // MARK: - Executables

        .executableTarget(
            name: "fedsim",
            dependencies: [
                "FedCore", "FedOptim", "FedConfig", "FedBench", "FedSimulation", "FedCluster", "FedCoordinator", "FedTransportZMQ", "FedProtocol", "FedCompare",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        /// Throughput benchmarks (optimizer step vs STREAM triad), run by `fedsim bench`.
        .target(name: "FedBench", dependencies: ["FedCore", "FedOptim"], swiftSettings: numericsFlags),

        // MARK: - Tests

        /// Finds the built `fedsim`, runs it, reads the run directories it writes.
        .target(name: "FedTestSupport", path: "Tests/FedTestSupport"),

        .testTarget(name: "FedCoreTests", dependencies: ["FedCore"]),
        .testTarget(name: "FedDataTests", dependencies: ["FedData"]),
        .testTarget(name: "FedModelsTests", dependencies: ["FedModels", "CFedKernels"]),
        .testTarget(name: "FedCoordinatorTests", dependencies: ["FedCoordinator", "FedOptim", "FedProtocol"]),
        .testTarget(name: "FedSimulationTests", dependencies: ["FedSimulation", "FedProtocol", "FedTransport"]),
        .testTarget(name: "FedCompareTests", dependencies: ["FedCompare", "FedConfig", "FedCoordinator", "FedTestSupport", "fedsim"]),
        .testTarget(name: "FedClusterTests", dependencies: ["FedCluster", "FedConfig", "FedProtocol", "FedSimulation", "FedTransport", "FedTransportMemory", "FedTransportZMQ", "FedTestSupport", "fedsim"]),
        .testTarget(
            name: "FedOptimTests", dependencies: ["FedOptim", "FedConfig"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "FedCLITests", dependencies: ["FedTestSupport", "fedsim"]),
    ]
)
