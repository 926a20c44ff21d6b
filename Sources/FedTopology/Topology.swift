import FedClient
import FedCore
import FedData
import FedModels
import FedOptim
import FedProtocol
import FedStrategy
import Foundation

/// A run, fully resolved: every field has its value (defaults filled in). Read from a YAML
/// topology file by `Topology.load`; written back as `topology.yaml` into the run directory.
/// `docs/TOPOLOGY.md` documents every field.
public struct Topology: Sendable, Equatable {
    public var name: String
    public var seed: UInt64
    /// `data_seed` and `train_seed` when the topology gives them; each defaults to `seed`.
    public var explicitDataSeed: UInt64?
    public var explicitTrainSeed: UInt64?
    public var rounds: Int
    public var data: DataSpec
    public var partition: PartitionSpec
    public var model: ModelSpec
    public var clients: ClientsSpec
    public var server: ServerSpec
    public var cluster: ClusterSpec
    /// Threads that train a round's clients and evaluate the model (0: one per core). How the
    /// work is spread, never what it computes: not part of the numbers (`numbersYAML`).
    public var threads: Int = 0
    /// Extra per-round evaluations (each a pass over every client's data). What is logged, never
    /// what is computed: not part of the numbers (`numbersYAML`).
    public var metrics = MetricsSpec()
    /// The virtual clock: devices, availability, deadlines (nil: every client is equal and instant).
    public var clock: VirtualClock?
    /// The directory relative paths are resolved against (the topology file's directory).
    public var baseDirectory: String

    /// Where the samples come from.
    public enum DataSource: Sendable, Equatable {
        case csv(path: String, labelColumn: String?)
        case libsvm(path: String)
        case idx(images: String, labels: String)
        /// NumPy arrays: features (Float32 ones memory-mapped) and targets.
        case npy(features: String, targets: String)
        /// Fashion-MNIST's official split (Debian's dataset-fashion-mnist, or IDX files in `path`):
        /// the first `trainCount` training and `testCount` test images.
        case fashionMNIST(path: String?, trainCount: Int, testCount: Int)
        /// One file per client (for the `natural` partition).
        case directory(path: String)
        case linearRegression(count: Int, features: Int, noise: Double)
        case blobs(count: Int, features: Int, classes: Int, spread: Double)
        /// Synthetic(α, β) of the FedProx paper, naturally split across clients.
        case fedprox(alpha: Double, beta: Double, options: Synthetic.FedProxOptions)

        public var name: String {
            switch self {
            case .csv: "csv"
            case .libsvm: "libsvm"
            case .idx: "idx"
            case .npy: "npy"
            case .fashionMNIST: "fashion-mnist"
            case .directory: "directory"
            case .linearRegression: "linear_regression"
            case .blobs: "blobs"
            case .fedprox: "fedprox"
            }
        }
        /// Sources whose samples already belong to clients.
        public var isNaturallySplit: Bool {
            switch self {
            case .directory, .fedprox: true
            default: false
            }
        }
    }

    public struct DataSpec: Sendable, Equatable {
        public var source: DataSource
        public var task: DataTask
        /// Share of the samples held out as the global test set (per client for natural splits).
        public var testFraction: Double
        /// Standardize features with the training set's mean and std.
        public var standardize: Bool
        /// Normalize each image channel with the training set's mean and std over that channel.
        public var normalize: Bool = false
        /// Each sample's shape (`[C, H, W]` for images) where the source does not give it.
        public var shape: [Int]?
        /// Share of the training data held out for validation (0: none). Every selection — best
        /// round, best hyperparameters — uses it, never the test set.
        public var validationFraction: Double = 0
        /// Where the validation samples come from.
        public var validation: ValidationScope = .pooled
    }

    public struct MetricsSpec: Sendable, Equatable {
        /// The global model's loss over every client's training data (not only the
        /// participants' running loss): `global_train_loss`.
        public var globalTrainLoss = false
        /// The global model's accuracy on each client's own held-out data — its test share for
        /// split sources, its validation share under `validation: per_client`, else its training
        /// shard — summarized as mean, 10th percentile and worst over all clients.
        public var clientAccuracy = false
        public init() {}
    }

    public enum ValidationScope: String, Sendable, Equatable, CaseIterable {
        /// Held out from the pooled training set before it is partitioned (stratified).
        case pooled
        /// Held out from each client's shard (stratified per client): validation data
        /// distributed as the clients' own data. The only choice for naturally split data.
        case perClient = "per_client"
    }

    public enum PartitionSpec: Sendable, Equatable {
        case scheme(PartitionScheme)
        case natural
        public var name: String {
            switch self {
            case .natural: "natural"
            case .scheme(.iid): "iid"
            case .scheme(.dirichlet): "dirichlet"
            case .scheme(.shards): "shards"
            case .scheme(.quantity): "quantity"
            }
        }
    }

    public struct ModelSpec: Sendable, Equatable {
        public var kind: ModelKind
        /// Hidden widths (mlp only).
        public var hidden: [Int]
        /// Biases on every layer (the dense kinds; layers say it themselves).
        public var bias: Bool
        /// The conv net of `kind: cnn`.
        public var preset: NetworkPreset?
        /// The layers of `kind: sequential`.
        public var layers: [LayerSpec] = []
        /// Initial global weights from a file (JSON array or raw little-endian Float32);
        /// nil means seeded PyTorch-style initialization.
        public var initFile: String?
        /// The federated policy of batch-norm layers.
        public var batchNorm: BatchNormPolicy = .averaged
    }

    /// What happens to batch-norm layers in a federation.
    public enum BatchNormPolicy: String, Sendable, Equatable, CaseIterable {
        /// Weights, biases and running statistics travel in the delta and are aggregated like
        /// every other parameter.
        case averaged
        /// FedBN (Li et al. 2021): each client keeps its own batch norms (weights, biases, running
        /// statistics) across rounds and trains with them in place of the global model's.
        case local
    }

    /// A group of clients that trains differently from the default (e.g. half AdamW, half Adam+L2).
    public struct ClientGroup: Sendable, Equatable {
        public var name: String
        public var clients: ClosedRange<Int>
        public var optimizer: OptimizerSpec
        public var state: StatePolicy

        public init(name: String, clients: ClosedRange<Int>, optimizer: OptimizerSpec, state: StatePolicy) {
            self.name = name
            self.clients = clients
            self.optimizer = optimizer
            self.state = state
        }
    }

    public struct ClientsSpec: Sendable, Equatable {
        public var count: Int
        public var perRound: Int
        public var local: LocalTraining
        public var optimizer: OptimizerSpec
        public var state: StatePolicy
        /// Explicit groups; clients outside every group form the default group 0.
        public var groups: [ClientGroup]
        /// How the *aggregate* policy combines optimizer states.
        public var stateAggregation: StateAggregation
        /// Which sampled clients straggle each round, and what becomes of their work.
        public var stragglers = Stragglers()
        /// How each round's participants are drawn.
        public var sampling = Sampling.uniform

        public enum Sampling: String, Sendable, Equatable, CaseIterable {
            /// Every client equally likely (without replacement).
            case uniform
            /// Proportional to the client's training samples (without replacement).
            case bySamples = "by_samples"
        }

        /// All groups, the default first: index 0 is the top-level optimizer and state.
        public var allGroups: [ClientGroup] {
            [ClientGroup(name: "default", clients: 0...(count - 1), optimizer: optimizer, state: state)] + groups
        }

        /// The group index of every client (later groups override earlier ones).
        public var groupOfClient: [Int] {
            var result = [Int](repeating: 0, count: count)
            for (g, group) in groups.enumerated() {
                for c in group.clients { result[c] = g + 1 }
            }
            return result
        }
    }

    /// The seed of the data: generation, the test and validation splits, the partition.
    public var dataSeed: UInt64 { explicitDataSeed ?? seed }
    /// The seed of training: initialization, client sampling, shuffling, dropout.
    public var trainSeed: UInt64 { explicitTrainSeed ?? seed }

    /// `threads` with 0 resolved to the machine's cores.
    public var threadCount: Int { threads > 0 ? threads : ParallelWork.cores }

    public func resolve(_ path: String) -> String {
        path.hasPrefix("/")
            ? path : URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).standardizedFileURL.path
    }
}
