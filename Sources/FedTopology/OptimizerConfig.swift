import FedConfig
import FedOptim

extension OptimizerSpec {
    /// Reads an optimizer block (the `optimizer:` mapping of a topology, or a replay spec file).
    /// Missing keys take the optimizer's defaults; keys that do not apply to the chosen
    /// optimizer, unknown keys and out-of-range values are errors naming the key's path.
    public static func parse(_ map: ConfigMap) throws -> OptimizerSpec {
        typealias K = OptimizerSpec.Key
        map.expected = Set(K.allCases.map(\.rawValue))
        let kind = try map.choice(K.name.rawValue, as: OptimizerKind.self)
        let allowed = K.common.union(kind.settings)
        for key in map.keys {
            if let k = K(rawValue: key), !allowed.contains(k) {
                let names = allowed.subtracting([.name]).map(\.rawValue).sorted().joined(separator: ", ")
                throw map.error(key, "'\(key)' is not a setting of \(kind.rawValue) (its settings: \(names))")
            }
        }
        var s = OptimizerSpec(kind)
        func number(_ key: K, _ current: Double, _ range: NumberRange) throws -> Double {
            try map.double(key.rawValue, default: current, in: range)
        }
        s.lr = try number(.lr, s.lr, .positive)
        s.weightDecay = try number(.weightDecay, s.weightDecay, .nonNegative)
        s.momentum = try number(.momentum, s.momentum, .halfOpen(0, 1))
        s.dampening = try number(.dampening, s.dampening, .closed(0, 1))
        s.nesterov = try map.bool(K.nesterov.rawValue, default: s.nesterov)
        s.beta1 = try number(.beta1, s.beta1, .halfOpen(0, 1))
        s.beta2 = try number(.beta2, s.beta2, .halfOpen(0, 1))
        s.eps = try number(.eps, s.eps, .nonNegative)
        s.amsgrad = try map.bool(K.amsgrad.rawValue, default: s.amsgrad)
        s.alpha = try number(.alpha, s.alpha, .halfOpen(0, 1))
        s.centered = try map.bool(K.centered.rawValue, default: s.centered)
        s.rho = try number(.rho, s.rho, .closed(0, 1))
        s.lrDecay = try number(.lrDecay, s.lrDecay, .nonNegative)
        s.initialAccumulator = try number(.initialAccumulator, s.initialAccumulator, .nonNegative)
        s.momentumDecay = try number(.momentumDecay, s.momentumDecay, .nonNegative)
        s.decayConvention = try map.choice(K.decayConvention.rawValue, default: s.decayConvention)
        s.decayMask = try map.choice(K.decayMask.rawValue, default: s.decayMask)
        s.clipNorm = try map.optionalDouble(K.clipNorm.rawValue, in: .positive)
        s.maximize = try map.bool(K.maximize.rawValue, default: false)
        if let schedule = try map.map(K.schedule.rawValue) {
            s.schedule = try LearningRateSchedule.parse(schedule)
        }
        if let lookahead = try map.map(K.lookahead.rawValue) {
            lookahead.expected = ["k", "alpha"]
            s.lookahead = LookaheadSpec(
                k: try lookahead.int("k", default: 5, in: 1...1_000_000),
                alpha: try lookahead.double(
                    "alpha", default: 0.5,
                    in: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true)))
            try lookahead.finish()
        }
        if s.nesterov && (s.momentum <= 0 || s.dampening != 0) {
            throw map.error(
                K.nesterov.rawValue,
                "nesterov needs momentum > 0 and dampening 0 (momentum \(s.momentum), dampening \(s.dampening))")
        }
        if s.eps == 0 && [.adam, .adamL2, .adamw, .amsgrad, .nadam, .radam, .adadelta].contains(kind) {
            throw map.error(K.eps.rawValue, "0 is outside (0, inf) for \(kind.rawValue): the denominator could be zero")
        }
        try map.finish()
        return s
    }
}

/// The schedule kinds as spelled in YAML (`schedule: {type: cosine, t_max: 100}`).
public enum ScheduleKind: String, CaseIterable, Sendable {
    case constant, step, cosine
    case linearWarmup = "linear_warmup"
    case warmRestarts = "warm_restarts"
}

extension LearningRateSchedule {
    public static func parse(_ map: ConfigMap) throws -> LearningRateSchedule {
        let kind = try map.choice("type", as: ScheduleKind.self)
        let steps = 1...Int(Int32.max)
        let result: LearningRateSchedule
        switch kind {
        case .constant:
            result = .constant
        case .step:
            result = .step(
                stepSize: try map.int("step_size", default: 1000, in: steps),
                gamma: try map.double("gamma", default: 0.1, in: .positive))
        case .cosine:
            guard map.has("t_max") else {
                throw map.error(nil, "missing required key 't_max' (steps in one cosine half-period)")
            }
            result = .cosine(
                tMax: try map.int("t_max", default: 1, in: steps),
                etaMin: try map.double("eta_min", default: 0, in: .nonNegative))
        case .linearWarmup:
            result = .linearWarmup(
                warmupSteps: try map.int("warmup_steps", default: 100, in: steps),
                startFactor: try map.double(
                    "start_factor", default: 0.1,
                    in: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true)))
        case .warmRestarts:
            guard map.has("t_0") else {
                throw map.error(nil, "missing required key 't_0' (steps before the first restart)")
            }
            result = .warmRestarts(
                t0: try map.int("t_0", default: 1, in: steps),
                tMult: try map.int("t_mult", default: 1, in: 1...1000),
                etaMin: try map.double("eta_min", default: 0, in: .nonNegative))
        }
        try map.finish(hint: { key in
            let known: Set<String> = [
                "step_size", "gamma", "t_max", "eta_min", "warmup_steps", "start_factor", "t_0", "t_mult",
            ]
            return known.contains(key) ? "'\(key)' is not a setting of the \(kind.rawValue) schedule" : nil
        })
        return result
    }
}
