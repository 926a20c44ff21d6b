import FedCore
import FedOptim
import FedProtocol
import FedSimulation
import FedStrategy
import FedTopology
import XCTest

/// Each server strategy against values worked out by hand (or, for the adaptive ones, by a
/// separate float64 Python transcription of Reddi et al.'s Algorithm 2, quoted in the asserts).
final class StrategyTests: XCTestCase {
    func update(_ id: Int, _ n: Int, _ d: [Float]) -> ClientUpdate {
        ClientUpdate(round: 1, clientID: id, sampleCount: n, delta: d, trainLoss: 0, steps: 1, state: nil)
    }

    /// Δ̄ = (1·[1, −2] + 3·[3, 2]) / 4 = [2.5, 1].
    lazy var pair = [update(1, 3, [3, 2]), update(0, 1, [1, -2])]

    func run(_ spec: ServerSpec, rounds: Int, _ updates: [ClientUpdate]) -> [Float] {
        var w: [Float] = [0, 0]
        var state = ServerState()
        for _ in 0..<rounds { ServerStrategy.step(updates, weights: &w, spec: spec, state: &state) }
        return w
    }

    func testFedAvgAndFedProxAverageBySamples() {
        var spec = ServerSpec(strategy: .fedavg)
        spec.lr = 0.5
        XCTAssertEqual(run(spec, rounds: 1, pair), [1.25, 0.5])
        XCTAssertEqual(run(ServerSpec(strategy: .fedprox), rounds: 2, pair), [5, 2])
    }

    func testFedAvgMAccumulatesServerMomentum() {
        // b₁ = [2.5, 1]; b₂ = 0.9·b₁ + Δ̄ = [4.75, 1.9]; w = b₁ + b₂.
        XCTAssertEqual(run(ServerSpec(strategy: .fedavgm), rounds: 2, pair), [7.25, 2.9])
    }

    func testAdaptiveStrategiesMatchTheIndependentTranscription() {
        let expected: [(ServerStrategyKind, Bool, [Double])] = [
            (.fedadam, false, [0.023390687950677044, 0.023274115442258783]),
            (.fedadagrad, false, [0.002342723017994551, 0.002341553720129994]),
            (.fedyogi, false, [0.023357162582232284, 0.023240864701567734]),
            (.fedadam, true, [0.019931766541496088, 0.01982987295037085]),
        ]
        for (kind, correction, want) in expected {
            var spec = ServerSpec(strategy: kind)
            spec.biasCorrection = correction
            XCTAssertEqual(spec.lr, 0.01)
            let w = run(spec, rounds: 2, pair)
            for i in 0..<2 {
                XCTAssertEqual(Double(w[i]), want[i], accuracy: 1e-8, "\(kind) bias correction \(correction)")
            }
        }
    }

    func testMedianAndTrimmedMeanIgnoreOutliers() {
        let three = [update(0, 1, [1, -2]), update(1, 100, [3, 2]), update(2, 1, [10, 0])]
        XCTAssertEqual(run(ServerSpec(strategy: .median), rounds: 1, three), [3, 0], "unweighted, per coordinate")
        let four = three + [update(3, 1, [4, 4])]
        XCTAssertEqual(
            run(ServerSpec(strategy: .median), rounds: 1, four), [3.5, 1], "even count: mean of the middle two")
        var trimmed = ServerSpec(strategy: .trimmedMean)
        trimmed.trim = 0.2
        let five = four + [update(4, 1, [-5, 1000])]
        // sorted x: −5 1 3 4 10 → mean(1, 3, 4) = 8/3; y: −2 0 2 4 1000 → mean(0, 2, 4) = 2
        let w = run(trimmed, rounds: 1, five)
        XCTAssertEqual(w[0], Float(8.0 / 3.0))
        XCTAssertEqual(w[1], 2)
        trimmed.trim = 0
        XCTAssertEqual(run(trimmed, rounds: 1, five)[1], Float((-2.0 + 2 + 0 + 4 + 1000) / 5))
    }

    /// FedProx adds μ(w − w_global) to every local gradient. After two SGD steps from w_g the
    /// proximal run differs from the plain one by exactly −η·μ·(w₁ − w_g).
    func testFedProxPullsLocalTrainingTowardTheGlobalModel() throws {
        func delta(mu: Double) throws -> ([Float], [Float]) {
            let t = try Topology.parse(
                """
                data: {source: blobs, count: 200, features: 3, classes: 3}
                model: {kind: softmax}
                clients: {count: 2, local: {steps: 2, batch_size: full}, optimizer: {name: sgd, lr: 0.5}}
                server: {strategy: fedprox, mu: \(mu)}
                """, baseDirectory: "/tmp")
            let prepared = try PreparedRun.prepare(t)
            let w = prepared.initialWeights
            let two = prepared.makeClients([0])[0]!.train(
                ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil)
            ).delta
            var oneStep = t
            oneStep.clients.local.length = .steps(1)
            let one = try PreparedRun.prepare(oneStep).makeClients([0])[0]!.train(
                ClientTask(round: 1, clientID: 0, globalWeights: w, sharedState: nil)
            ).delta
            return (two, one)
        }
        let (plain, one) = try delta(mu: 0)
        let (prox, _) = try delta(mu: 0.4)
        for i in plain.indices {
            XCTAssertEqual(Double(prox[i] - plain[i]), -0.5 * 0.4 * Double(one[i]), accuracy: 1e-5)
        }
        let norm = { (v: [Float]) in v.reduce(0) { $0 + Double($1) * Double($1) } }
        XCTAssertLessThan(norm(prox), norm(plain))
    }

    /// `proximal: decoupled` with Adam: the pull `η·μ(w − w_global)` is applied after the step,
    /// outside the preconditioner. Over two full-batch steps, step 1 starts at w_global (no pull)
    /// and step 2's data gradient and Adam step are those of plain training, so the decoupled
    /// delta is the plain one minus η·μ·(one step's delta) exactly as worked by hand, whatever
    /// Adam's v is. The coupled form sends μ(w − w_global) through Adam's normalization and
    /// lands elsewhere.
    func testDecoupledProximalPullStaysOutsideAdamsPreconditioner() throws {
        func delta(_ server: String, steps: Int = 2) throws -> [Float] {
            let t = try Topology.parse(
                """
                data: {source: blobs, count: 200, features: 3, classes: 3}
                model: {kind: softmax}
                clients: {count: 2, local: {steps: \(steps), batch_size: full}, optimizer: {name: adam, lr: 0.05}}
                server: \(server)
                """, baseDirectory: "/tmp")
            let prepared = try PreparedRun.prepare(t)
            return prepared.makeClients([0])[0]!.train(
                ClientTask(round: 1, clientID: 0, globalWeights: prepared.initialWeights, sharedState: nil)
            ).delta
        }
        let plain = try delta("{strategy: fedavg}")
        let one = try delta("{strategy: fedavg}", steps: 1)
        let decoupled = try delta("{strategy: fedprox, mu: 0.4, proximal: decoupled}")
        let coupled = try delta("{strategy: fedprox, mu: 0.4}")
        var coupledGap = 0.0
        for i in plain.indices {
            XCTAssertEqual(Double(decoupled[i] - plain[i]), -0.05 * 0.4 * Double(one[i]), accuracy: 1e-6, "\(i)")
            coupledGap = max(coupledGap, abs(Double(coupled[i] - plain[i]) + 0.05 * 0.4 * Double(one[i])))
        }
        XCTAssertGreaterThan(coupledGap, 1e-4, "the coupled pull is normalized by Adam: another result")
        XCTAssertThrowsError(
            try Topology.parse(
                """
                data: {source: blobs}
                model: {kind: softmax}
                clients: {optimizer: {name: adam}}
                server: {strategy: fedavg, proximal: decoupled}
                """, baseDirectory: "/tmp")
        ) { XCTAssertTrue("\($0)".contains("'proximal' is not a setting of fedavg"), "\($0)") }
    }

    /// `maximize: true` ascends: every optimizer's step on gradient g equals its minimizing
    /// step on −g, bit for bit (torch negates the gradient first), weight decay included.
    func testMaximizeEqualsMinimizingTheNegatedGradient() {
        for kind in OptimizerKind.allCases {
            var spec = OptimizerSpec(kind)
            spec.weightDecay = 0.1
            if kind == .nesterov { spec.momentum = 0.9 }
            var up = spec
            up.maximize = true
            let layout = ParameterLayout.flat(3)
            let a = Optimizer(up, layout: layout)
            let b = Optimizer(spec, layout: layout)
            var wa: [Float] = [0.5, -1, 2]
            var wb = wa
            var sa = a.initialState(params: wa)
            var sb = b.initialState(params: wb)
            for step in 0..<4 {
                let g: [Float] = [0.3, -0.2 * Float(step), 1.5]
                a.step(params: &wa, gradients: g, state: &sa)
                b.step(params: &wb, gradients: g.map { -$0 }, state: &sb)
            }
            XCTAssertEqual(wa, wb, "\(kind)")
            var plain: [Float] = [0.5, -1, 2]
            var sp = b.initialState(params: plain)
            b.step(params: &plain, gradients: [0.3, 0, 1.5], state: &sp)
            XCTAssertNotEqual(plain, [0.5, -1, 2])
        }
    }

    /// The aggregate policy's variants: both moments or the second only (first restarted at
    /// zero), weighted by samples or uniformly.
    func testStateAggregationVariants() {
        let optimizer = Optimizer(OptimizerSpec(.adamw), layout: .flat(2))
        func state(_ m: [Float], _ v: [Float], step: Int) -> OptimizerState {
            var s = optimizer.initialState(params: [0, 0])
            s.transforms[0].setSlot("m", m)
            s.transforms[0].setSlot("v", v)
            s.step = step
            return s
        }
        let updates = [
            ClientUpdate(
                round: 1, clientID: 0, sampleCount: 1, delta: [0, 0], trainLoss: 0, steps: 1,
                state: state([1, 2], [4, 8], step: 3)),
            ClientUpdate(
                round: 1, clientID: 1, sampleCount: 3, delta: [0, 0], trainLoss: 0, steps: 1,
                state: state([5, 6], [8, 0], step: 5)),
        ]
        let both = Aggregation.averageStates(updates)!
        XCTAssertEqual(both.buffer(named: "m"), [4, 5])
        XCTAssertEqual(both.buffer(named: "v"), [7, 2])
        XCTAssertEqual(both.step, 5)
        let second = Aggregation.averageStates(updates, StateAggregation(moments: .second, weighting: .samples))!
        XCTAssertEqual(second.buffer(named: "m"), [0, 0])
        XCTAssertEqual(second.buffer(named: "v"), [7, 2])
        let uniform = Aggregation.averageStates(updates, StateAggregation(moments: .both, weighting: .uniform))!
        XCTAssertEqual(uniform.buffer(named: "m"), [3, 4])
        XCTAssertEqual(uniform.buffer(named: "v"), [6, 4])
    }

    /// Every strategy runs end to end in a federation and the server section is strict.
    func testEveryStrategyRunsAndBadServerSettingsAreRejected() throws {
        for kind in ServerStrategyKind.allCases {
            let t = try Topology.parse(
                """
                rounds: 3
                data: {source: blobs, count: 300, features: 4, classes: 3}
                model: {kind: softmax}
                clients: {count: 6, per_round: 5, optimizer: {name: adamw, lr: 0.01}}
                server: {strategy: \(kind.rawValue)}
                """, baseDirectory: "/tmp")
            let records = try InProcessRun.records(PreparedRun.prepare(t))
            XCTAssertNotEqual(records.last!.weightsHash, records[0].weightsHash, "\(kind)")
            XCTAssertEqual(
                try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp").server, t.server, "\(kind) round-trips")
        }
        XCTAssertThrowsError(
            try Topology.parse(
                """
                data: {source: blobs}
                model: {kind: softmax}
                clients: {optimizer: {name: sgd}}
                server: {strategy: fedavg, tau: 0.1}
                """, baseDirectory: "/tmp")
        ) { XCTAssertTrue("\($0)".contains("server.tau: 'tau' is not a setting of fedavg"), "\($0)") }
    }
}
