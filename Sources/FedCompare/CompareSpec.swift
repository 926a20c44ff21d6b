import FedConfig
import FedCore
import FedData
import FedTopology
import Foundation
import Yams

/// A comparison: a base topology, the variants to run (a list or a grid), and the seeds.
/// `fedsim compare SPEC.yaml` runs every variant once per seed.
public struct CompareSpec: Sendable, Equatable {
    /// One configuration to run: a name and the `--set` overrides that make it.
    public struct Variant: Sendable, Equatable, Codable {
        public var id: String
        public var name: String
        public var overrides: [String]
    }

    /// Short names for grid keys in variant names: the last part of each key path
    /// (`weight_decay`), its owner for a `name` (`clients.optimizer.name` → `optimizer`), and as
    /// many more parts as it takes to tell keys apart (`optimizer.lr` and `server.lr`, not `lr` twice).
    public static func gridLabels(_ keys: [String]) -> [String] {
        let parts = keys.map { key -> [String] in
            var p = key.split(separator: ".").map(String.init)
            if p.count > 1 && p.last == "name" { p.removeLast() }
            return p
        }
        var depth = parts.map { _ in 1 }
        func label(_ i: Int) -> String { parts[i].suffix(depth[i]).joined(separator: ".") }
        while true {
            let labels = keys.indices.map(label)
            let clashing = keys.indices.filter { i in
                labels.enumerated().contains { $0.offset != i && $0.element == labels[i] } && depth[i] < parts[i].count
            }
            if clashing.isEmpty { return labels }
            for i in clashing { depth[i] += 1 }
        }
    }

    /// The most runs (variants × seeds) one comparison may hold.
    public static let maxRuns = 10_000

    public var name: String
    /// Absolute path of the base topology.
    public var base: String
    public var seeds: [Int]
    public var targetAccuracy: Double?
    public var variants: [Variant]
    /// Rounds averaged at the end of each run for the summary's window columns and the paired tests.
    public var finalWindow: Int = 5
    /// The variant the others are compared with, seed by seed (the first unless named).
    public var baseline: String?
    /// The search space every variant is tuned over (nil: each variant runs as given).
    public var tuning: Tuning?
    /// Variants with a search space of their own (`tune:` inside the variant), by name.
    public var variantTunings: [String: Tuning]?

    /// The space variant `name` is tuned over.
    public func tuning(of name: String) -> Tuning? { variantTunings?[name] ?? tuning }
    /// Every (variant, point of the space) to run, when tuned.
    public var trials: [Trial]?

    /// A search space: axes of values (a grid), searched whole or at `budget` random points,
    /// each variant at each point, ranked on validation.
    public struct Tuning: Sendable, Equatable, Codable {
        public struct Axis: Sendable, Equatable, Codable {
            public var key: String
            /// The values as YAML text, in order (log and linear ranges already expanded).
            public var values: [String]
        }
        public enum Rule: String, Sendable, Equatable, Codable, CaseIterable { case grid, random }
        public var axes: [Axis]
        public var rule: Rule
        /// grid: at most this many points (nil: all); random: this many points of the grid.
        public var budget: Int?
        public var seed: Int
        /// What ranks the points: the mean across seeds of each run's last-`final_window`-round
        /// mean validation accuracy (`validation_accuracy`, higher is better) or loss
        /// (`validation_loss`, lower is better).
        public var metric: String
        /// Seeds the search runs on (nil: the comparison's seeds). With them, each variant's chosen
        /// point is run again on the comparison's seeds, and only those runs are reported.
        public var seeds: [Int]?

        public var higherIsBetter: Bool { metric == "validation_accuracy" }
    }

    /// One variant at one point of the search space.
    public struct Trial: Sendable, Equatable, Codable {
        /// The variant's id and name.
        public var variantID: String
        public var variant: String
        /// The run unit: id `<variant id>/tNN-…`, name `<variant> [key=value …]`, overrides the
        /// variant's then the point's.
        public var unit: Variant
        /// Index of each axis's value at this point.
        public var coordinates: [Int]
    }

    /// What `fedsim compare` runs once per seed: the trials when tuned, else the variants.
    public var units: [Variant] { trials?.map(\.unit) ?? variants }

    /// Reads a spec file; the base topology path is relative to the spec's directory. Every
    /// variant is validated (its topology parsed) before anything runs.
    public static func load(file: String) throws -> CompareSpec {
        let root = try ConfigMap.load(file: file)
        root.expected = [
            "name", "base", "seeds", "target_accuracy", "set", "variants", "grid", "final_window", "baseline", "tune",
        ]
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent()
        let name = try root.string("name") ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !name.hasPrefix(".")
        else {
            throw root.error(
                "name",
                "'\(name)' may only hold letters, digits, '-', '_' and '.', and not start with '.' "
                    + "(it names the output directory runs/compare-<name>)")
        }
        guard let baseText = try root.string("base") else {
            throw root.error(nil, "missing required key 'base' (the base topology file)")
        }
        let base =
            baseText.hasPrefix("/") ? baseText : directory.appendingPathComponent(baseText).standardizedFileURL.path
        let baseTopology = try Topology.load(file: base)
        var seeds = [Int(baseTopology.seed)]
        if let items = try root.sequence("seeds") {
            seeds = try seedList(items, file: file)
            guard !seeds.isEmpty, Set(seeds).count == seeds.count else {
                throw root.error("seeds", "give at least one seed, each once")
            }
        }
        let target = try root.optionalDouble("target_accuracy", in: .closed(0, 1))
        let finalWindow = try root.int("final_window", default: 5, in: 1...1_000_000)
        let baseline = try root.string("baseline")
        let common = try root.map("set").map { try overrides(of: $0) } ?? []
        // The runner sets every run's seed from `seeds:`; a seed anywhere else would be ignored.
        func refuseSeed(_ sets: [String], _ map: ConfigMap, _ key: String) throws {
            if sets.contains(where: { $0.hasPrefix("seed=") }) {
                throw map.error(key, "seed is set per run from 'seeds:'; list the seeds there instead")
            }
        }
        if let set = try root.map("set") { try refuseSeed(common, set, "seed") }
        if root.has("variants") && root.has("grid") { throw root.error("grid", "give variants or grid, not both") }
        if let items = try root.sequence("variants"), items.count * seeds.count > Self.maxRuns {
            throw root.error(
                "variants",
                "\(items.count) variants × \(seeds.count) seed(s) is \(items.count * seeds.count) runs; a comparison "
                    + "holds at most \(Self.maxRuns)")
        }
        var variants: [Variant] = []
        var variantTuneMaps: [String: ConfigMap] = [:]
        if let items = try root.sequence("variants") {
            for (i, (path, node)) in items.enumerated() {
                let v = try ConfigMap(node, path: path, file: file)
                v.expected = ["name", "set", "tune"]
                guard let name = try v.string("name") else { throw v.error(nil, "missing required key 'name'") }
                let sets = try v.map("set").map { try overrides(of: $0) } ?? []
                if let set = try v.map("set") { try refuseSeed(sets, set, "seed") }
                if let tune = try v.map("tune") { variantTuneMaps[name] = tune }
                try v.finish()
                variants.append(Variant(id: slug(i, name), name: name, overrides: common + sets))
            }
        } else if let grid = try root.map("grid") {
            var axes: [(key: String, values: [String])] = []
            for key in grid.keys {
                if key == "seed" {
                    throw grid.error(key, "seed is set per run from 'seeds:'; list the seeds there instead")
                }
                guard let values = try grid.sequence(key), !values.isEmpty else {
                    throw grid.error(key, "expected a non-empty list of values")
                }
                axes.append((key, try values.map { try yamlText($0.node, path: $0.path, file: file) }))
            }
            guard !axes.isEmpty else { throw root.error("grid", "the grid is empty") }
            // Counted before anything is built: an 810,000-variant grid once wrote a 271 MB
            // compare.json and ignored Ctrl-C for minutes.
            var runs = seeds.count
            for axis in axes {
                let (product, overflow) = runs.multipliedReportingOverflow(by: axis.values.count)
                runs = overflow ? Int.max : product
            }
            guard runs <= Self.maxRuns else {
                let sizes = axes.map { String($0.values.count) }.joined(separator: " × ")
                throw root.error(
                    "grid",
                    "\(sizes) values × \(seeds.count) seed(s) is \(runs == Int.max ? "too many" : String(runs)) runs; "
                        + "a comparison holds at most \(Self.maxRuns): split it, or give fewer values")
            }
            var combinations: [[(String, String)]] = [[]]
            for axis in axes {
                combinations = combinations.flatMap { prefix in axis.values.map { prefix + [(axis.key, $0)] } }
            }
            let labels = Dictionary(uniqueKeysWithValues: zip(axes.map(\.key), Self.gridLabels(axes.map(\.key))))
            for (i, combination) in combinations.enumerated() {
                let name = combination.map { "\(labels[$0.0]!)=\($0.1)" }.joined(separator: " ")
                variants.append(
                    Variant(id: slug(i, name), name: name, overrides: common + combination.map { "\($0.0)=\($0.1)" }))
            }
        } else {
            throw root.error(nil, "missing 'variants' (a list of {name, set}) or 'grid' (key.path: [values])")
        }
        let tuneMap = try root.map("tune")
        try root.finish()
        guard Set(variants.map(\.name)).count == variants.count else {
            throw root.error("variants", "variant names must be unique")
        }
        if let baseline, !variants.contains(where: { $0.name == baseline }) {
            let names = variants.prefix(6).map(\.name).joined(separator: ", ") + (variants.count > 6 ? ", …" : "")
            throw root.error("baseline", "'\(baseline)' is not a variant (variants: \(names))")
        }
        for v in variants {
            do {
                _ = try Topology.load(file: base, overrides: v.overrides)
            } catch let error as ConfigError {
                throw ConfigError(file: file, path: "variant '\(v.name)'", message: error.description)
            }
        }
        var spec = CompareSpec(name: name, base: base, seeds: seeds, targetAccuracy: target, variants: variants)
        spec.finalWindow = finalWindow
        spec.baseline = baseline ?? variants.first?.name
        if tuneMap != nil || !variantTuneMaps.isEmpty {
            let task = try Topology.load(file: base, overrides: common).data.task
            let shared = try tuneMap.map { try readTuning($0, task: task) }
            var own: [String: Tuning] = [:]
            for (name, map) in variantTuneMaps { own[name] = try readTuning(map, task: task) }
            let tune = tuneMap ?? variantTuneMaps.values.first!
            var runs = 0
            for v in variants {
                guard let tuning = own[v.name] ?? shared else {
                    throw tune.error(
                        nil, "variant '\(v.name)' has no search space: give tune: at the top, or to every variant")
                }
                guard tuning.metric == (shared ?? own.values.first!).metric else {
                    throw tune.error("metric", "every variant must be ranked on the same metric")
                }
                runs +=
                    tuning.points.count * (tuning.seeds?.count ?? seeds.count) + (tuning.seeds == nil ? 0 : seeds.count)
            }
            guard runs <= Self.maxRuns else {
                throw tune.error(
                    "space",
                    "the tuned points × their seeds are \(runs) runs; a comparison holds at most "
                        + "\(Self.maxRuns): give a budget, fewer values or fewer variants")
            }
            var trials: [Trial] = []
            for v in variants {
                let tuning = own[v.name] ?? shared!
                for (i, point) in tuning.points.enumerated() {
                    let label = zip(tuning.axes, point).map { axis, index in
                        "\(axis.key.split(separator: ".").last!)=\(axis.values[index])"
                    }.joined(separator: " ")
                    let sets = zip(tuning.axes, point).map { "\($0.key)=\($0.values[$1])" }
                    trials.append(
                        Trial(
                            variantID: v.id, variant: v.name,
                            unit: Variant(
                                id: v.id + "/"
                                    + slug(i, label).replacingOccurrences(of: "v", with: "t", options: .anchored),
                                name: "\(v.name) [\(label)]", overrides: v.overrides + sets),
                            coordinates: point))
                }
            }
            for trial in trials {
                let t: Topology
                do { t = try Topology.load(file: base, overrides: trial.unit.overrides) } catch let error as ConfigError
                {
                    throw ConfigError(file: file, path: "tune point '\(trial.unit.name)'", message: error.description)
                }
                guard t.data.validationFraction > 0 else {
                    throw tune.error(
                        nil,
                        "tuning selects on validation, and '\(trial.unit.name)' holds none: set "
                            + "data.validation_fraction (in the base topology or in set:)")
                }
            }
            spec.tuning = shared ?? own[variants[0].name]
            spec.variantTunings = own.isEmpty ? nil : own
            spec.trials = trials
        }
        return spec
    }

    /// `tune: {space: {key.path: [values] | log[a, b, n] | lin[a, b, n]}, rule, budget, seed, metric}`.
    static func readTuning(_ m: ConfigMap, task: DataTask) throws -> Tuning {
        m.expected = ["space", "rule", "budget", "seed", "metric", "seeds"]
        guard let space = try m.map("space"), !space.keys.isEmpty else {
            throw m.error("space", "give the search space: key.path: [values], log[a, b, n] or lin[a, b, n]")
        }
        var axes: [Tuning.Axis] = []
        for key in space.keys {
            if key == "seed" { throw space.error(key, "seed is set per run from 'seeds:'; it is not tuned") }
            let node = space.node(key)!
            if case .scalar(let s) = node {
                axes.append(Tuning.Axis(key: key, values: try range(s.string, path: space.path(of: key), file: m.file)))
            } else if let items = try space.sequence(key), !items.isEmpty {
                axes.append(
                    Tuning.Axis(key: key, values: try items.map { try yamlText($0.node, path: $0.path, file: m.file) }))
            } else {
                throw space.error(key, "expected a non-empty list of values, log[a, b, n] or lin[a, b, n]")
            }
        }
        let rule = try m.choice("rule", default: Tuning.Rule.grid)
        let budget = try m.optionalInt("budget", in: 1...Self.maxRuns)
        if rule == .random && budget == nil {
            throw m.error("budget", "random search needs a budget (how many points)")
        }
        let metric = try m.string("metric") ?? (task == .classification ? "validation_accuracy" : "validation_loss")
        guard ["validation_accuracy", "validation_loss"].contains(metric) else {
            throw m.error("metric", "'\(metric)' is not validation_accuracy or validation_loss")
        }
        if metric == "validation_accuracy" && task != .classification {
            throw m.error("metric", "validation_accuracy needs a classification task; use validation_loss")
        }
        var tuning = Tuning(
            axes: axes, rule: rule, budget: budget, seed: try m.int("seed", default: 0, in: 0...Int.max), metric: metric
        )
        if let items = try m.sequence("seeds") {
            let seeds = try seedList(items, file: m.file)
            guard !seeds.isEmpty, Set(seeds).count == seeds.count else {
                throw m.error("seeds", "give at least one tuning seed, each once")
            }
            tuning.seeds = seeds
        }
        try m.finish()
        return tuning
    }

    /// `log[a, b, n]`: n values from a to b evenly spaced in log scale (a, b > 0); `lin[a, b, n]`
    /// evenly spaced; each written with 6 significant digits.
    static func range(_ text: String, path: String, file: String?) throws -> [String] {
        let t = text.trimmingCharacters(in: .whitespaces)
        func fail() -> ConfigError {
            ConfigError(
                file: file, path: path, message: "'\(text)' is not log[a, b, n] or lin[a, b, n] (n from 2 to 1000)")
        }
        guard t.hasSuffix("]"), let open = t.firstIndex(of: "["),
            let kind = Optional(String(t[..<open]).trimmingCharacters(in: .whitespaces)), kind == "log" || kind == "lin"
        else { throw fail() }
        let parts = t[t.index(after: open)..<t.index(before: t.endIndex)].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard parts.count == 3, let a = Double(parts[0]), let b = Double(parts[1]), let n = Int(parts[2]),
            a.isFinite, b.isFinite, (2...1000).contains(n)
        else { throw fail() }
        if kind == "log" && !(a > 0 && b > 0) {
            throw ConfigError(file: file, path: path, message: "log[\(a), \(b), \(n)]: both ends must be > 0")
        }
        return (0..<n).map { i in
            let f = Double(i) / Double(n - 1)
            let v = kind == "log" ? exp(log(a) + (log(b) - log(a)) * f) : a + (b - a) * f
            return String(format: "%.6g", v)
        }
    }

    /// A YAML list of non-negative integer seeds.
    static func seedList(_ items: [(path: String, node: Node)], file: String?) throws -> [Int] {
        try items.map { path, node in
            guard case .scalar(let s) = node, let seed = Int(s.string), seed >= 0 else {
                throw ConfigError(
                    file: file, line: node.mark?.line, path: path, message: "expected a non-negative integer seed")
            }
            return seed
        }
    }

    /// `key.path: value` pairs of a `set` mapping as `--set` overrides.
    static func overrides(of map: ConfigMap) throws -> [String] {
        try map.keys.map { key in "\(key)=\(try yamlText(map.node(key)!, path: map.path(of: key), file: map.file))" }
    }

    /// A value as YAML flow text for `--set` (`0.1`, `adamw`, `[64, 32]`, `{k: v}`).
    static func yamlText(_ node: Node, path: String, file: String?) throws -> String {
        switch node {
        case .scalar(let s): return s.string
        case .sequence(let seq):
            return "[" + (try seq.map { try yamlText($0, path: path, file: file) }).joined(separator: ", ") + "]"
        case .mapping(let map):
            return "{"
                + (try map.map {
                    "\(try yamlText($0.key, path: path, file: file)): \(try yamlText($0.value, path: path, file: file))"
                }).joined(separator: ", ") + "}"
        case .alias:
            throw ConfigError(file: file, line: node.mark?.line, path: path, message: "aliases are not supported here")
        }
    }

    static func slug(_ index: Int, _ name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" }.prefix(60))
        return String(format: "v%02d-", index + 1) + cleaned
    }
}

extension CompareSpec.Tuning {
    /// The points searched, each as indices into the axes: the whole grid in order, its first
    /// `budget` points, or (random) `budget` distinct grid points drawn with `seed`, in grid order.
    public var points: [[Int]] {
        var grid: [[Int]] = [[]]
        var size = 1
        for axis in axes {
            let (product, overflow) = size.multipliedReportingOverflow(by: axis.values.count)
            size = overflow ? Int.max : product
        }
        // Enumerate lazily by index so a huge grid with a small budget stays cheap.
        func point(_ index: Int) -> [Int] {
            var rest = index
            var result = [Int](repeating: 0, count: axes.count)
            for (a, axis) in axes.enumerated().reversed() {
                result[a] = rest % axis.values.count
                rest /= axis.values.count
            }
            return result
        }
        switch rule {
        case .grid:
            let count = min(size, budget ?? size, CompareSpec.maxRuns + 1)
            grid = (0..<count).map(point)
        case .random:
            let count = min(size, budget ?? size)
            var rng = SeededRandom(seed: UInt64(seed))
            var chosen = Set<Int>()
            if size <= 4 * CompareSpec.maxRuns {
                var order = Array(0..<size)
                rng.shuffle(&order)
                chosen = Set(order.prefix(count))
            } else {
                while chosen.count < count { chosen.insert(Int(rng.next() % UInt64(size))) }
            }
            grid = chosen.sorted().map(point)
        }
        return grid
    }
}
