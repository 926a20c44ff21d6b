import FedCore
import Foundation

/// A ready-to-step optimizer: a resolved spec, its transform chain, and the weight-decay mask
/// for a parameter layout. Immutable and `Sendable`; all mutable state lives in `OptimizerState`.
public struct Optimizer: Sendable {
    public let spec: OptimizerSpec
    public let chain: [GradientTransform]
    /// 1 where weight decay applies, 0 where it does not; nil when every parameter is decayed.
    public let decayMask: [Float]?
    /// The parameters of the layout this optimizer was made for: every buffer it steps has this size.
    public let parameterCount: Int
    /// Each transform's state shape for `parameterCount` parameters (slot names, floats, scalars).
    private let stateShape: [(names: [String], floats: Int, scalars: Int)]
    /// Adam, Adam+L2 and AdamW run as one fused loop that computes exactly what the chain does.
    let fusedAdam: FusedAdam?

    /// - Parameter fuse: use the fused kernel where the chain allows (tests turn it off to
    ///   check that fused and chained steps agree bit for bit).
    public init(_ spec: OptimizerSpec, layout: ParameterLayout, fuse: Bool = true) {
        self.spec = spec
        parameterCount = layout.count
        chain = spec.chain
        // A batch norm's running statistics are never decayed, whatever the mask says.
        let statistics = layout.entries.contains { $0.role == .normStatistic }
        switch spec.decayMask {
        case .all where !statistics:
            decayMask = nil
        case .all, .noBias, .noBiasOrNorm:
            var mask = [Float](repeating: 1, count: layout.count)
            for entry in layout.entries {
                let exempt =
                    switch spec.decayMask {
                    case .all: entry.role == .normStatistic
                    case .noBias: entry.isBias
                    case .noBiasOrNorm: entry.isBias || entry.role != .weight
                    }
                if exempt { for i in entry.range { mask[i] = 0 } }
            }
            decayMask = mask
        }
        fusedAdam = fuse ? FusedAdam(chain: chain) : nil
        stateShape = chain.map {
            let fresh = $0.initialState(count: layout.count)
            return (fresh.names, fresh.storage.count, fresh.scalars.count)
        }
    }

    /// The scheduled learning rate of step `step` (1-based), as the step itself uses it.
    public func learningRate(step: Int) -> Double { spec.schedule.learningRate(base: spec.lr, step: step) }

    /// Fresh state (step 0). Lookahead's slow weights start at `params`.
    func initialState(params: UnsafeBufferPointer<Float>) -> OptimizerState {
        OptimizerState(
            step: 0,
            transforms: chain.map { $0.initialState(count: params.count) },
            slowWeights: spec.lookahead == nil ? nil : Array(params))
    }

    public func initialState(params: [Float]) -> OptimizerState {
        params.withUnsafeBufferPointer { initialState(params: $0) }
    }

    /// One optimizer step: `params` move, `state` advances. `gradients` is used as scratch space
    /// (its contents are overwritten with the final update). No allocation. Every length is
    /// checked first — parameters, gradients, each state slot, slow weights — so a state of
    /// another optimizer or layout stops with a message instead of touching memory it does not own.
    public func step(params: inout [Float], gradients: inout [Float], state: inout OptimizerState) {
        checkShapes(params: params.count, gradients: gradients.count, state: state)
        params.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeMutableBufferPointer { g in stepUnchecked(params: p, gradients: g, state: &state) }
        }
    }

    /// Convenience for arrays (allocates a scratch copy of the gradients).
    public func step(params: inout [Float], gradients: [Float], state: inout OptimizerState) {
        var scratch = gradients
        step(params: &params, gradients: &scratch, state: &state)
    }

    /// Whether `state` has exactly the shape this optimizer's steps read and write.
    public func fits(_ state: OptimizerState) -> Bool {
        guard state.transforms.count == stateShape.count else { return false }
        for (shape, slots) in zip(stateShape, state.transforms) {
            guard slots.names == shape.names, slots.storage.count == shape.floats, slots.scalars.count == shape.scalars
            else { return false }
        }
        if let slow = state.slowWeights, slow.count != parameterCount { return false }
        return true
    }

    private func checkShapes(params: Int, gradients: Int, state: OptimizerState) {
        precondition(params == parameterCount, "\(params) parameters; this optimizer was made for \(parameterCount)")
        precondition(gradients == parameterCount, "\(gradients) gradients for \(parameterCount) parameters")
        precondition(
            fits(state), "the optimizer state does not fit \(spec.name.rawValue) on \(parameterCount) parameters")
    }

    /// The step on raw buffers whose lengths the caller has checked (`step(params:gradients:state:)`).
    func stepUnchecked(
        params: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
        state: inout OptimizerState
    ) {
        state.step += 1
        let lr = spec.schedule.learningRate(base: spec.lr, step: state.step)
        let n = params.count
        if spec.maximize { for i in 0..<n { gradients[i] = -gradients[i] } }
        if let decayMask {
            decayMask.withUnsafeBufferPointer { mask in
                update(params: params, gradients: gradients, state: &state, learningRate: lr, mask: mask)
            }
        } else {
            update(params: params, gradients: gradients, state: &state, learningRate: lr, mask: nil)
        }
        if let lookahead = spec.lookahead, state.step % lookahead.k == 0, state.slowWeights != nil {
            let a = Float(lookahead.alpha)
            state.slowWeights!.withUnsafeMutableBufferPointer { slow in
                for i in 0..<n {
                    let s = slow[i] + a * (params[i] - slow[i])
                    slow[i] = s
                    params[i] = s
                }
            }
        }
    }

    /// Runs the chain (or its fused kernel) and adds the final update to the parameters.
    private func update(
        params: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
        state: inout OptimizerState, learningRate: Double, mask: UnsafeBufferPointer<Float>?
    ) {
        if let fusedAdam {
            fusedAdam.step(
                params: params, gradients: UnsafeBufferPointer(gradients), state: &state.transforms,
                step: state.step, learningRate: learningRate, mask: mask)
            return
        }
        let context = StepContext(
            step: state.step, learningRate: learningRate,
            params: UnsafeBufferPointer(params), decayMask: mask)
        for (i, transform) in chain.enumerated() {
            transform.apply(gradients, state: &state.transforms[i], context: context)
        }
        for i in 0..<params.count { params[i] = params[i] + gradients[i] }
    }

}

extension Optimizer {
    /// The fraction of a weight that weight decay removes in one step, at `state`'s last step
    /// (η_t its scheduled learning rate): AdamW's `η_t·λ` (`independent`: λ; `proximal`:
    /// `η_tλ/(1 + η_tλ)`); for coupled L2 in an Adam-family optimizer (Adam+L2, Adam, AMSGrad,
    /// NAdam, RAdam with λ > 0) the median over the decayed parameters of `η_tλ/(√v̂ᵢ + ε)`, with
    /// `v̂ = v/(1 − β₂^t)` (AMSGrad: its running max) — the quantity that makes one λ mean a
    /// thousand-fold different decay for the two; for SGD (and momentum) `η_tλ`. nil without
    /// decay, before the first step, or for the other optimizers.
    public func effectiveDecay(state: OptimizerState) -> Double? {
        let lambda = spec.weightDecay
        guard lambda > 0, state.step > 0 else { return nil }
        let lr = learningRate(step: state.step)
        switch spec.name {
        case .sgd, .momentum, .nesterov: return lr * lambda
        case .adamw:
            switch spec.decayConvention {
            case .lrScaled: return lr * lambda
            case .independent: return lambda
            case .proximal: return lr * lambda / (1 + lr * lambda)
            }
        case .adam, .adamL2, .amsgrad, .nadam, .radam:
            for (i, transform) in chain.enumerated() {
                let beta2: Double
                let eps: Double
                switch transform {
                case .scaleByAdam(_, let b2, let e, _), .scaleByNAdam(_, let b2, let e, _),
                    .scaleByRAdam(_, let b2, let e):
                    (beta2, eps) = (b2, e)
                default: continue
                }
                let names = state.transforms[i].names
                guard let v = state.transforms[i][names.contains("v_max") ? "v_max" : "v"] else { return nil }
                let correction = 1 - pow(beta2, Double(state.step))
                var values: [Double] = []
                values.reserveCapacity(v.count)
                for j in v.indices where decayMask.map({ $0[j] != 0 }) ?? true {
                    values.append(lr * lambda / ((Double(v[j]) / correction).squareRoot() + eps))
                }
                return Self.median(&values)
            }
            return nil
        case .adagrad, .rmsprop, .adadelta: return nil
        }
    }

    /// The median (mean of the middle two for an even count), by selection: O(n), no full sort.
    static func median(_ values: inout [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        func select(_ k: Int) -> Double {
            var lo = 0
            var hi = values.count - 1
            while lo < hi {
                let pivot = values[(lo + hi) / 2]
                var i = lo
                var j = hi
                while i <= j {
                    while values[i] < pivot { i += 1 }
                    while values[j] > pivot { j -= 1 }
                    if i <= j {
                        values.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                if k <= j { hi = j } else if k >= i { lo = i } else { return values[k] }
            }
            return values[k]
        }
        let n = values.count
        let upper = select(n / 2)
        return n % 2 == 1 ? upper : (select(n / 2 - 1) + upper) / 2
    }
}

/// The fused Adam / Adam+L2 / AdamW loop: one pass over w, g, m, v. Each element goes through
/// the same Float operations in the same order as the chain, so the results are identical.
struct FusedAdam: Sendable {
    enum Decay: Sendable {
        case none
        case coupled(Float)
        case decoupled(Float)
    }
    let decay: Decay
    let beta1: Double, beta2: Double, eps: Double
    /// Index of `scaleByAdam` in the chain (its state slot).
    let adamIndex: Int

    init?(chain: [GradientTransform]) {
        guard chain.count >= 2, chain.count <= 3, chain.last == .scaleByLearningRate else { return nil }
        var decay = Decay.none
        var adam: (Double, Double, Double, Int)?
        for (i, transform) in chain.dropLast().enumerated() {
            switch transform {
            case .scaleByAdam(let b1, let b2, let e, false) where adam == nil:
                adam = (b1, b2, e, i)
            case .addDecayedWeights(let l) where i == 0:
                decay = .coupled(Float(l))
            case .addDecayedWeights(let l) where i == 1 && adam != nil:
                decay = .decoupled(Float(l))
            default:
                return nil
            }
        }
        guard let (b1, b2, e, index) = adam else { return nil }
        self.decay = decay
        beta1 = b1
        beta2 = b2
        eps = e
        adamIndex = index
    }

    func step(
        params w: UnsafeMutableBufferPointer<Float>, gradients grad: UnsafeBufferPointer<Float>,
        state: inout [TransformState], step: Int, learningRate: Double,
        mask: UnsafeBufferPointer<Float>?
    ) {
        let k = AdamConstants(
            beta1: beta1, beta2: beta2, eps: eps, step: step,
            firstMomentStep: FirstMomentSteps.advance(&state[adamIndex].scalars[0], step: step))
        let negativeLR = Float(-learningRate)
        state[adamIndex].withSlots { slot in
            let m = slot(0)
            let v = slot(1)
            switch decay {
            case .none:
                FusedAdam.loop(w, grad, m, v, k, negativeLR, coupled: 0, decoupled: 0, mask: nil)
            case .coupled(let l):
                FusedAdam.loop(w, grad, m, v, k, negativeLR, coupled: l, decoupled: 0, mask: mask)
            case .decoupled(let l):
                FusedAdam.loop(w, grad, m, v, k, negativeLR, coupled: 0, decoupled: l, mask: mask)
            }
        }
    }

    @inline(__always)
    static func loop(
        _ w: UnsafeMutableBufferPointer<Float>, _ grad: UnsafeBufferPointer<Float>,
        _ m: UnsafeMutableBufferPointer<Float>, _ v: UnsafeMutableBufferPointer<Float>,
        _ k: AdamConstants, _ negativeLR: Float, coupled: Float, decoupled: Float,
        mask: UnsafeBufferPointer<Float>?
    ) {
        let n = w.count
        if let mask {
            if coupled != 0 {
                for i in 0..<n {
                    let wi = w[i]
                    let g = grad[i] + (coupled * mask[i]) * wi
                    let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                    let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                    m[i] = mi
                    v[i] = vi
                    let u = (mi * k.c1) / (vi.squareRoot() * k.c2 + k.eps)
                    w[i] = wi + u * negativeLR
                }
            } else {
                for i in 0..<n {
                    let wi = w[i]
                    let g = grad[i]
                    let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                    let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                    m[i] = mi
                    v[i] = vi
                    let u = (mi * k.c1) / (vi.squareRoot() * k.c2 + k.eps) + (decoupled * mask[i]) * wi
                    w[i] = wi + u * negativeLR
                }
            }
        } else if coupled != 0 {
            for i in 0..<n {
                let wi = w[i]
                let g = grad[i] + coupled * wi
                let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                m[i] = mi
                v[i] = vi
                let u = (mi * k.c1) / (vi.squareRoot() * k.c2 + k.eps)
                w[i] = wi + u * negativeLR
            }
        } else if decoupled != 0 {
            for i in 0..<n {
                let wi = w[i]
                let g = grad[i]
                let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                m[i] = mi
                v[i] = vi
                let u = (mi * k.c1) / (vi.squareRoot() * k.c2 + k.eps) + decoupled * wi
                w[i] = wi + u * negativeLR
            }
        } else {
            for i in 0..<n {
                let wi = w[i]
                let g = grad[i]
                let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                m[i] = mi
                v[i] = vi
                let u = (mi * k.c1) / (vi.squareRoot() * k.c2 + k.eps)
                w[i] = wi + u * negativeLR
            }
        }
    }
}
