import ArgumentParser
import FedConfig
import FedCore
import FedOptim
import Foundation

struct OptimizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizer",
        abstract: "Inspect the local optimizers and replay gradient streams through them.",
        discussion: """
            Examples:
              fedsim optimizer list
              fedsim optimizer replay --spec Topologies/optimizers/adamw.yaml \\
                --input Topologies/optimizers/zero-gradients.json
            """,
        subcommands: [Replay.self, List.self])

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay a gradient sequence through an optimizer and print the trajectory.",
            discussion: """
                SPEC is a YAML or JSON file holding exactly the optimizer block a topology uses, e.g.
                    name: adamw
                    lr: 0.001
                    weight_decay: 0.01
                GRADS is JSON: {"initial": [w0, w1, ...], "gradients": [[g0, g1, ...], ...]}.
                The output holds the parameters after each step:
                    JSON: {"trajectory": [[...], ...]}     CSV: step,w0,w1,... (one row per step)
                Gradients are used as given (they do not depend on the parameters).

                Examples:
                  fedsim optimizer replay --spec Topologies/optimizers/adamw.yaml \\
                    --input Topologies/optimizers/zero-gradients.json
                  fedsim optimizer replay --spec Topologies/optimizers/adam_l2.yaml \\
                    --input Topologies/optimizers/zero-gradients.json --format csv
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case json, csv }

        @Option(name: .long, help: "Optimizer spec file (YAML or JSON).")
        var spec: String

        @Option(name: .long, help: "Gradient file (JSON: initial parameters and a list of gradients).")
        var input: String

        @Option(name: .long, help: "Output format: json or csv.")
        var format: Format = .json

        func run() throws {
            let (optimizer, stream) = try reportingInputErrors {
                let spec = try OptimizerSpec.parse(try ConfigMap.load(file: spec))
                let stream = try GradientStream.load(file: input)
                // A replayed vector is one weight tensor (no biases), so `decay_mask: no_bias` decays all of it.
                return (Optimizer(spec, layout: ParameterLayout([("weight", [1, stream.initial.count])])), stream)
            }
            var params = stream.initial
            var state = optimizer.initialState(params: params)
            var trajectory: [[Float]] = []
            trajectory.reserveCapacity(stream.gradients.count)
            for g in stream.gradients {
                optimizer.step(params: &params, gradients: g, state: &state)
                trajectory.append(params)
            }
            if trajectory.contains(where: { $0.contains { !$0.isFinite } }) {
                FileHandle.standardError.write(
                    Data("warning: the trajectory diverged (non-finite values are written as null)\n".utf8))
            }
            var out = ""
            switch format {
            case .json:
                out = "{\"trajectory\": [\n"
                out += trajectory.map { "  [" + $0.map(jsonNumber).joined(separator: ", ") + "]" }.joined(
                    separator: ",\n")
                out += "\n]}\n"
            case .csv:
                let n = stream.initial.count
                out = "step," + (0..<n).map { "w\($0)" }.joined(separator: ",") + "\n"
                for (t, row) in trajectory.enumerated() {
                    out += "\(t + 1)," + row.map { "\($0)" }.joined(separator: ",") + "\n"
                }
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }

        private func jsonNumber(_ x: Float) -> String { x.isFinite ? "\(x)" : "null" }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the optimizers, their defaults and the transform chain each one is.",
            discussion: """
                Examples:
                  fedsim optimizer list
                """)

        func run() {
            for kind in OptimizerKind.allCases {
                let spec = OptimizerSpec(kind)
                let settings = kind.settings.sorted { $0.rawValue < $1.rawValue }.map {
                    "\($0.rawValue)=\(Self.defaultValue($0, spec))"
                }.joined(separator: ", ")
                print("\(kind.rawValue)")
                print("  chain:    " + spec.chain.map(\.label).joined(separator: " → "))
                print("  lr:       \(spec.lr)" + (spec.weightDecay != 0 ? "   weight_decay: \(spec.weightDecay)" : ""))
                print("  settings: \(settings)")
            }
            print(
                "\nEvery optimizer also takes: lr, clip_norm (none), decay_mask=all (or no_bias, no_bias_or_norm), "
                    + "maximize=false, schedule={type: constant}, lookahead (none). docs/OPTIMIZERS.md has the ranges.")
        }

        /// A setting's default for `spec`'s optimizer, as the topology would write it.
        static func defaultValue(_ key: OptimizerSpec.Key, _ spec: OptimizerSpec) -> String {
            func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)" }
            switch key {
            case .weightDecay: return number(spec.weightDecay)
            case .momentum: return number(spec.momentum)
            case .dampening: return number(spec.dampening)
            case .nesterov: return String(spec.nesterov)
            case .beta1: return number(spec.beta1)
            case .beta2: return number(spec.beta2)
            case .eps: return "\(spec.eps)"
            case .amsgrad: return String(spec.amsgrad)
            case .alpha: return number(spec.alpha)
            case .centered: return String(spec.centered)
            case .rho: return number(spec.rho)
            case .lrDecay: return number(spec.lrDecay)
            case .initialAccumulator: return number(spec.initialAccumulator)
            case .momentumDecay: return number(spec.momentumDecay)
            case .decayConvention: return spec.decayConvention.rawValue
            case .decayMask: return spec.decayMask.rawValue
            case .maximize: return String(spec.maximize)
            case .name, .lr, .clipNorm, .schedule, .lookahead: return ""
            }
        }
    }
}

/// A replay input: initial parameters and a sequence of gradients of the same length.
struct GradientStream {
    var initial: [Float]
    var gradients: [[Float]]

    static func load(file: String) throws -> GradientStream {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InputError("cannot read \(file): no such file or not readable")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw InputError(
                "\(file): not valid JSON "
                    + "(\((error as NSError).userInfo["NSDebugDescription"] as? String ?? "parse error"))"
            )
        }
        guard let root = object as? [String: Any] else {
            throw InputError("\(file): expected an object {\"initial\": [...], \"gradients\": [[...], ...]}")
        }
        for key in root.keys where key != "initial" && key != "gradients" {
            throw InputError("\(file): unknown key '\(key)' (expected initial and gradients)")
        }
        guard let initialAny = root["initial"] else { throw InputError("\(file): missing key 'initial'") }
        let initial = try numbers(initialAny, where: "\(file): initial")
        guard !initial.isEmpty else { throw InputError("\(file): initial is empty") }
        guard let gradsAny = root["gradients"] else { throw InputError("\(file): missing key 'gradients'") }
        guard let list = gradsAny as? [Any] else { throw InputError("\(file): gradients must be a list of lists") }
        var gradients: [[Float]] = []
        for (i, item) in list.enumerated() {
            let g = try numbers(item, where: "\(file): gradients[\(i)]")
            guard g.count == initial.count else {
                throw InputError(
                    "\(file): gradients[\(i)] has \(g.count) values, expected \(initial.count) (the length of initial)")
            }
            gradients.append(g)
        }
        return GradientStream(initial: initial, gradients: gradients)
    }

    private static func numbers(_ value: Any, where location: String) throws -> [Float] {
        guard let list = value as? [Any] else { throw InputError("\(location) must be a list of numbers") }
        return try list.enumerated().map { j, x in
            // JSON booleans arrive as NSNumber too; their Objective-C type is "c" (char).
            guard let n = x as? NSNumber, String(cString: n.objCType) != "c" else {
                throw InputError("\(location)[\(j)] is not a number")
            }
            let f = Float(n.doubleValue)
            guard f.isFinite else { throw InputError("\(location)[\(j)] = \(n) is not a finite Float32") }
            return f
        }
    }
}
