import FedClient
import FedCore
import FedData
import FedModels
import FedOptim
import FedTopology
import FedWire
import Foundation
import Synchronization

/// A problem with a run's inputs found while preparing it (data files, initial weights,
/// topology and data that do not fit together). Reported as one line; nothing is written.
public struct RunInputError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Everything a run needs, built deterministically from a topology: the same topology and seed
/// give the same shards, model initialization and clients in every process.
public struct PreparedRun: Sendable {
    public let topology: Topology
    public let model: Network
    /// Each client's training shard, by client id.
    public let shards: [DataView]
    public let testSet: Dataset
    /// The validation samples (`data.validation_fraction` of the training data), nil without.
    public let validationSet: Dataset?
    /// Each client's own held-out samples — its test share for naturally split data, its
    /// validation share under `validation: per_client`, else its training shard — for the
    /// per-client accuracy metric.
    public let clientEvaluationSets: [DataView]
    public let initialWeights: [Float]
    /// The resolved optimizer of every group (index 0 is the default group).
    public let groups: [Topology.ClientGroup]
    public let groupOfClient: [Int]
    public let partitionSummary: String
    /// What determines this run's numbers, hashed (FNV-1a 64): the numeric settings
    /// (`Topology.numbersYAML`: no name, paths or cluster section), the prepared data itself
    /// (every shard and the test set, after standardization), the initial weights, and the
    /// version of the numeric kernels. Coordinator, client processes, checkpoints and client
    /// snapshots must agree on it: the same data at another path agrees, other data does not.
    public let fingerprint: UInt64
    /// The fingerprint's parts, each hashed on its own, so processes that disagree can say where:
    /// the top-level settings, each section of `numbersYAML`, the data's content, the initial
    /// weights and the kernels. `name=hex` pairs, space-separated (they travel in ERROR 2's text).
    public let fingerprintParts: String

    /// Loads or generates the data, splits and partitions it, and initializes the model.
    ///
    /// Every client's training shard is a view into one pooled data set (`DataView`): the
    /// training samples are never copied per client. Natural splits (a directory of client files,
    /// FedProx's generator) pool their clients' training parts one after another.
    public static func prepare(_ t: Topology) throws -> PreparedRun {
        let root = SeededRandom(seed: t.dataSeed)
        var base: Dataset  // the pooled samples the shards are rows of
        var trainRows: [[Int]]  // each client's training shard, as rows of `base`
        var test: Dataset
        var validation: Dataset?
        var clientTests: [Dataset]?
        var clientValidationRows: [[Int]]?
        let validationFraction = t.data.validationFraction
        do {
            switch t.data.source {
            case .directory, .fedprox:
                let perClient: [Dataset]
                if case .directory(let path) = t.data.source {
                    perClient = try DataLoader.directory(path: t.resolve(path), task: t.data.task)
                } else if case .fedprox(let alpha, let beta, let options) = t.data.source {
                    var rng = root.derive(SeedStream.data.rawValue)
                    perClient = try Synthetic.fedProx(
                        alpha: alpha, beta: beta, clients: t.clients.count, options: options, rng: &rng)
                } else {
                    perClient = []
                }
                guard perClient.count == t.clients.count else {
                    throw RunInputError(
                        "clients.count is \(t.clients.count) but the data holds \(perClient.count) client files")
                }
                var splits: [(train: Dataset, test: Dataset)] = []
                for (k, data) in perClient.enumerated() {
                    var rng = root.derive(SeedStream.split.rawValue, UInt64(k))
                    guard data.count >= 2 else {
                        throw RunInputError(
                            "client \(k)'s data has \(data.count) sample(s); each needs at least 2 (train and test)")
                    }
                    splits.append(trainTestSplit(data, testFraction: t.data.testFraction, rng: &rng))
                }
                base = Dataset.concatenate(splits.map(\.train))
                var offset = 0
                trainRows = splits.map { split in
                    defer { offset += split.train.count }
                    return Array(offset..<(offset + split.train.count))
                }
                clientTests = splits.map(\.test)
                test = Dataset.concatenate(splits.map(\.test))
            default:
                // The training samples as indices into one data set: the clients' shards are rows
                // of it (the test and validation sets are cut from it), never copies.
                var trainIndices: [Int]
                if case .fashionMNIST(let path, let trainCount, let testCount) = t.data.source {
                    let split = try DataLoader.fashionMNIST(
                        directory: path.map(t.resolve) ?? DataLoader.fashionMNISTDirectory, trainCount: trainCount,
                        testCount: testCount)
                    base = split.train
                    trainIndices = Array(0..<split.train.count)
                    test = split.test
                } else {
                    base = try loadPooled(t, root: root)
                    var rng = root.derive(SeedStream.split.rawValue)
                    let split = trainTestSplitIndices(base, testFraction: t.data.testFraction, rng: &rng)
                    trainIndices = split.train
                    test = base.subset(split.test)
                }
                if validationFraction > 0 && t.data.validation == .pooled {
                    var rng = root.derive(SeedStream.validation.rawValue)
                    let held = trainTestSplitIndices(
                        base.targetsOnly(trainIndices), testFraction: validationFraction, rng: &rng)
                    validation = base.subset(held.test.map { trainIndices[$0] })
                    trainIndices = held.train.map { trainIndices[$0] }
                }
                guard trainIndices.count >= t.clients.count else {
                    throw RunInputError(
                        "the training set has \(trainIndices.count) samples, fewer than clients.count "
                            + "(\(t.clients.count))"
                    )
                }
                guard case .scheme(let scheme) = t.partition else {
                    throw RunInputError("internal: pooled data with a natural partition")
                }
                var prng = root.derive(SeedStream.partition.rawValue)
                let partition = try Partitioner.split(
                    base.targetsOnly(trainIndices), clients: t.clients.count, scheme: scheme, rng: &prng)
                trainRows = partition.clients.map { $0.map { trainIndices[$0] } }
            }
        } catch let error as DataError {
            throw RunInputError(error.description)
        }
        if validationFraction > 0 && t.data.validation == .perClient {
            var held: [[Int]] = []
            for k in trainRows.indices {
                var rng = root.derive(SeedStream.validation.rawValue, UInt64(k))
                let split = trainTestSplitIndices(
                    base.targetsOnly(trainRows[k]), testFraction: validationFraction, rng: &rng)
                guard split.train.count > 0 else {
                    throw RunInputError(
                        "client \(k) has \(trainRows[k].count) training sample(s); holding out validation_fraction "
                            + "\(validationFraction) leaves none")
                }
                held.append(split.test.map { trainRows[k][$0] })
                trainRows[k] = split.train.map { trainRows[k][$0] }
            }
            validation = base.subset(held.flatMap { $0 })
            clientValidationRows = held
        }
        if let shape = t.data.shape {
            guard let reshaped = test.reshaped(shape) else {
                throw RunInputError(
                    "data.shape \(shape.map(String.init).joined(separator: "×")) holds \(shape.reduce(1, *)) values; "
                        + "each sample has \(test.featureCount) features")
            }
            test = reshaped
            base = base.reshaped(shape)!
            validation = validation.map { $0.reshaped(shape)! }
            clientTests = clientTests?.map { $0.reshaped(shape)! }
        }
        if t.data.standardize || t.data.normalize {
            // Fitted on the training rows in client order (as the concatenated shards were), then
            // applied to the whole pool: rows outside the shards are never read through it.
            let standardizer: Standardizer = {
                let shards = trainRows.map { DataView(base, rows: $0) }
                return t.data.normalize ? Standardizer(fittingChannelsOf: shards) : Standardizer(fitting: shards)
            }()
            standardizer.apply(to: &base)
            standardizer.apply(to: &test)
            if validation != nil { standardizer.apply(to: &validation!) }
            for i in clientTests?.indices ?? 0..<0 { standardizer.apply(to: &clientTests![i]) }
        }
        let train = trainRows.map { DataView(base, rows: $0) }
        trainRows = []
        let clientValidations = clientValidationRows.map { $0.map { DataView(base, rows: $0) } }
        let classes = max(base.classCount, test.classCount, validation?.classCount ?? 0)
        if t.model.kind == .logistic && classes != 2 {
            throw RunInputError("model.kind logistic needs 2 classes (labels 0 and 1); the data has \(classes)")
        }
        if test.isClassification && classes < 2 { throw RunInputError("the data has only one class") }
        try checkModelSize(t, inputs: test.featureCount, classes: classes)
        let model = try makeModel(t.model, input: test.shape, classes: classes)
        if t.model.batchNorm == .local {
            guard !model.batchNormRanges.isEmpty else {
                throw RunInputError("model.batch_norm: local keeps batch-norm layers local, but the model has none")
            }
            if let group = t.clients.allGroups.first(where: { $0.state != .persist }) {
                throw RunInputError(
                    "model.batch_norm: local keeps each client's batch norms in its persistent state, so every "
                        + "client needs clients.state: persist (group '\(group.name)' has \(group.state.rawValue))")
            }
        }
        let initial: [Float]
        if let file = t.model.initFile {
            initial = try loadWeights(t.resolve(file), count: model.parameterCount)
        } else {
            var rng = SeededRandom(seed: t.trainSeed).derive(SeedStream.modelInit.rawValue)
            initial = model.initialParameters(rng: &rng)
        }
        let partition = Partition(
            clients: {
                var offset = 0
                return train.map { shard in
                    defer { offset += shard.count }
                    return Array(offset..<(offset + shard.count))
                }
            }())
        let summary = partition.summary(
            labels: test.isClassification ? train.flatMap { $0.labels ?? [] } : nil, classCount: classes)
        // The fingerprint and the data's content hash are two sequential passes over every sample
        // (each FNV-1a step needs the one before), so they run side by side.
        let header = "FedSim run fingerprint 1\n\(model.numericsVersion)\n\(t.numbersYAML)"
        let (testData, validationData) = (test, validation)
        let hashes = Mutex<[UInt64]>([0, 0])
        ParallelWork.run(workers: 2, items: 2) { _, item in
            var hash = FNV1a64()
            if item == 0 { hash.add(header) }
            for shard in train { hash.add(shard) }
            hash.add(testData)
            if let validationData { hash.add(validationData) }  // absent: the fingerprint before validation existed
            if item == 0 { hash.add(initial) }
            hashes.withLock { $0[item] = hash.value }
        }
        let (fingerprint, contentHash) = hashes.withLock { ($0[0], $0[1]) }
        var parts: [(String, UInt64)] = []
        var section = "settings"
        var text = ""
        for line in t.numbersYAML.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first != " ", first != "-", let colon = line.firstIndex(of: ":"),
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).isEmpty
            {
                parts.append((section, FNV1a64.hash(text)))
                section = String(line[..<colon])
                text = ""
            }
            text += line + "\n"
        }
        parts.append((section, FNV1a64.hash(text)))
        var weights = FNV1a64()
        weights.add(initial)
        parts += [
            ("data_content", contentHash), ("initial_weights", weights.value),
            ("kernels", FNV1a64.hash(model.numericsVersion)),
        ]
        return PreparedRun(
            topology: t, model: model, shards: train, testSet: test, validationSet: validation,
            clientEvaluationSets: clientTests.map { $0.map(DataView.init(whole:)) } ?? clientValidations ?? train,
            initialWeights: initial,
            groups: t.clients.allGroups, groupOfClient: t.clients.groupOfClient, partitionSummary: summary,
            fingerprint: fingerprint,
            fingerprintParts: parts.map { "\($0.0)=\(String(format: "%08llx", $0.1 & 0xFFFF_FFFF))" }.joined(
                separator: " "))
    }

    /// This run as a client process hosting clients `ids` holds it: their shards copied into a
    /// data set of their own, every other client's shard empty, and no test or validation
    /// samples. The fingerprint, model and initial weights stay as prepared from the whole, so the
    /// process still proves it runs the coordinator's numbers; once the whole is released, the
    /// process keeps only its own clients' samples — 1/P of the training data among P processes.
    /// Each hosted client trains exactly as before: its view has the same samples in the same order.
    ///
    /// Shards of a memory-mapped data set (`data.source: npy`) are not copied: the hosted clients
    /// keep their views into the mapping, which the process shares with the page cache and with
    /// the other processes on its machine.
    public func hosting(_ ids: some Sequence<Int>) -> PreparedRun {
        let hosted = shards.indices.filter(Set(ids).contains)
        if let file = hosted.first.flatMap({ shards[$0].base.features.mappedFile }),
            hosted.allSatisfy({ shards[$0].base.features.mappedFile === file })
        {
            let kept = Set(hosted)
            let views = shards.indices.map { kept.contains($0) ? shards[$0] : DataView(shards[$0].base, rows: []) }
            return PreparedRun(
                topology: topology, model: model, shards: views, testSet: testSet.subset([]),
                validationSet: validationSet?.subset([]), clientEvaluationSets: views, initialWeights: initialWeights,
                groups: groups, groupOfClient: groupOfClient, partitionSummary: partitionSummary,
                fingerprint: fingerprint, fingerprintParts: fingerprintParts)
        }
        var starts: [Int: Int] = [:]
        var rows: [Int] = []
        for id in hosted {
            starts[id] = rows.count
            rows += shards[id].rows
        }
        // Shards of one pooled data set (every prepared run's) are gathered from it in one copy;
        // views into several data sets, one by one.
        func storage(_ view: DataView) -> UnsafePointer<Float>? {
            view.base.features.withUnsafeBufferPointer { $0.baseAddress }
        }
        let first = hosted.first.map { storage(shards[$0]) }
        let pooled =
            hosted.isEmpty
            ? testSet.subset([])
            : hosted.allSatisfy({ storage(shards[$0]) == first })
                ? shards[hosted[0]].base.subset(rows) : Dataset.concatenate(hosted.map { shards[$0].materialized() })
        rows = []
        let views = shards.indices.map { id -> DataView in
            guard let start = starts[id] else { return DataView(pooled, rows: []) }
            return DataView(pooled, rows: Array(start..<(start + shards[id].count)))
        }
        return PreparedRun(
            topology: topology, model: model, shards: views, testSet: testSet.subset([]),
            validationSet: validationSet?.subset([]), clientEvaluationSets: views, initialWeights: initialWeights,
            groups: groups, groupOfClient: groupOfClient, partitionSummary: partitionSummary, fingerprint: fingerprint,
            fingerprintParts: fingerprintParts)
    }

    /// The topology's network for samples of shape `input`; a network that does not fit the data
    /// is one line naming the layer.
    static func makeModel(_ spec: Topology.ModelSpec, input: [Int], classes: Int) throws -> Network {
        do {
            switch spec.kind {
            case .linear, .logistic, .softmax, .mlp:
                return Network(
                    kind: spec.kind, inputs: input.reduce(1, *), classes: classes, hidden: spec.hidden, bias: spec.bias)
            case .cnn:
                return try Network(preset: spec.preset!, input: input, classes: classes)
            case .sequential:
                return try Network(input: input, layers: spec.layers, classes: classes)
            }
        } catch {
            let key = spec.kind == .cnn ? "model.preset \(spec.preset!.rawValue)" : "model.layers"
            let hint =
                input.count == 3
                ? ""
                : " (the data's samples are \(input.map(String.init).joined(separator: "×")); give images their "
                    + "shape with data.shape: [channels, height, width])"
            throw RunInputError("\(key): \(error.message)\(hint)")
        }
    }

    /// `partition.txt`: every client's size and class histogram, one line each (the terminal gets
    /// the first few, `partitionSummary`), then the summary line.
    public func partitionListing() -> String {
        var lines: [String] = []
        lines.reserveCapacity(shards.count + 1)
        for (k, shard) in shards.enumerated() {
            var line = "client \(k): \(shard.count) samples"
            if let labels = shard.labels {
                var counts = [Int32: Int]()
                for label in labels { counts[label, default: 0] += 1 }
                line +=
                    ", classes "
                    + counts.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ")
            }
            lines.append(line)
        }
        lines.append(String(partitionSummary.split(separator: "\n").last ?? ""))
        return lines.joined(separator: "\n")
    }

    /// The fingerprint as 16 hex digits.
    public var fingerprintHex: String { String(format: "%016llx", fingerprint) }

    private static func loadPooled(_ t: Topology, root: SeededRandom) throws -> Dataset {
        var rng = root.derive(SeedStream.data.rawValue)
        switch t.data.source {
        case .csv(let path, let label):
            return try DataLoader.csv(path: t.resolve(path), labelColumn: label, task: t.data.task)
        case .libsvm(let path): return try DataLoader.libsvm(path: t.resolve(path), task: t.data.task)
        case .idx(let images, let labels):
            return try DataLoader.idx(images: t.resolve(images), labels: t.resolve(labels))
        case .npy(let features, let targets):
            return try DataLoader.npy(features: t.resolve(features), targets: t.resolve(targets), task: t.data.task)
        case .linearRegression(let count, let features, let noise):
            return Synthetic.linearRegression(
                count: count, features: features, noise: Float(noise), bias: 0.5, rng: &rng
            ).data
        case .blobs(let count, let features, let classes, let spread):
            return Synthetic.blobs(count: count, features: features, classes: classes, spread: Float(spread), rng: &rng)
        case .directory, .fedprox, .fashionMNIST:
            throw RunInputError("internal: \(t.data.source.name) is not one pooled data set")
        }
    }

    /// Refuses a model too large to hold before anything is allocated: more parameters than the
    /// wire carries (2²⁷, 512 MB of Float32 per copy), counted without overflow.
    static func checkModelSize(_ t: Topology, inputs: Int, classes: Int) throws {
        let widths: [Int] =
            switch t.model.kind {
            case .linear, .logistic: [inputs, 1]
            case .softmax: [inputs, classes]
            case .mlp: [inputs] + t.model.hidden + [classes]
            case .cnn, .sequential: []  // `Network` counts layered models as it builds them
            }
        guard !widths.isEmpty else { return }
        var total = 0
        var overflow = false
        for l in 1..<widths.count {
            let (weights, o1) = widths[l].multipliedReportingOverflow(by: widths[l - 1])
            let (sum, o2) = total.addingReportingOverflow(weights + (t.model.bias ? widths[l] : 0))
            overflow = overflow || o1 || o2
            total = sum
        }
        let limit = WireCodec.maxParameters
        if overflow || total > limit {
            let count = overflow ? "more than 2⁶³" : "\(total)"
            throw RunInputError(
                "model: \(count) parameters (layer widths \(widths.map(String.init).joined(separator: " → "))) is "
                    + "more than "
                    + "FedSim holds (\(limit), 512 MB per copy); use smaller hidden layers")
        }
    }

    /// Initial weights from a JSON array of numbers or raw little-endian Float32 bytes.
    static func loadWeights(_ path: String, count: Int) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunInputError("model.init: cannot read \(path)")
        }
        let first = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "[") {
            guard let list = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
                throw RunInputError("model.init: \(path) is not a JSON array of numbers")
            }
            let values = try list.enumerated().map { i, x -> Float in
                guard let n = x as? NSNumber, String(cString: n.objCType) != "c", Float(n.doubleValue).isFinite else {
                    throw RunInputError("model.init: \(path): element \(i) is not a finite number")
                }
                return Float(n.doubleValue)
            }
            guard values.count == count else {
                throw RunInputError(
                    "model.init: \(path) holds \(values.count) numbers; the model has \(count) parameters")
            }
            return values
        }
        guard data.count == 4 * count else {
            throw RunInputError(
                "model.init: \(path) has \(data.count) bytes; raw Float32 weights for this model take \(4 * count)")
        }
        let values = Float32LE.values(data)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw RunInputError("model.init: \(path): weight \(bad) is not finite")
        }
        return values
    }

    /// The in-process run's state file for its *persist* clients (`client-state/states.bin` in
    /// `runDirectory`), nil when no group persists.
    public func clientStateFile(in runDirectory: URL) throws -> ClientStateFile? {
        guard groups.contains(where: { $0.state == .persist }) else { return nil }
        return try ClientStateFile(
            url: runDirectory.appendingPathComponent("client-state").appendingPathComponent("states.bin"),
            fingerprint: fingerprint, clients: topology.clients.count,
            halfBytes: ClientStateFile.halfBytes(for: groups.indices.map(persistentTemplate)))
    }

    /// FedBN's local parameters (`model.batch_norm: local`): every batch norm's range; else none.
    public var localRanges: [Range<Int>] { topology.model.batchNorm == .local ? model.batchNormRanges : [] }

    /// What a *persist* client of group `group` stores: its optimizer's state and, under
    /// `batch_norm: local`, one more transform state with its own batch norms.
    public func persistentTemplate(group: Int) -> OptimizerState {
        ClientSetup.persistentTemplate(freshState(group: group), localCount: localRanges.reduce(0) { $0 + $1.count })
    }

    /// A fresh optimizer state of group `group`'s optimizer: the template that encoded states
    /// of that group are decoded against.
    public func freshState(group: Int) -> OptimizerState {
        Optimizer(groups[group].optimizer, layout: model.layout).initialState(
            params: [Float](repeating: 0, count: model.parameterCount))
    }

    /// The virtual clients `ids` (a client process hosts a subset; the single-process run all).
    /// - Parameter stateStore: where *persist* clients keep their state between rounds (nil: in
    ///   the client objects).
    public func makeClients(
        _ ids: some Sequence<Int>, stateStore: (any ClientStateStore)? = nil
    ) -> [Int: VirtualClient] {
        let setups = groups.map {
            ClientSetup(
                model: model, optimizer: Optimizer($0.optimizer, layout: model.layout), policy: $0.state,
                training: topology.clients.local, seed: topology.trainSeed, proximalMu: topology.server.proximalMu,
                proximalCoupling: topology.server.proximal, stragglers: topology.clients.stragglers,
                clock: topology.clock, localRanges: localRanges)
        }
        var result: [Int: VirtualClient] = [:]
        for id in ids {
            result[id] = VirtualClient(
                id: id, shard: shards[id], setup: setups[groupOfClient[id]], stateStore: stateStore)
        }
        return result
    }
}

extension FNV1a64 {
    /// A view's shape, features and targets: the same bytes as its materialized copy's.
    mutating func add(_ view: DataView) {
        add(integer: Int64(view.count))
        add(integer: Int64(view.featureCount))
        let d = view.featureCount
        view.base.features.withUnsafeBufferPointer { f in
            for i in view.rows { add(UnsafeBufferPointer(rebasing: f[(i * d)..<((i + 1) * d)])) }
        }
        switch view.base.targets {
        case .classes(let labels, let classCount):
            add(integer: Int64(classCount))
            for i in view.rows { withUnsafeBytes(of: labels[i]) { add($0) } }
        case .values(let values):
            add(integer: Int64(-1))
            for i in view.rows { withUnsafeBytes(of: values[i].bitPattern.littleEndian) { add($0) } }
        }
    }

    /// A data set's shape, features and targets.
    mutating func add(_ data: Dataset) {
        add(integer: Int64(data.count))
        add(integer: Int64(data.featureCount))
        data.features.withUnsafeBufferPointer { add($0) }
        switch data.targets {
        case .classes(let labels, let classCount):
            add(integer: Int64(classCount))
            labels.withUnsafeBytes { add($0) }
        case .values(let values):
            add(integer: Int64(-1))
            add(values)
        }
    }
}
