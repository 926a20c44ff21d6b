import Foundation

/// Where decoupled weight decay sits relative to the learning rate (SCIENCE.md §1).
public enum DecayConvention: String, Codable, Sendable, CaseIterable {
    /// `w ← w − η(û + λw)`: PyTorch `AdamW` and optax (the default).
    case lrScaled = "lr_scaled"
    /// `w ← w − ηû − λw`: decay independent of the learning rate (Loshchilov & Hutter's schedule-free form).
    case independent
    /// `w ← (w − ηû)/(1 + ηλ)`: the exact L2 proximal step; `1 − ηλ` is its first-order Taylor form.
    case proximal
}

/// Where FedProx's proximal pull `μ(w − w_global)` enters a client's local step.
public enum ProximalCoupling: String, Codable, Sendable, CaseIterable {
    /// Added to the gradient (the FedProx paper's form): an adaptive optimizer normalizes it
    /// with the data gradient, as Adam+L2 does its decay.
    case coupled
    /// Applied after the optimizer's step, scaled by the learning rate only:
    /// `w ← w − η_t·μ(w − w_global)` with w before the step, outside the preconditioner, as
    /// AdamW applies its decay.
    case decoupled
}

/// What a transform sees besides the updates: the parameters, the 1-based step, the scheduled
/// learning rate and the weight-decay mask (1 = decayed, 0 = exempt; nil = decay everything).
struct StepContext {
    var step: Int
    var learningRate: Double
    var params: UnsafeBufferPointer<Float>
    var decayMask: UnsafeBufferPointer<Float>?

    init(
        step: Int, learningRate: Double, params: UnsafeBufferPointer<Float>, decayMask: UnsafeBufferPointer<Float>?
    ) {
        self.step = step
        self.learningRate = learningRate
        self.params = params
        self.decayMask = decayMask
    }
}

/// One stage of an optimizer, optax-style: it rewrites the update vector in place and keeps its
/// own explicit state. An optimizer is a chain of these; the final update is added to the
/// parameters. AdamW and Adam+L2 differ only in where `addDecayedWeights` sits:
///
///     AdamW    = [scaleByAdam, addDecayedWeights, scaleByLearningRate]
///     Adam+L2  = [addDecayedWeights, scaleByAdam, scaleByLearningRate]
///
/// Every formula follows `torch.optim` (eps placement, bias correction, first momentum step).
public enum GradientTransform: Codable, Sendable, Hashable {
    /// Rescale so the global L2 norm is at most `maxNorm` (torch `clip_grad_norm_`, eps 1e-6).
    case clipByGlobalNorm(maxNorm: Double)
    /// `u ← u + λ·w` (masked). Before a preconditioner it is coupled L2; right before
    /// `scaleByLearningRate` it is decoupled decay scaled by the learning rate.
    case addDecayedWeights(lambda: Double)
    /// Heavy-ball momentum, PyTorch convention: `b₁ = g`, `b ← μb + (1−d)g`; Nesterov uses `g + μb`.
    case trace(momentum: Double, dampening: Double, nesterov: Bool)
    /// AdaGrad: `G ← G + g²`, `u = g/(√G + ε)`, scaled by `1/(1 + (t−1)·lrDecay)`.
    case scaleByAdagrad(eps: Double, lrDecay: Double, initialAccumulator: Double)
    /// RMSProp: `E ← αE + (1−α)g²`, `u = g/(√E + ε)` (centered: subtract the squared mean;
    /// with momentum: `b ← μb + u`).
    case scaleByRMS(alpha: Double, eps: Double, centered: Bool, momentum: Double)
    /// Adadelta: `u = √(Δ + ε)/√(E + ε) · g`, then `Δ ← ρΔ + (1−ρ)u²`.
    case scaleByAdadelta(rho: Double, eps: Double)
    /// Adam's preconditioner: `u = m̂/(√v̂ + ε)`; AMSGrad uses the running max of `v`.
    case scaleByAdam(beta1: Double, beta2: Double, eps: Double, amsgrad: Bool)
    /// NAdam (Dozat), with PyTorch's momentum-decay schedule `μ_t = β₁(1 − ½·0.96^(tψ))`.
    case scaleByNAdam(beta1: Double, beta2: Double, eps: Double, momentumDecay: Double)
    /// RAdam: rectified Adam when `ρ_t > 5`, bias-corrected momentum otherwise.
    case scaleByRAdam(beta1: Double, beta2: Double, eps: Double)
    /// `u ← −η_t·u` with the scheduled learning rate.
    case scaleByLearningRate
    /// `u ← u − λ·w` (masked), after the learning rate: decay independent of η.
    case decayWeightsIndependently(lambda: Double)
    /// `u ← (w + u)/(1 + η_t λ) − w` (masked): the proximal L2 step.
    case proximalDecay(lambda: Double)

    /// A short name for listings, e.g. `scale_by_adam`.
    public var label: String {
        switch self {
        case .clipByGlobalNorm: "clip_by_global_norm"
        case .addDecayedWeights: "add_decayed_weights"
        case .trace: "trace"
        case .scaleByAdagrad: "scale_by_adagrad"
        case .scaleByRMS: "scale_by_rms"
        case .scaleByAdadelta: "scale_by_adadelta"
        case .scaleByAdam: "scale_by_adam"
        case .scaleByNAdam: "scale_by_nadam"
        case .scaleByRAdam: "scale_by_radam"
        case .scaleByLearningRate: "scale_by_learning_rate"
        case .decayWeightsIndependently: "decay_weights_independently"
        case .proximalDecay: "proximal_decay"
        }
    }

    /// Fresh state for `count` parameters.
    public func initialState(count: Int) -> TransformState {
        switch self {
        case .clipByGlobalNorm, .addDecayedWeights, .scaleByLearningRate,
            .decayWeightsIndependently, .proximalDecay:
            return TransformState()
        case .trace: return TransformState(names: ["momentum"], count: count)
        case .scaleByAdagrad(_, _, let initial):
            return TransformState(names: ["sum"], count: count, fill: Float(initial))
        case .scaleByRMS(_, _, let centered, let momentum):
            var names = ["square_avg"]
            if centered { names.append("grad_avg") }
            if momentum > 0 { names.append("momentum") }
            return TransformState(names: names, count: count)
        case .scaleByAdadelta: return TransformState(names: ["square_avg", "acc_delta"], count: count)
        case .scaleByAdam(_, _, _, let amsgrad):
            // The scalar counts the steps since `m` started (see `FirstMomentSteps`).
            return TransformState(names: amsgrad ? ["m", "v", "v_max"] : ["m", "v"], count: count, scalars: [0])
        case .scaleByNAdam:
            return TransformState(names: ["m", "v"], count: count, scalars: [1])  // running product of μ_t
        case .scaleByRAdam: return TransformState(names: ["m", "v"], count: count, scalars: [0])
        }
    }

    /// Rewrites `u` in place for one step.
    func apply(_ u: UnsafeMutableBufferPointer<Float>, state: inout TransformState, context c: StepContext) {
        let n = u.count
        let w = c.params
        let t = Double(c.step)
        switch self {
        case .clipByGlobalNorm(let maxNorm):
            var sumSquares = 0.0
            for i in 0..<n {
                let x = Double(u[i])
                sumSquares += x * x
            }
            let coefficient = Float(min(maxNorm / (sumSquares.squareRoot() + 1e-6), 1.0))
            for i in 0..<n { u[i] = u[i] * coefficient }

        case .addDecayedWeights(let lambda):
            Kernels.addScaled(u, w, Float(lambda), mask: c.decayMask)

        case .trace(let momentum, let dampening, let nesterov):
            let mu = Float(momentum)
            let keep = Float(1 - dampening)
            let first = c.step == 1
            state.withSlots { slot in
                let b = slot(0)
                for i in 0..<n {
                    let g = u[i]
                    let buf = first ? g : mu * b[i] + keep * g
                    b[i] = buf
                    u[i] = nesterov ? g + mu * buf : buf
                }
            }

        case .scaleByAdagrad(let eps, let lrDecay, _):
            let decay = Float(1 / (1 + (t - 1) * lrDecay))
            let e = Float(eps)
            state.withSlots { slot in
                let s = slot(0)
                for i in 0..<n {
                    let g = u[i]
                    let sum = s[i] + g * g
                    s[i] = sum
                    u[i] = g / (sum.squareRoot() + e) * decay
                }
            }

        case .scaleByRMS(let alpha, let eps, let centered, let momentum):
            let a = Float(alpha)
            let oneMinusA = Float(1 - alpha)
            let e = Float(eps)
            let mu = Float(momentum)
            state.withSlots { slot in
                let sq = slot(0)
                for i in 0..<n {
                    let g = u[i]
                    sq[i] = a * sq[i] + oneMinusA * (g * g)
                }
                var next = 1
                if centered {
                    let ga = slot(next)
                    next += 1
                    for i in 0..<n {
                        let g = u[i]
                        let mean = ga[i] + oneMinusA * (g - ga[i])
                        ga[i] = mean
                        u[i] = g / ((sq[i] - mean * mean).squareRoot() + e)
                    }
                } else {
                    for i in 0..<n { u[i] = u[i] / (sq[i].squareRoot() + e) }
                }
                if momentum > 0 {
                    let b = slot(next)
                    for i in 0..<n {
                        let buf = mu * b[i] + u[i]
                        b[i] = buf
                        u[i] = buf
                    }
                }
            }

        case .scaleByAdadelta(let rho, let eps):
            let r = Float(rho)
            let oneMinusR = Float(1 - rho)
            let e = Float(eps)
            state.withSlots { slot in
                let sq = slot(0)
                let acc = slot(1)
                for i in 0..<n {
                    let g = u[i]
                    let s = r * sq[i] + oneMinusR * (g * g)
                    sq[i] = s
                    let delta = (acc[i] + e).squareRoot() / (s + e).squareRoot() * g
                    acc[i] = r * acc[i] + oneMinusR * (delta * delta)
                    u[i] = delta
                }
            }

        case .scaleByAdam(let beta1, let beta2, let eps, let amsgrad):
            let k = AdamConstants(
                beta1: beta1, beta2: beta2, eps: eps, step: c.step,
                firstMomentStep: FirstMomentSteps.advance(&state.scalars[0], step: c.step))
            state.withSlots { slot in
                let m = slot(0)
                let v = slot(1)
                if amsgrad {
                    let vMax = slot(2)
                    for i in 0..<n {
                        let g = u[i]
                        let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                        let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                        let vm = max(vMax[i], vi)
                        m[i] = mi
                        v[i] = vi
                        vMax[i] = vm
                        u[i] = (mi * k.c1) / (vm.squareRoot() * k.c2 + k.eps)
                    }
                } else {
                    for i in 0..<n {
                        let g = u[i]
                        let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
                        let vi = k.beta2 * v[i] + k.oneMinusBeta2 * (g * g)
                        m[i] = mi
                        v[i] = vi
                        u[i] = (mi * k.c1) / (vi.squareRoot() * k.c2 + k.eps)
                    }
                }
            }

        case .scaleByNAdam(let beta1, let beta2, let eps, let momentumDecay):
            let mu = beta1 * (1 - 0.5 * pow(0.96, t * momentumDecay))
            let muNext = beta1 * (1 - 0.5 * pow(0.96, (t + 1) * momentumDecay))
            let product = state.scalars[0] * mu
            state.scalars[0] = product
            let gradCoef = Float((1 - mu) / (1 - product))
            let momCoef = Float(muNext / (1 - product * muNext))
            let b1c = Float(1 - beta1)
            let b2 = Float(beta2)
            let b2c = Float(1 - beta2)
            let e = Float(eps)
            let inverseBC2 = Float(1 / (1 - pow(beta2, t)))
            state.withSlots { slot in
                let m = slot(0)
                let v = slot(1)
                for i in 0..<n {
                    let g = u[i]
                    let mi = m[i] + b1c * (g - m[i])
                    let vi = b2 * v[i] + b2c * (g * g)
                    m[i] = mi
                    v[i] = vi
                    let denom = (vi * inverseBC2).squareRoot() + e
                    u[i] = gradCoef * (g / denom) + momCoef * (mi / denom)
                }
            }

        case .scaleByRAdam(let beta1, let beta2, let eps):
            let bc1 = 1 - pow(beta1, Double(FirstMomentSteps.advance(&state.scalars[0], step: c.step)))
            let bc2 = 1 - pow(beta2, t)
            let rhoInf = 2 / (1 - beta2) - 1
            let rhoT = rhoInf - 2 * t * pow(beta2, t) / bc2
            let b1c = Float(1 - beta1)
            let b2 = Float(beta2)
            let b2c = Float(1 - beta2)
            let e = Float(eps)
            let inverseBC1 = Float(1 / bc1)
            state.withSlots { slot in
                let m = slot(0)
                let v = slot(1)
                for i in 0..<n {
                    let g = u[i]
                    m[i] = m[i] + b1c * (g - m[i])
                    v[i] = b2 * v[i] + b2c * (g * g)
                }
                if rhoT > 5 {
                    let rect = ((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)).squareRoot()
                    let scale = Float(bc2.squareRoot() * rect)
                    for i in 0..<n { u[i] = (m[i] * inverseBC1) * (scale / (v[i].squareRoot() + e)) }
                } else {
                    for i in 0..<n { u[i] = m[i] * inverseBC1 }
                }
            }

        case .scaleByLearningRate:
            let negativeLR = Float(-c.learningRate)
            for i in 0..<n { u[i] = u[i] * negativeLR }

        case .decayWeightsIndependently(let lambda):
            Kernels.addScaled(u, w, Float(-lambda), mask: c.decayMask)

        case .proximalDecay(let lambda):
            let shrink = Float(1 / (1 + c.learningRate * lambda))
            if let mask = c.decayMask {
                for i in 0..<n where mask[i] != 0 { u[i] = (w[i] + u[i]) * shrink - w[i] }
            } else {
                for i in 0..<n { u[i] = (w[i] + u[i]) * shrink - w[i] }
            }
        }
    }
}

/// The step counter of a first moment `m`, kept apart from the optimizer's step `t` (which `v`'s
/// bias correction and the schedules use). The two agree unless `m` restarted at zero while `v`
/// went on — the *aggregate* policy with `moments: second` — and then `m` must be bias-corrected
/// from its own start: with the global count, the restarted `m`'s first steps would be damped
/// by `1 − β₁^k`.
public enum FirstMomentSteps {
    /// Advances the stored count for step `step` and returns it. A stored count that is not a
    /// whole number in `0 ..< step` (a hostile or damaged state) is read as the nearest one that is.
    @inline(__always)
    static func advance(_ stored: inout Double, step: Int) -> Int {
        let previous = stored.isFinite ? min(max(stored.rounded(.down), 0), Double(step - 1)) : Double(step - 1)
        stored = previous + 1
        return Int(stored)
    }
}

/// Adam's per-step constants, in Float as the kernels use them; shared by the chain and the
/// fused kernel so both compute exactly the same numbers.
struct AdamConstants {
    let oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float, eps: Float
    /// `1/(1 − β₁^k)` (k: the first moment's own steps) and `1/√(1 − β₂^t)`.
    let c1: Float, c2: Float

    init(beta1: Double, beta2: Double, eps: Double, step: Int, firstMomentStep: Int) {
        let t = Double(step)
        oneMinusBeta1 = Float(1 - beta1)
        self.beta2 = Float(beta2)
        oneMinusBeta2 = Float(1 - beta2)
        self.eps = Float(eps)
        c1 = Float(1 / (1 - pow(beta1, Double(firstMomentStep))))
        c2 = Float(1 / (1 - pow(beta2, t)).squareRoot())
    }
}

enum Kernels {
    /// `u ← u + a·w`, only where `mask` is non-zero.
    @inline(__always)
    static func addScaled(
        _ u: UnsafeMutableBufferPointer<Float>, _ w: UnsafeBufferPointer<Float>,
        _ a: Float, mask: UnsafeBufferPointer<Float>?
    ) {
        let n = u.count
        if let mask {
            for i in 0..<n { u[i] = u[i] + (a * mask[i]) * w[i] }
        } else {
            for i in 0..<n { u[i] = u[i] + a * w[i] }
        }
    }
}
