import FedClient
import FedConfig
import FedData
import FedModels
import FedOptim
import FedProtocol
import FedStrategy
import Foundation
import Yams

/// A `key.path=value` applied on top of a topology file, and the flag it came from (`--set …`,
/// `--rounds 5`, `--processes 3`), which an error about that value names instead of a file line.
public struct Override: Sendable, Equatable {
    public var assignment: String
    public var flag: String

    public init(_ assignment: String, flag: String? = nil) {
        self.assignment = assignment
        self.flag = flag ?? "--set \(assignment)"
    }

    /// The key path it sets (`clients.count` for `clients.count=5`).
    var keyPath: String { String(assignment.prefix { $0 != "=" }) }
}

extension Topology {
    /// Reads a topology file, applies `--set key.path=value` overrides, and resolves every
    /// default. Every problem is a `ConfigError` naming the file, line and key path.
    public static func load(file: String, overrides: [String] = []) throws -> Topology {
        try load(file: file, overrides: overrides.map { Override($0) })
    }

    /// As `load(file:overrides:)`, with overrides that name the flag they came from.
    public static func load(file: String, overrides: [Override]) throws -> Topology {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(path: "", message: "cannot read \(file): no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, path: "", message: "not UTF-8 text")
        }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent().path
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        return try parse(text, file: file, baseDirectory: base, defaultName: stem, overrides: overrides)
    }

    public static func parse(
        _ text: String, file: String? = nil, baseDirectory: String, defaultName: String = "run",
        overrides: [String] = []
    ) throws -> Topology {
        try parse(
            text, file: file, baseDirectory: baseDirectory, defaultName: defaultName,
            overrides: overrides.map { Override($0) })
    }

    public static func parse(
        _ text: String, file: String? = nil, baseDirectory: String, defaultName: String = "run", overrides: [Override]
    ) throws -> Topology {
        var node: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, path: "", message: "the file is empty")
            }
            node = n
        } catch let error as YamlError {
            throw ConfigError(file: file, path: "", message: "not valid YAML: \(ConfigMap.describe(error))")
        }
        for o in overrides {
            do {
                node = try applyOverride(o.assignment, to: node)
            } catch let error as ConfigError {
                throw ConfigError(file: o.flag, path: "", message: error.message)
            }
        }
        do {
            let root = try ConfigMap(node, path: "", file: file)
            return try TopologyReader(root: root, baseDirectory: baseDirectory, defaultName: defaultName).read()
        } catch var error as ConfigError {
            // A problem with a value an override set is the flag's problem, not the file's.
            if let o = overrides.last(where: {
                error.path == $0.keyPath || error.path.hasPrefix($0.keyPath + ".")
                    || $0.keyPath.hasPrefix(error.path + ".")
            }) {
                error.file = o.flag
                error.line = nil
            }
            throw error
        }
    }

    /// Applies one `key.path=value` (the value is YAML: `0.1`, `adamw`, `[64, 32]`, `{name: sgd}`).
    static func applyOverride(_ assignment: String, to node: Node) throws -> Node {
        guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
            throw ConfigError(path: "--set", message: "'\(assignment)' is not of the form key.path=value")
        }
        let keys = assignment[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard keys.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigError(path: "--set", message: "'\(assignment)': empty key in the path")
        }
        let valueText = String(assignment[assignment.index(after: eq)...])
        let value: Node
        do {
            value = try Yams.compose(yaml: valueText) ?? Node("")
        } catch {
            throw ConfigError(
                path: "--set \(keys.joined(separator: "."))", message: "'\(valueText)' is not a valid YAML value")
        }
        func set(_ node: Node, _ path: ArraySlice<String>, _ prefix: String) throws -> Node {
            guard case .mapping(var m) = node else {
                throw ConfigError(path: prefix, message: "--set cannot go inside a value that is not a mapping")
            }
            let key = path.first!
            let here = prefix.isEmpty ? key : prefix + "." + key
            if path.count == 1 {
                m[key] = value
            } else {
                m[key] = try set(m[key] ?? Node.mapping(Node.Mapping([])), path.dropFirst(), here)
            }
            return .mapping(m)
        }
        return try set(node, keys[...], "")
    }
}

/// Reads the sections of a topology in order; each section checks its own keys.
struct TopologyReader {
    let root: ConfigMap
    let baseDirectory: String
    let defaultName: String

    func read() throws -> Topology {
        root.expected = TopologyKeys.of("")
        let name = try root.string("name") ?? defaultName
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !name.isEmpty else {
            throw root.error(
                "name", "'\(name)' may only hold letters, digits, '-', '_' and '.' (it names the run directory)")
        }
        let seed = try root.int("seed", default: 0, in: 0...Int.max)
        let dataSeed = try root.optionalInt("data_seed", in: 0...Int.max)
        let trainSeed = try root.optionalInt("train_seed", in: 0...Int.max)
        let rounds = try root.int("rounds", default: 10, in: 1...1_000_000)
        let threads = try root.int("threads", default: 0, in: 0...1024)
        guard let dataMap = try root.map("data") else { throw root.error(nil, "missing required section 'data'") }
        let data = try readData(dataMap)
        let partition = try readPartition(try root.map("partition"), data: data)
        guard let modelMap = try root.map("model") else { throw root.error(nil, "missing required section 'model'") }
        let model = try readModel(modelMap, data: data)
        guard let clientsMap = try root.map("clients") else {
            throw root.error(nil, "missing required section 'clients'")
        }
        let clients = try readClients(clientsMap)
        let server = try readServer(try root.map("server"))
        var metrics = Topology.MetricsSpec()
        if let m = try root.map("metrics") {
            m.expected = TopologyKeys.of("metrics")
            metrics.globalTrainLoss = try m.bool("global_train_loss", default: false)
            metrics.clientAccuracy = try m.bool("client_accuracy", default: false)
            try m.finish()
        }
        let clock = try root.map("clock").map { try readClock($0, clientCount: clients.count) }
        if clock != nil && clients.stragglers.fraction > 0 {
            throw root.error(
                "clock",
                "give clients.stragglers (the FedProx paper's draw) or clock (a deadline decides who is late), "
                    + "not both")
        }
        let base = baseDirectory
        let cluster =
            try root.map("cluster").map { m in
                try ClusterSpec.parse(m) { path in
                    path.hasPrefix("/")
                        ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
                }
            } ?? ClusterSpec()
        try root.finish()
        if partition == .natural && !data.source.isNaturallySplit {
            throw root.error(
                "partition",
                "the natural partition needs a data source that is split by client (directory or fedprox), not "
                    + "\(data.source.name)"
            )
        }
        if data.source.isNaturallySplit && partition != .natural {
            throw root.error(
                "partition",
                "data source \(data.source.name) is already split by client: use partition: {scheme: natural}")
        }
        var topology = Topology(
            name: name, seed: UInt64(seed), rounds: rounds, data: data, partition: partition, model: model,
            clients: clients, server: server, cluster: cluster, baseDirectory: baseDirectory)
        topology.threads = threads
        topology.metrics = metrics
        topology.clock = clock
        topology.explicitDataSeed = dataSeed.map(UInt64.init)
        topology.explicitTrainSeed = trainSeed.map(UInt64.init)
        return topology
    }

    func readData(_ m: ConfigMap) throws -> Topology.DataSpec {
        m.expected = TopologyKeys.of("data")
        enum Source: String, CaseIterable {
            case csv, libsvm, idx, npy, directory, fedprox, blobs
            case fashionMNIST = "fashion-mnist"
            case linearRegression = "linear_regression"
        }
        let kind = try m.choice("source", as: Source.self)
        func required(_ key: String) throws -> String {
            guard let value = try m.string(key) else {
                throw m.error(nil, "missing required key '\(key)' for source \(kind.rawValue)")
            }
            return value
        }
        let source: Topology.DataSource
        var defaultTask = DataTask.classification
        switch kind {
        case .csv: source = .csv(path: try required("path"), labelColumn: try m.string("label_column"))
        case .libsvm: source = .libsvm(path: try required("path"))
        case .idx: source = .idx(images: try required("images"), labels: try required("labels"))
        case .npy: source = .npy(features: try required("features"), targets: try required("targets"))
        case .fashionMNIST:
            source = .fashionMNIST(
                path: try m.string("path"), trainCount: try m.int("count", default: 60_000, in: 1...60_000),
                testCount: try m.int("test_count", default: 10_000, in: 1...10_000))
        case .directory: source = .directory(path: try required("path"))
        case .linearRegression:
            defaultTask = .regression
            source = .linearRegression(
                count: try m.int("count", default: 1000, in: 2...100_000_000),
                features: try m.int("features", default: 10, in: 1...1_000_000),
                noise: try m.double("noise", default: 0.1, in: .nonNegative))
        case .blobs:
            source = .blobs(
                count: try m.int("count", default: 1000, in: 2...100_000_000),
                features: try m.int("features", default: 2, in: 1...1_000_000),
                classes: try m.int("classes", default: 3, in: 2...100_000),
                spread: try m.double("spread", default: 1, in: .positive))
        case .fedprox:
            let iid = try m.bool("iid", default: false)
            if iid && m.has("alpha") {
                throw m.error("alpha", "iid fedprox data has one model for every client; alpha is not used")
            }
            source = .fedprox(
                alpha: try m.double("alpha", default: iid ? 0 : 1, in: .nonNegative),
                beta: try m.double("beta", default: iid ? 0 : 1, in: .nonNegative),
                options: Synthetic.FedProxOptions(
                    spread: try m.choice("alpha_beta", default: .std), iid: iid,
                    maxClientSamples: try m.optionalInt("max_client_samples", in: 1...100_000_000)))
        }
        let task = try m.choice("task", default: defaultTask)
        if case .linearRegression = source, task != .regression {
            throw m.error("task", "linear_regression data is a regression task")
        }
        if case .blobs = source, task != .classification {
            throw m.error("task", "blobs data is a classification task")
        }
        if case .fedprox = source, task != .classification {
            throw m.error("task", "fedprox data is a classification task")
        }
        if case .fashionMNIST = source, task != .classification {
            throw m.error("task", "fashion-mnist data is a classification task")
        }
        // Fashion-MNIST comes with its official test set: no share of the training set is held out.
        let hasTestSet = kind == .fashionMNIST
        var spec = Topology.DataSpec(
            source: source, task: task,
            testFraction: hasTestSet
                ? 0
                : try m.double(
                    "test_fraction", default: 0.2,
                    in: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: false)),
            standardize: try m.bool("standardize", default: false))
        spec.normalize = try m.bool("normalize", default: false)
        spec.validationFraction = try m.double(
            "validation_fraction", default: 0,
            in: NumberRange(lower: 0, lowerInclusive: true, upper: 0.5, upperInclusive: true))
        spec.validation = try m.choice("validation", default: source.isNaturallySplit ? .perClient : .pooled)
        if source.isNaturallySplit && spec.validation == .pooled {
            throw m.error(
                "validation",
                "\(kind.rawValue) data is split by client: its validation samples come from each client "
                    + "(per_client)")
        }
        if spec.normalize && spec.standardize {
            throw m.error("normalize", "give standardize (per feature) or normalize (per channel), not both")
        }
        if let items = try m.sequence("shape") {
            guard kind != .fashionMNIST, kind != .idx else {
                throw m.error("shape", "\(kind.rawValue) images carry their own shape")
            }
            guard (1...3).contains(items.count) else {
                throw m.error("shape", "expected 1 to 3 sizes ([features] or [channels, height, width])")
            }
            spec.shape = try items.map { path, node in
                try Self.size(node, path: path, file: m.file, in: 1...100_000_000)
            }
        }
        try m.finish { key in
            if key == "test_fraction" && hasTestSet {
                return "\(kind.rawValue) has its official test set (size it with data.test_count)"
            }
            return m.expected.contains(key) ? "'\(key)' is not a setting of data source \(kind.rawValue)" : nil
        }
        return spec
    }

    func readPartition(_ m: ConfigMap?, data: Topology.DataSpec) throws -> Topology.PartitionSpec {
        guard let m else { return data.source.isNaturallySplit ? .natural : .scheme(.iid) }
        m.expected = TopologyKeys.of("partition")
        enum Scheme: String, CaseIterable { case iid, dirichlet, shards, quantity, natural }
        let scheme = try m.choice("scheme", as: Scheme.self)
        let result: Topology.PartitionSpec
        switch scheme {
        case .iid: result = .scheme(.iid)
        case .natural: result = .natural
        case .dirichlet: result = .scheme(.dirichlet(alpha: try m.double("alpha", default: 0.5, in: .positive)))
        case .quantity: result = .scheme(.quantity(alpha: try m.double("alpha", default: 0.5, in: .positive)))
        case .shards:
            result = .scheme(.shards(classesPerClient: try m.int("classes_per_client", default: 2, in: 1...100_000)))
        }
        if case .scheme(.dirichlet) = result, data.task != .classification {
            throw m.error("scheme", "dirichlet label skew needs a classification task")
        }
        if case .scheme(.shards) = result, data.task != .classification {
            throw m.error("scheme", "label shards need a classification task")
        }
        try m.finish { key in
            m.expected.contains(key) ? "'\(key)' is not a setting of the \(scheme.rawValue) partition" : nil
        }
        return result
    }

    func readModel(_ m: ConfigMap, data: Topology.DataSpec) throws -> Topology.ModelSpec {
        m.expected = TopologyKeys.of("model")
        let kind = try m.choice("kind", as: ModelKind.self)
        var hidden: [Int] = []
        if let items = try m.sequence("hidden") {
            guard kind == .mlp else { throw m.error("hidden", "only an mlp has hidden layers") }
            hidden = try items.map { path, node in
                guard case .scalar(let s) = node, let width = Int(s.string), (1...1_000_000).contains(width) else {
                    throw ConfigError(
                        file: m.file, line: node.mark?.line, path: path,
                        message: "expected a layer width in [1, 1000000]")
                }
                return width
            }
        } else if kind == .mlp {
            hidden = [32]
        }
        let layered = kind == .cnn || kind == .sequential
        let bias = layered ? true : try m.bool("bias", default: true)
        var initFile: String?
        if let value = try m.string("init"), value != "seeded" { initFile = value }
        let batchNorm = try m.choice("batch_norm", default: Topology.BatchNormPolicy.averaged)
        var preset: NetworkPreset?
        var layers: [LayerSpec] = []
        switch kind {
        case .cnn: preset = try m.choice("preset", as: NetworkPreset.self)
        case .sequential:
            guard let items = try m.sequence("layers") else {
                throw m.error(nil, "missing required key 'layers' (a list of layers) for a sequential model")
            }
            guard !items.isEmpty, items.count <= 1000 else { throw m.error("layers", "expected 1 to 1000 layers") }
            layers = try items.map { path, node in try readLayer(node, path: path, file: m.file) }
        default: break
        }
        switch (kind, data.task) {
        case (.linear, .classification):
            throw m.error("kind", "a linear (regression) model needs a regression task; use logistic, softmax or mlp")
        case (.logistic, .regression), (.softmax, .regression), (.mlp, .regression), (.cnn, .regression),
            (.sequential, .regression):
            throw m.error("kind", "\(kind.rawValue) is a classifier but the data task is regression; use linear")
        default: break
        }
        try m.finish { key in
            switch key {
            case "bias" where layered: "a \(kind.rawValue) model sets bias per layer"
            case "preset" where kind != .cnn: "only a cnn model takes a preset"
            case "layers" where kind != .sequential: "only a sequential model lists layers"
            default: nil
            }
        }
        var spec = Topology.ModelSpec(kind: kind, hidden: hidden, bias: bias, initFile: initFile)
        spec.preset = preset
        spec.layers = layers
        spec.batchNorm = batchNorm
        return spec
    }

    /// One entry of `model.layers`: a bare name (`relu`, `flatten`) or a map with `layer` and its settings.
    func readLayer(_ node: Node, path: String, file: String?, depth: Int = 0) throws -> LayerSpec {
        enum Kind: String, CaseIterable {
            case dense, conv2d, maxpool2d, avgpool2d, relu, flatten
            case groupNorm = "group_norm"
            case batchNorm = "batch_norm"
            case dropout, residual
        }
        if case .scalar(let s) = node {
            switch Kind(rawValue: s.string) {
            case .relu: return .relu
            case .flatten: return .flatten
            case .batchNorm: return .batchNorm
            default:
                throw ConfigError(
                    file: file, line: node.mark?.line, path: path,
                    message: "'\(s.string)' is not a layer without settings (relu, flatten, batch_norm); write "
                        + "{layer: NAME, ...} for one of: \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let l = try ConfigMap(node, path: path, file: file)
        l.expected = TopologyKeys.of("model.layers")
        let kind = try l.choice("layer", as: Kind.self)
        let layer: LayerSpec
        switch kind {
        case .dense:
            guard l.has("units") else { throw l.error(nil, "missing required key 'units' for a dense layer") }
            layer = .dense(
                units: try l.int("units", default: 1, in: 1...1_000_000), bias: try l.bool("bias", default: true))
        case .conv2d:
            guard l.has("channels"), l.has("kernel") else {
                throw l.error(nil, "a conv2d layer needs 'channels' and 'kernel'")
            }
            layer = .conv2d(
                channels: try l.int("channels", default: 1, in: 1...100_000),
                kernel: try l.int("kernel", default: 1, in: 1...1_000),
                stride: try l.int("stride", default: 1, in: 1...1_000),
                padding: try l.int("padding", default: 0, in: 0...1_000), bias: try l.bool("bias", default: true))
        case .maxpool2d, .avgpool2d:
            guard l.has("kernel") else { throw l.error(nil, "missing required key 'kernel' for a \(kind) layer") }
            let k = try l.int("kernel", default: 2, in: 1...1_000)
            let stride = try l.int("stride", default: k, in: 1...1_000)
            layer = kind == .maxpool2d ? .maxPool2d(kernel: k, stride: stride) : .avgPool2d(kernel: k, stride: stride)
        case .relu: layer = .relu
        case .flatten: layer = .flatten
        case .dropout:
            layer = .dropout(
                probability: try l.double(
                    "p", default: 0.5, in: NumberRange(lower: 0, lowerInclusive: true, upper: 1, upperInclusive: false))
            )
        case .batchNorm: layer = .batchNorm
        case .groupNorm:
            guard l.has("groups") else { throw l.error(nil, "missing required key 'groups' for a group_norm layer") }
            layer = .groupNorm(groups: try l.int("groups", default: 1, in: 1...100_000))
        case .residual:
            guard depth < 8 else { throw l.error(nil, "residual blocks nest at most 8 deep") }
            func list(_ key: String) throws -> [LayerSpec] {
                guard let items = try l.sequence(key) else { return [] }
                guard items.count <= 1000 else { throw l.error(key, "expected at most 1000 layers") }
                return try items.map { path, node in try readLayer(node, path: path, file: file, depth: depth + 1) }
            }
            let body = try list("body")
            guard !body.isEmpty else { throw l.error(nil, "a residual layer needs a 'body' list of layers") }
            layer = .residual(body: body, shortcut: try list("shortcut"))
        }
        try l.finish { key in
            l.expected.contains(key) ? "'\(key)' is not a setting of a \(kind.rawValue) layer" : nil
        }
        return layer
    }

    /// A positive size in a list (a `shape` entry), with the file line of the entry in errors.
    static func size(_ node: Node, path: String, file: String?, in range: ClosedRange<Int>) throws -> Int {
        guard case .scalar(let s) = node, let value = Int(s.string), range.contains(value) else {
            throw ConfigError(
                file: file, line: node.mark?.line, path: path,
                message: "expected a size in [\(range.lowerBound), \(range.upperBound)]")
        }
        return value
    }

    func readClients(_ m: ConfigMap) throws -> Topology.ClientsSpec {
        m.expected = TopologyKeys.of("clients")
        let count = try m.int("count", default: 10, in: 1...10_000_000)
        if m.has("per_round") && m.has("fraction") { throw m.error("fraction", "give per_round or fraction, not both") }
        var perRound = try m.int("per_round", default: count, in: 1...Int.max)
        if perRound > count { throw m.error("per_round", "\(perRound) is more than clients.count (\(count))") }
        if let fraction = try m.optionalDouble(
            "fraction", in: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true))
        {
            perRound = max(1, Int((fraction * Double(count)).rounded()))
        }
        var local = LocalTraining()
        if let l = try m.map("local") {
            l.expected = TopologyKeys.of("clients.local")
            if l.has("epochs") && l.has("steps") { throw l.error("steps", "give epochs or steps, not both") }
            if let steps = try l.optionalInt("steps", in: 1...100_000_000) {
                local.length = .steps(steps)
            } else {
                local.length = .epochs(try l.int("epochs", default: 1, in: 1...1_000_000))
            }
            if let text = try? l.string("batch_size"), text == "full" {
                local.batchSize = 0
            } else {
                local.batchSize = try l.int("batch_size", default: 32, in: 0...100_000_000)
            }
            try l.finish()
        }
        guard let optimizerMap = try m.map("optimizer") else { throw m.error(nil, "missing required key 'optimizer'") }
        let optimizer = try OptimizerSpec.parse(optimizerMap)
        let state = try m.choice("state", default: StatePolicy.persist)
        var groups: [Topology.ClientGroup] = []
        if let items = try m.sequence("groups") {
            for (i, (path, node)) in items.enumerated() {
                let g = try ConfigMap(node, path: path, file: m.file)
                g.expected = TopologyKeys.of("clients.groups")
                guard let rangeText = try g.string("clients") else {
                    throw g.error(nil, "missing required key 'clients' (e.g. 0-4)")
                }
                let range = try parseRange(rangeText, count: count, map: g)
                let optimizer = try g.map("optimizer").map(OptimizerSpec.parse) ?? optimizer
                let groupState = try g.choice("state", default: state)
                groups.append(
                    Topology.ClientGroup(
                        name: try g.string("name") ?? "group\(i + 1)", clients: range,
                        optimizer: optimizer, state: groupState))
                try g.finish()
            }
        }
        var aggregation = StateAggregation()
        if let a = try m.map("aggregate") {
            a.expected = TopologyKeys.of("clients.aggregate")
            aggregation.moments = try a.choice("moments", default: aggregation.moments)
            aggregation.weighting = try a.choice("weighting", default: aggregation.weighting)
            try a.finish()
        }
        let sampling = try m.choice("sampling", default: Topology.ClientsSpec.Sampling.uniform)
        var stragglers = Stragglers()
        if let s = try m.map("stragglers") {
            s.expected = TopologyKeys.of("clients.stragglers")
            stragglers.fraction = try s.double("fraction", default: 0, in: .closed(0, 1))
            stragglers.policy = try s.choice("policy", default: Stragglers.Policy.drop)
            try s.finish()
        }
        try m.finish()
        var spec = Topology.ClientsSpec(
            count: count, perRound: perRound, local: local, optimizer: optimizer, state: state, groups: groups,
            stateAggregation: aggregation)
        spec.stragglers = stragglers
        spec.sampling = sampling
        return spec
    }

    func parseRange(_ text: String, count: Int, map: ConfigMap) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let bounds: (Int, Int)?
        switch parts.count {
        case 1: bounds = parts[0].map { ($0, $0) }
        case 2: bounds = parts[0].flatMap { a in parts[1].map { (a, $0) } }
        default: bounds = nil
        }
        guard let (a, b) = bounds, a <= b else {
            throw map.error("clients", "'\(text)' is not a client range like 0-4 or 7")
        }
        guard a >= 0, b < count else {
            throw map.error("clients", "\(text) is outside 0-\(count - 1) (clients.count is \(count))")
        }
        return a...b
    }

    func readServer(_ m: ConfigMap?) throws -> ServerSpec {
        guard let m else { return ServerSpec() }
        m.expected = TopologyKeys.of("server")
        let kind = try m.choice("strategy", default: ServerStrategyKind.fedavg)
        let allowed: Set<String> =
            switch kind {
            case .fedavg, .median: ["strategy", "lr"]
            case .fedavgm: ["strategy", "lr", "momentum"]
            case .fedadagrad, .fedadam, .fedyogi: ["strategy", "lr", "beta1", "beta2", "tau", "bias_correction"]
            case .fedprox: ["strategy", "lr", "mu", "proximal"]
            case .trimmedMean: ["strategy", "lr", "trim"]
            }
        for key in m.keys where TopologyKeys.of("server").contains(key) && !allowed.contains(key) {
            throw m.error(
                key,
                "'\(key)' is not a setting of \(kind.rawValue) (its settings: "
                    + "\(allowed.subtracting(["strategy"]).sorted().joined(separator: ", ")))"
            )
        }
        var spec = ServerSpec(strategy: kind)
        spec.lr = try m.double("lr", default: spec.lr, in: .positive)
        spec.momentum = try m.double("momentum", default: spec.momentum, in: .halfOpen(0, 1))
        spec.beta1 = try m.double("beta1", default: spec.beta1, in: .halfOpen(0, 1))
        spec.beta2 = try m.double("beta2", default: spec.beta2, in: .halfOpen(0, 1))
        spec.tau = try m.double("tau", default: spec.tau, in: .positive)
        spec.biasCorrection = try m.bool("bias_correction", default: spec.biasCorrection)
        spec.mu = try m.double("mu", default: spec.mu, in: .nonNegative)
        spec.proximal = try m.choice("proximal", default: spec.proximal)
        spec.trim = try m.double("trim", default: spec.trim, in: .halfOpen(0, 0.5))
        try m.finish()
        return spec

    }
}
