import FedClient
import FedModels
import FedOptim
import Foundation
import Yams

/// Writes a resolved topology back as YAML with every default spelled out, so a run directory
/// records exactly what ran (and `fedsim run runs/x/topology.yaml` runs it again).
extension Topology {
    /// - Parameter includeCluster: false leaves out the `cluster` section.
    public func resolvedYAML(includeCluster: Bool = true) -> String {
        yaml(includeCluster: includeCluster, numbersOnly: false)
    }

    /// The settings that determine a run's numbers, as YAML: the resolved topology without its
    /// name, its `cluster` section (how bytes move, never what they are) and its file paths
    /// (where data lives is not what it holds: the run fingerprint hashes the data instead).
    public var numbersYAML: String { yaml(includeCluster: false, numbersOnly: true) }

    private func yaml(includeCluster: Bool, numbersOnly: Bool) -> String {
        var pairs: [(String, Node)] = numbersOnly ? [] : [("name", scalar(name))]
        pairs += [
            ("seed", scalar(String(seed)))
        ]
        if let explicitDataSeed { pairs.append(("data_seed", scalar(String(explicitDataSeed)))) }
        if let explicitTrainSeed { pairs.append(("train_seed", scalar(String(explicitTrainSeed)))) }
        pairs += [
            ("rounds", scalar(String(rounds)))
        ]
        if !numbersOnly { pairs.append(("threads", scalar(String(threads)))) }
        pairs += [
            ("data", dataNode(numbersOnly)),
            ("partition", partitionNode()),
            ("model", modelNode(numbersOnly)),
            ("clients", clientsNode()),
            ("server", serverNode()),
        ]
        if !numbersOnly && (metrics.globalTrainLoss || metrics.clientAccuracy) {
            pairs.append(
                (
                    "metrics",
                    map([
                        ("global_train_loss", scalar(String(metrics.globalTrainLoss))),
                        ("client_accuracy", scalar(String(metrics.clientAccuracy))),
                    ])
                ))
        }
        if let clock { pairs.append(("clock", clockNode(clock, numbersOnly))) }
        if includeCluster { pairs.append(("cluster", cluster.node)) }
        return (try? Yams.serialize(node: map(pairs), sortKeys: false)) ?? ""
    }

    /// The clock with every setting spelled out; in the numbers, the trace by its content hash.
    private func clockNode(_ c: VirtualClock, _ numbersOnly: Bool) -> Node {
        func lognormal(_ d: LogNormal) -> Node {
            d.sigma == 0
                ? number(d.median) : map([("median", number(d.median)), ("sigma", number(d.sigma))], flow: true)
        }
        var pairs: [(String, Node)] = [
            ("seconds_per_sample", number(c.secondsPerSample)), ("speed", lognormal(c.speed)),
            ("latency", lognormal(c.latency)),
        ]
        if let upload = c.upload { pairs.append(("upload", lognormal(upload))) }
        if let download = c.download { pairs.append(("download", lognormal(download))) }
        pairs += [("availability", number(c.availability)), ("sample_online", scalar(String(c.sampleOnline)))]
        if let deadline = c.deadline { pairs += [("deadline", number(deadline)), ("late", scalar(c.late.rawValue))] }
        pairs.append(("overcommit", number(c.overcommit)))
        if let trace = c.trace, let path = c.tracePath {
            pairs.append(
                ("trace", scalar(numbersOnly ? String(format: "fnv1a:%016llx", trace.contentHash) : resolve(path))))
        }
        return map(pairs)
    }

    private func serverNode() -> Node {
        var pairs: [(String, Node)] = [("strategy", scalar(server.strategy.rawValue)), ("lr", number(server.lr))]
        switch server.strategy {
        case .fedavg, .median: break
        case .fedavgm: pairs.append(("momentum", number(server.momentum)))
        case .fedadagrad, .fedadam, .fedyogi:
            pairs += [
                ("beta1", number(server.beta1)), ("beta2", number(server.beta2)), ("tau", number(server.tau)),
                ("bias_correction", scalar(String(server.biasCorrection))),
            ]
        case .fedprox:
            pairs.append(("mu", number(server.mu)))
            if server.proximal != .coupled { pairs.append(("proximal", scalar(server.proximal.rawValue))) }
        case .trimmedMean: pairs.append(("trim", number(server.trim)))
        }
        return map(pairs)
    }

    private func dataNode(_ numbersOnly: Bool) -> Node {
        let resolve = { (path: String) in numbersOnly ? "(file)" : self.resolve(path) }
        var pairs: [(String, Node)] = [("source", scalar(data.source.name))]
        switch data.source {
        case .csv(let path, let label):
            pairs.append(("path", scalar(resolve(path))))
            if let label { pairs.append(("label_column", scalar(label))) }
        case .libsvm(let path), .directory(let path): pairs.append(("path", scalar(resolve(path))))
        case .idx(let images, let labels):
            pairs += [("images", scalar(resolve(images))), ("labels", scalar(resolve(labels)))]
        case .npy(let features, let targets):
            pairs += [("features", scalar(resolve(features))), ("targets", scalar(resolve(targets)))]
        case .fashionMNIST(let path, let trainCount, let testCount):
            if let path { pairs.append(("path", scalar(resolve(path)))) }
            pairs += [("count", scalar(String(trainCount))), ("test_count", scalar(String(testCount)))]
        case .linearRegression(let count, let features, let noise):
            pairs += [
                ("count", scalar(String(count))), ("features", scalar(String(features))), ("noise", number(noise)),
            ]
        case .blobs(let count, let features, let classes, let spread):
            pairs += [
                ("count", scalar(String(count))), ("features", scalar(String(features))),
                ("classes", scalar(String(classes))), ("spread", number(spread)),
            ]
        case .fedprox(let alpha, let beta, let options):
            if !options.iid { pairs.append(("alpha", number(alpha))) }  // iid data has no α
            pairs.append(("beta", number(beta)))
            if options.spread != .std { pairs.append(("alpha_beta", scalar(options.spread.rawValue))) }
            if options.iid { pairs.append(("iid", scalar("true"))) }
            if let cap = options.maxClientSamples { pairs.append(("max_client_samples", scalar(String(cap)))) }
        }
        pairs.append(("task", scalar(data.task.rawValue)))
        if case .fashionMNIST = data.source {} else { pairs.append(("test_fraction", number(data.testFraction))) }
        pairs += [("standardize", scalar(String(data.standardize))), ("normalize", scalar(String(data.normalize)))]
        if let shape = data.shape { pairs.append(("shape", flowList(shape))) }
        if data.validationFraction > 0 {
            pairs += [
                ("validation_fraction", number(data.validationFraction)),
                ("validation", scalar(data.validation.rawValue)),
            ]
        }
        return map(pairs)
    }

    private func partitionNode() -> Node {
        var pairs: [(String, Node)] = [("scheme", scalar(partition.name))]
        switch partition {
        case .scheme(.dirichlet(let alpha)), .scheme(.quantity(let alpha)): pairs.append(("alpha", number(alpha)))
        case .scheme(.shards(let k)): pairs.append(("classes_per_client", scalar(String(k))))
        default: break
        }
        return map(pairs)
    }

    private func modelNode(_ numbersOnly: Bool) -> Node {
        let resolve = { (path: String) in numbersOnly ? "(file)" : self.resolve(path) }
        var pairs: [(String, Node)] = [("kind", scalar(model.kind.rawValue))]
        switch model.kind {
        case .mlp:
            pairs.append(("hidden", flowList(model.hidden)))
            pairs.append(("bias", scalar(String(model.bias))))
        case .linear, .logistic, .softmax:
            pairs.append(("bias", scalar(String(model.bias))))
        case .cnn:
            pairs.append(("preset", scalar(model.preset?.rawValue ?? "")))
        case .sequential:
            pairs.append(("layers", .sequence(.init(model.layers.map(layerNode)))))
        }
        pairs.append(("init", scalar(model.initFile.map(resolve) ?? "seeded")))
        // Written only when local, so the topologies (and fingerprints) of averaged runs are
        // those from before the key existed.
        if model.batchNorm != .averaged { pairs.append(("batch_norm", scalar(model.batchNorm.rawValue))) }
        return map(pairs)
    }

    private func flowList(_ values: [Int]) -> Node {
        .sequence(.init(values.map { scalar(String($0)) }, .implicit, .flow))
    }

    /// A layer with every setting spelled out, as `model.layers` reads it.
    private func layerNode(_ layer: LayerSpec) -> Node {
        var pairs: [(String, Node)] = [("layer", scalar(layer.kindName))]
        switch layer {
        case .dense(let units, let bias): pairs += [("units", scalar(String(units))), ("bias", scalar(String(bias)))]
        case .conv2d(let channels, let kernel, let stride, let padding, let bias):
            pairs += [
                ("channels", scalar(String(channels))), ("kernel", scalar(String(kernel))),
                ("stride", scalar(String(stride))), ("padding", scalar(String(padding))),
                ("bias", scalar(String(bias))),
            ]
        case .maxPool2d(let kernel, let stride), .avgPool2d(let kernel, let stride):
            pairs += [("kernel", scalar(String(kernel))), ("stride", scalar(String(stride)))]
        case .groupNorm(let groups): pairs.append(("groups", scalar(String(groups))))
        case .dropout(let p): pairs.append(("p", number(p)))
        case .residual(let body, let shortcut):
            pairs.append(("body", .sequence(.init(body.map(layerNode)))))
            if !shortcut.isEmpty { pairs.append(("shortcut", .sequence(.init(shortcut.map(layerNode))))) }
            return map(pairs)
        case .relu, .flatten, .batchNorm: break
        }
        return map(pairs, flow: true)
    }

    private func clientsNode() -> Node {
        var local: [(String, Node)] = []
        switch clients.local.length {
        case .epochs(let e): local.append(("epochs", scalar(String(e))))
        case .steps(let k): local.append(("steps", scalar(String(k))))
        }
        local.append(("batch_size", scalar(clients.local.batchSize == 0 ? "full" : String(clients.local.batchSize))))
        var pairs: [(String, Node)] = [
            ("count", scalar(String(clients.count))), ("per_round", scalar(String(clients.perRound))),
            ("local", map(local)), ("optimizer", Topology.optimizerNode(clients.optimizer)),
            ("state", scalar(clients.state.rawValue)),
            (
                "aggregate",
                map(
                    [
                        ("moments", scalar(clients.stateAggregation.moments.rawValue)),
                        ("weighting", scalar(clients.stateAggregation.weighting.rawValue)),
                    ], flow: true)
            ),
        ]
        if clients.sampling != .uniform { pairs.append(("sampling", scalar(clients.sampling.rawValue))) }
        if clients.stragglers.fraction > 0 {
            pairs.append(
                (
                    "stragglers",
                    map(
                        [
                            ("fraction", number(clients.stragglers.fraction)),
                            ("policy", scalar(clients.stragglers.policy.rawValue)),
                        ], flow: true)
                ))
        }
        if !clients.groups.isEmpty {
            pairs.append(
                (
                    "groups",
                    .sequence(
                        .init(
                            clients.groups.map { g in
                                map([
                                    ("name", scalar(g.name)),
                                    ("clients", scalar("\(g.clients.lowerBound)-\(g.clients.upperBound)")),
                                    ("optimizer", Topology.optimizerNode(g.optimizer)),
                                    ("state", scalar(g.state.rawValue)),
                                ])
                            }))
                ))
        }
        return map(pairs)
    }

    /// An optimizer block with every setting of its optimizer spelled out.
    public static func optimizerNode(_ s: OptimizerSpec) -> Node {
        typealias K = OptimizerSpec.Key
        var pairs: [(String, Node)] = [("name", scalar(s.name.rawValue)), ("lr", number(s.lr))]
        let values: [(K, String)] = [
            (.weightDecay, fmt(s.weightDecay)), (.momentum, fmt(s.momentum)), (.dampening, fmt(s.dampening)),
            (.nesterov, String(s.nesterov)), (.beta1, fmt(s.beta1)), (.beta2, fmt(s.beta2)), (.eps, fmt(s.eps)),
            (.amsgrad, String(s.amsgrad)), (.alpha, fmt(s.alpha)), (.centered, String(s.centered)), (.rho, fmt(s.rho)),
            (.lrDecay, fmt(s.lrDecay)), (.initialAccumulator, fmt(s.initialAccumulator)),
            (.momentumDecay, fmt(s.momentumDecay)), (.decayConvention, s.decayConvention.rawValue),
        ]
        for (key, value) in values where s.name.settings.contains(key) { pairs.append((key.rawValue, scalar(value))) }
        pairs.append((K.decayMask.rawValue, scalar(s.decayMask.rawValue)))
        if let clip = s.clipNorm { pairs.append((K.clipNorm.rawValue, number(clip))) }
        if s.maximize { pairs.append((K.maximize.rawValue, scalar("true"))) }
        let schedule: [(String, Node)] =
            switch s.schedule {
            case .constant: [("type", scalar("constant"))]
            case .step(let size, let gamma):
                [("type", scalar("step")), ("step_size", scalar(String(size))), ("gamma", number(gamma))]
            case .cosine(let tMax, let etaMin):
                [("type", scalar("cosine")), ("t_max", scalar(String(tMax))), ("eta_min", number(etaMin))]
            case .linearWarmup(let n, let f):
                [("type", scalar("linear_warmup")), ("warmup_steps", scalar(String(n))), ("start_factor", number(f))]
            case .warmRestarts(let t0, let mult, let etaMin):
                [
                    ("type", scalar("warm_restarts")), ("t_0", scalar(String(t0))), ("t_mult", scalar(String(mult))),
                    ("eta_min", number(etaMin)),
                ]
            }
        pairs.append((K.schedule.rawValue, map(schedule, flow: true)))
        if let la = s.lookahead {
            pairs.append(
                (K.lookahead.rawValue, map([("k", scalar(String(la.k))), ("alpha", number(la.alpha))], flow: true)))
        }
        return map(pairs)
    }
}

private func scalar(_ s: String) -> Node { Node(s) }
private func number(_ x: Double) -> Node { Node(fmt(x)) }
/// Shortest text that reads back as the same Double.
private func fmt(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(format: "%.1f", x) : "\(x)" }
private func map(_ pairs: [(String, Node)], flow: Bool = false) -> Node {
    .mapping(Node.Mapping(pairs.map { (Node($0.0), $0.1) }, .implicit, flow ? .flow : .block))
}
