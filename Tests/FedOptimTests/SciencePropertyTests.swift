import FedCore
import FedOptim
import Foundation
import XCTest

/// The properties of SCIENCE.md §2, one test each.
final class SciencePropertyTests: XCTestCase {
    private func run(
        _ spec: OptimizerSpec, from initial: [Float], steps: Int,
        gradient: (_ step: Int, _ w: [Float]) -> [Float]
    ) -> [[Float]] {
        let optimizer = Optimizer(spec, layout: .flat(initial.count))
        var w = initial
        var state = optimizer.initialState(params: w)
        var trajectory = [w]
        for t in 1...steps {
            optimizer.step(params: &w, gradients: gradient(t, w), state: &state)
            trajectory.append(w)
        }
        return trajectory
    }

    private func adam(lr: Double = 1e-3, eps: Double = 1e-8) -> OptimizerSpec {
        var s = OptimizerSpec(.adam)
        s.lr = lr
        s.eps = eps
        return s
    }

    /// §2.1: m̂₁ = g₁ and v̂₁ = g₁², so the first step is η·g/(|g|+ε) per coordinate.
    func testBiasCorrectionMakesTheFirstStepSignLike() {
        let g: [Float] = [1e-4, -0.3, 7, -250, 1e-9]
        let w0: [Float] = [1, 1, 1, 1, 1]
        let traj = run(adam(), from: w0, steps: 1) { _, _ in g }
        for i in g.indices {
            let expected = Double(w0[i]) - 1e-3 * Double(g[i]) / (abs(Double(g[i])) + 1e-8)
            XCTAssertEqual(Double(traj[1][i]), expected, accuracy: 2e-7, "coordinate \(i)")
        }
        // The step is ≈ η for every coordinate whose |g| ≫ ε, whatever |g| is.
        for i in 0..<4 { XCTAssertEqual(Double(w0[i] - traj[1][i]).magnitude, 1e-3, accuracy: 1e-6) }
    }

    /// §2.2: with a constant gradient the step tends to η·g/(|g|+ε), set by η and not by |g|.
    func testConstantGradientSteadyState() {
        let g: [Float] = [1e-3, 0.5, -40]
        let traj = run(adam(lr: 1e-3), from: [0, 0, 0], steps: 3000) { _, _ in g }
        for i in g.indices {
            let step = Double(traj[3000][i]) - Double(traj[2999][i])
            XCTAssertEqual(step, -1e-3 * (g[i] > 0 ? 1.0 : -1.0), accuracy: 1e-3 * 1e-3, "coordinate \(i)")
        }
    }

    /// §2.3: with ∇L ≡ 0, AdamW shrinks every weight by exactly (1−ηλ) per step (radial decay,
    /// direction unchanged); Adam+L2 moves every weight by ≈ η per step whatever its size
    /// (sign-like, anisotropic), so large weights barely decay.
    func testZeroGradientExperiment() {
        let w0: [Float] = [5, -2, 0.5, 0.05]
        let eta = 1e-2
        let lambda = 1e-1
        let steps = 100
        var adamw = OptimizerSpec(.adamw)
        adamw.lr = eta
        adamw.weightDecay = lambda
        var adamL2 = OptimizerSpec(.adamL2)
        adamL2.lr = eta
        adamL2.weightDecay = lambda
        let zero: (Int, [Float]) -> [Float] = { _, w in [Float](repeating: 0, count: w.count) }
        let tw = run(adamw, from: w0, steps: steps, gradient: zero)
        let tl = run(adamL2, from: w0, steps: steps, gradient: zero)

        for t in [1, 10, 100] {
            let factor = pow(1 - eta * lambda, Double(t))
            for i in w0.indices {
                XCTAssertEqual(
                    Double(tw[t][i]), Double(w0[i]) * factor, accuracy: 1e-6 * abs(Double(w0[i])) * Double(t),
                    "AdamW: w[\(i)] after \(t) steps is w0·(1−ηλ)^t")
            }
        }
        XCTAssertEqual(cosine(tw[steps], w0), 1, accuracy: 1e-6, "AdamW decay is radial")

        // Adam+L2: each step moves every weight that has not reached zero by ≈ η towards zero.
        for i in 0..<3 {
            for t in 1...20 {
                let step = Double(tl[t - 1][i] - tl[t][i]) * (w0[i] > 0 ? 1.0 : -1.0)
                XCTAssertEqual(step, eta, accuracy: 0.1 * eta, "Adam+L2 step \(t) of w[\(i)] ≈ η")
            }
        }
        // Large weights barely decay, small ones vanish: shrinkage is anisotropic.
        XCTAssertGreaterThan(tl[steps][0] / w0[0], 0.75, "5.0 keeps most of its size under Adam+L2")
        XCTAssertLessThan(abs(tl[steps][3] / w0[3]), 0.25, "0.05 is driven to ~0 under Adam+L2")
        XCTAssertLessThan(cosine(tl[steps], w0), 0.999, "Adam+L2 changes the direction of w")
        XCTAssertEqual(
            Double(tw[steps][0] / w0[0]), Double(tw[steps][3] / w0[3]), accuracy: 1e-5, "AdamW shrinks all alike")
    }

    /// §2.4: under Adam+L2 the decay of weight i is ≈ ηλw_i/(√v̂_i+ε) — weak where gradients were
    /// large; under AdamW it is ηλw_i for every i. Measured as the trajectory difference between
    /// λ > 0 and λ = 0 runs on the same zero-mean gradient stream (σ = 1 vs σ = 0.1).
    func testCouplingScalesThePenaltyByTheGradientHistory() {
        let sigma: [Float] = [1, 0.1]
        let stream: (Int, [Float]) -> [Float] = { t, _ in sigma.map { t % 2 == 0 ? $0 : -$0 } }
        func decayEffect(_ kind: OptimizerKind) -> [Double] {
            var with = OptimizerSpec(kind)
            with.lr = 1e-3
            with.weightDecay = 1e-2
            var without = with
            without.weightDecay = 0
            let a = run(with, from: [1, 1], steps: 400, gradient: stream).last!
            let b = run(without, from: [1, 1], steps: 400, gradient: stream).last!
            return [Double(b[0] - a[0]), Double(b[1] - a[1])]
        }
        let coupled = decayEffect(.adamL2)
        let decoupled = decayEffect(.adamw)
        XCTAssertEqual(decoupled[1] / decoupled[0], 1, accuracy: 0.02, "AdamW decays both alike")
        XCTAssertEqual(decoupled[0], 1e-3 * 1e-2 * 400, accuracy: 0.05 * 4e-3, "AdamW decay ≈ ηλw per step")
        let ratio = coupled[1] / coupled[0]
        XCTAssertGreaterThan(ratio, 5, "Adam+L2 decays the low-variance weight ≈ σ₀/σ₁ = 10× more (got \(ratio))")
        XCTAssertLessThan(ratio, 20, "Adam+L2 decay ratio \(ratio) should be ≈ 10")
    }

    /// §2.5: when ε ≫ √v̂, Adam is momentum SGD with learning rate η/ε (on bias-corrected momentum).
    func testLargeEpsilonTurnsAdamIntoMomentumSGD() {
        let eps = 1e3
        let eta = 1.0
        let beta1 = 0.9
        var spec = adam(lr: eta, eps: eps)
        spec.beta1 = beta1
        let grads: [[Float]] = (1...30).map { t in [Float(sin(Double(t))), 2 * Float(cos(Double(t) / 3))] }
        let traj = run(spec, from: [0.3, -0.7], steps: 30) { t, _ in grads[t - 1] }
        var m = [0.0, 0.0]
        var w = [0.3, -0.7]
        for t in 1...30 {
            for i in 0..<2 {
                m[i] = beta1 * m[i] + (1 - beta1) * Double(grads[t - 1][i])
                w[i] -= eta / eps * m[i] / (1 - pow(beta1, Double(t)))
            }
        }
        for i in 0..<2 {
            let adamMove = Double(traj[30][i]) - [0.3, -0.7][i]
            let sgdMove = w[i] - [0.3, -0.7][i]
            XCTAssertEqual(adamMove / sgdMove, 1, accuracy: 1e-2, "coordinate \(i)")
        }
        // And with the default ε it is not: the steps are sign-like, 1000× larger.
        let adaptive = run(adam(lr: eta), from: [0.3, -0.7], steps: 1) { t, _ in grads[t - 1] }
        XCTAssertEqual(Double(abs(adaptive[1][0] - 0.3)), eta, accuracy: 1e-6)
    }

    /// §2.6: full-batch gradient descent with L2 on least squares converges to the ridge
    /// closed form w* = (XᵀX + nλI)⁻¹Xᵀy; so does Adam+L2 (its fixed point is ∇L + λw = 0).
    func testRidgeClosedFormIsTheLimitOfGradientDescentWithL2() {
        var rng = SeededRandom(seed: 42)
        let n = 50
        let d = 4
        let lambda = 0.5
        let X = (0..<n).map { _ in (0..<d).map { _ in rng.nextNormal() } }
        let wTrue = [2.0, -1.0, 0.5, 3.0]
        let y = X.map { row in zip(row, wTrue).map(*).reduce(0, +) + 0.1 * rng.nextNormal() }
        let closed = ridge(X, y, lambda: lambda)
        let gradient: (Int, [Float]) -> [Float] = { _, w in
            var g = [Double](repeating: 0, count: d)
            for (row, yi) in zip(X, y) {
                let r = zip(row, w).map { $0 * Double($1) }.reduce(0, +) - yi
                for j in 0..<d { g[j] += r * row[j] / Double(n) }
            }
            return g.map(Float.init)
        }
        var sgd = OptimizerSpec(.sgd)
        sgd.lr = 0.1
        sgd.weightDecay = lambda
        let gd = run(sgd, from: [0, 0, 0, 0], steps: 500, gradient: gradient).last!
        var adamL2 = OptimizerSpec(.adamL2)
        adamL2.lr = 0.05
        adamL2.weightDecay = lambda
        adamL2.schedule = .cosine(tMax: 3000, etaMin: 0)
        let ad = run(adamL2, from: [0, 0, 0, 0], steps: 3000, gradient: gradient).last!
        for j in 0..<d {
            XCTAssertEqual(Double(gd[j]), closed[j], accuracy: 1e-4, "GD+L2 w[\(j)]")
            XCTAssertEqual(Double(ad[j]), closed[j], accuracy: 1e-3, "Adam+L2 w[\(j)]")
        }
        // Decay shrinks the solution: ‖w*(λ)‖ < ‖w_OLS‖ (SCIENCE.md §2.7, the bias side).
        let ols = ridge(X, y, lambda: 0)
        XCTAssertLessThan(norm(closed), norm(ols))
        XCTAssertLessThan(norm(ridge(X, y, lambda: 5)), norm(closed))
    }

    /// §2.7 bias–variance, through gradient descent with L2 (`sgd` + weight_decay, full batch):
    /// with few, noisy samples some decay lowers the test error; with large true weights and
    /// plenty of data, strong decay under-fits — the learned norm is far too small and the test
    /// error rises. Averaged over 20 seeded data sets.
    func testDecayHelpsWithFewNoisySamplesAndUnderfitsLargeWeights() {
        func experiment(
            n: Int, trueScale: Double, noise: Double, lambda: Double, seed: UInt64
        ) -> (testError: Double, norm: Double, trueNorm: Double) {
            let d = 8
            var rng = SeededRandom(seed: seed)
            let wTrue = (0..<d).map { _ in trueScale * rng.nextNormal() }
            let X = (0..<n).map { _ in (0..<d).map { _ in rng.nextNormal() } }
            let y = X.map { row in zip(row, wTrue).map(*).reduce(0, +) + noise * rng.nextNormal() }
            // ∇ of (1/2n)‖y − Xw‖² is A·w − b with A = XᵀX/n, b = Xᵀy/n (computed once).
            let A = (0..<d).map { i in (0..<d).map { j in X.reduce(0) { $0 + $1[i] * $1[j] } / Double(n) } }
            let b = (0..<d).map { j in zip(X, y).reduce(0) { $0 + $1.0[j] * $1.1 } / Double(n) }
            var spec = OptimizerSpec(.sgd)
            spec.lr = 0.05
            spec.weightDecay = lambda
            let w = run(spec, from: [Float](repeating: 0, count: d), steps: 4000) { _, w in
                (0..<d).map { i in
                    var g = -b[i]
                    for j in 0..<d { g += A[i][j] * Double(w[j]) }
                    return Float(g)
                }
            }.last!
            // For x ~ N(0, I) the expected test error is ‖w − w_true‖² + σ².
            let error = zip(w, wTrue).map { (Double($0) - $1) * (Double($0) - $1) }.reduce(0, +) + noise * noise
            return (error, norm(w.map(Double.init)), norm(wTrue))
        }
        func mean(_ f: (UInt64) -> Double) -> Double { (1...20).map { f(UInt64($0)) }.reduce(0, +) / 20 }
        // Few (n = 12) noisy samples, modest weights: decay helps.
        let plain = mean { experiment(n: 12, trueScale: 0.5, noise: 1.5, lambda: 0, seed: $0).testError }
        let decayed = mean { experiment(n: 12, trueScale: 0.5, noise: 1.5, lambda: 0.5, seed: $0).testError }
        XCTAssertLessThan(decayed, plain * 0.8, "decay \(decayed) vs none \(plain)")
        // Plenty of data (n = 200), large weights: strong decay under-fits.
        let ratio = mean {
            let e = experiment(n: 200, trueScale: 5, noise: 0.5, lambda: 1, seed: $0)
            return e.norm / e.trueNorm
        }
        XCTAssertLessThan(ratio, 0.6, "the learned norm is systematically too small")
        let strong = mean { experiment(n: 200, trueScale: 5, noise: 0.5, lambda: 1, seed: $0).testError }
        let none = mean { experiment(n: 200, trueScale: 5, noise: 0.5, lambda: 0, seed: $0).testError }
        XCTAssertGreaterThan(strong, 10 * none)
    }

    /// §2.9: decay adds λ to the curvature, which lowers heavy-ball's damping ratio: more
    /// oscillation around the minimum, not less.
    func testWeightDecayMakesHeavyBallOscillateMore() {
        func signChanges(lambda: Double) -> Int {
            var spec = OptimizerSpec(.momentum)
            spec.lr = 0.01
            spec.momentum = 0.9
            spec.weightDecay = lambda
            let traj = run(spec, from: [1], steps: 300) { _, w in [0.5 * w[0]] }  // f = ¼w², h = 0.5
            return zip(traj, traj.dropFirst()).filter { ($0[0] > 0) != ($1[0] > 0) }.count
        }
        XCTAssertGreaterThan(signChanges(lambda: 2), signChanges(lambda: 0))
        XCTAssertGreaterThan(signChanges(lambda: 8), signChanges(lambda: 2))
    }

    // MARK: helpers

    private func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let dot = zip(a, b).map { Double($0) * Double($1) }.reduce(0, +)
        return dot / (norm(a.map(Double.init)) * norm(b.map(Double.init)))
    }

    private func norm(_ v: [Double]) -> Double { v.map { $0 * $0 }.reduce(0, +).squareRoot() }

    /// (XᵀX + nλI)⁻¹Xᵀy by Gaussian elimination with partial pivoting, in Double.
    private func ridge(_ X: [[Double]], _ y: [Double], lambda: Double) -> [Double] {
        let n = X.count
        let d = X[0].count
        var A = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: d)
        for i in 0..<d {
            for j in 0..<d { A[i][j] = (0..<n).map { X[$0][i] * X[$0][j] }.reduce(0, +) }
            A[i][i] += Double(n) * lambda
            A[i][d] = (0..<n).map { X[$0][i] * y[$0] }.reduce(0, +)
        }
        for c in 0..<d {
            let p = (c..<d).max { abs(A[$0][c]) < abs(A[$1][c]) }!
            A.swapAt(c, p)
            for r in 0..<d where r != c {
                let f = A[r][c] / A[c][c]
                for k in c...d { A[r][k] -= f * A[c][k] }
            }
        }
        return (0..<d).map { A[$0][d] / A[$0][$0] }
    }
}
