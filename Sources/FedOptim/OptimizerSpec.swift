/// The optimizers users pick by name (the `name:` of a topology's optimizer block).
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam
    /// Adam with L2 coupled into the gradient (`torch.optim.Adam(weight_decay=λ)`).
    case adamL2 = "adam_l2"
    /// Adam with decoupled weight decay (`torch.optim.AdamW`).
    case adamw
    case amsgrad, nadam, radam

    /// The settings this optimizer understands, besides the ones every optimizer has.
    public var settings: Set<OptimizerSpec.Key> {
        switch self {
        case .sgd, .momentum, .nesterov: [.weightDecay, .momentum, .dampening, .nesterov]
        case .adagrad: [.weightDecay, .eps, .lrDecay, .initialAccumulator]
        case .rmsprop: [.weightDecay, .eps, .alpha, .centered, .momentum]
        case .adadelta: [.weightDecay, .eps, .rho]
        case .adam, .adamL2, .amsgrad: [.weightDecay, .beta1, .beta2, .eps, .amsgrad]
        case .adamw: [.weightDecay, .beta1, .beta2, .eps, .amsgrad, .decayConvention]
        case .nadam: [.weightDecay, .beta1, .beta2, .eps, .momentumDecay]
        case .radam: [.weightDecay, .beta1, .beta2, .eps]
        }
    }
}

/// Which parameters weight decay touches.
public enum DecayMaskPolicy: String, Codable, Sendable, CaseIterable {
    /// Every parameter.
    case all
    /// Everything but biases and other vectors (the usual practice).
    case noBias = "no_bias"
    /// Everything but biases and normalization scales and shifts, as practitioners use with
    /// AdamW. Those are all FedSim's vectors, so today it exempts what `no_bias` does; it says
    /// what it means whatever vectors a layer adds.
    case noBiasOrNorm = "no_bias_or_norm"
}

/// Lookahead (Zhang et al. 2019): every `k` steps the slow weights move `alpha` of the way to
/// the fast weights, and the fast weights restart from there.
public struct LookaheadSpec: Codable, Sendable, Equatable {
    public var k: Int
    public var alpha: Double
    public init(k: Int = 5, alpha: Double = 0.5) {
        self.k = k
        self.alpha = alpha
    }
}

/// A fully resolved optimizer: every hyperparameter has its value (defaults filled in per
/// optimizer, following `torch.optim`). Built from a topology's optimizer block by FedConfig.
public struct OptimizerSpec: Codable, Sendable, Equatable {
    /// The optimizer-block keys, as spelled in YAML.
    public enum Key: String, CaseIterable, Sendable {
        case name, lr
        case weightDecay = "weight_decay"
        case momentum, dampening, nesterov
        case beta1, beta2, eps, amsgrad
        case alpha, centered, rho
        case lrDecay = "lr_decay"
        case initialAccumulator = "initial_accumulator"
        case momentumDecay = "momentum_decay"
        case decayConvention = "decay_convention"
        case decayMask = "decay_mask"
        case clipNorm = "clip_norm"
        case schedule, lookahead, maximize

        /// Keys every optimizer accepts.
        public static let common: Set<Key> = [.name, .lr, .decayMask, .clipNorm, .schedule, .lookahead, .maximize]
    }

    public var name: OptimizerKind
    public var lr: Double
    public var weightDecay: Double
    public var momentum: Double
    public var dampening: Double
    public var nesterov: Bool
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var amsgrad: Bool
    public var alpha: Double
    public var centered: Bool
    public var rho: Double
    public var lrDecay: Double
    public var initialAccumulator: Double
    public var momentumDecay: Double
    public var decayConvention: DecayConvention
    public var decayMask: DecayMaskPolicy
    public var clipNorm: Double?
    public var schedule: LearningRateSchedule
    public var lookahead: LookaheadSpec?
    /// Ascend instead of descend: the step negates the gradient first, as every `torch.optim`
    /// optimizer's `maximize=True` does (before weight decay, clipping aside).
    public var maximize: Bool

    /// The defaults for `kind` (PyTorch's, except `adam_l2`, whose decay defaults to AdamW's
    /// 0.01 so the two compare like for like).
    public init(_ kind: OptimizerKind) {
        name = kind
        lr =
            switch kind {
            case .adagrad, .rmsprop: 1e-2
            case .adadelta: 1.0
            case .nadam: 2e-3
            default: 1e-3
            }
        weightDecay = (kind == .adamw || kind == .adamL2) ? 0.01 : 0
        momentum = (kind == .momentum || kind == .nesterov) ? 0.9 : 0
        dampening = 0
        nesterov = kind == .nesterov
        beta1 = 0.9
        beta2 = 0.999
        eps =
            switch kind {
            case .adagrad: 1e-10
            case .adadelta: 1e-6
            default: 1e-8
            }
        amsgrad = kind == .amsgrad
        alpha = 0.99
        centered = false
        rho = 0.9
        lrDecay = 0
        initialAccumulator = 0
        momentumDecay = 4e-3
        decayConvention = .lrScaled
        decayMask = .all
        clipNorm = nil
        schedule = .constant
        lookahead = nil
        maximize = false
    }

    /// The chain of transforms this optimizer is (without Lookahead, which wraps the chain).
    public var chain: [GradientTransform] {
        var chain: [GradientTransform] = []
        if let clipNorm { chain.append(.clipByGlobalNorm(maxNorm: clipNorm)) }
        let l2: [GradientTransform] = weightDecay != 0 ? [.addDecayedWeights(lambda: weightDecay)] : []
        switch name {
        case .sgd, .momentum, .nesterov:
            chain += l2
            if momentum != 0 { chain.append(.trace(momentum: momentum, dampening: dampening, nesterov: nesterov)) }
        case .adagrad:
            chain += l2 + [.scaleByAdagrad(eps: eps, lrDecay: lrDecay, initialAccumulator: initialAccumulator)]
        case .rmsprop:
            chain += l2 + [.scaleByRMS(alpha: alpha, eps: eps, centered: centered, momentum: momentum)]
        case .adadelta:
            chain += l2 + [.scaleByAdadelta(rho: rho, eps: eps)]
        case .adam, .adamL2, .amsgrad:
            chain += l2 + [.scaleByAdam(beta1: beta1, beta2: beta2, eps: eps, amsgrad: amsgrad)]
        case .adamw:
            chain.append(.scaleByAdam(beta1: beta1, beta2: beta2, eps: eps, amsgrad: amsgrad))
            if weightDecay != 0 {
                switch decayConvention {
                case .lrScaled: chain.append(.addDecayedWeights(lambda: weightDecay))
                case .independent, .proximal: break
                }
            }
        case .nadam:
            chain += l2 + [.scaleByNAdam(beta1: beta1, beta2: beta2, eps: eps, momentumDecay: momentumDecay)]
        case .radam:
            chain += l2 + [.scaleByRAdam(beta1: beta1, beta2: beta2, eps: eps)]
        }
        chain.append(.scaleByLearningRate)
        if name == .adamw && weightDecay != 0 {
            switch decayConvention {
            case .lrScaled: break
            case .independent: chain.append(.decayWeightsIndependently(lambda: weightDecay))
            case .proximal: chain.append(.proximalDecay(lambda: weightDecay))
            }
        }
        return chain
    }
}
