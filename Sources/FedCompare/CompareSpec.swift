import FedConfig
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

    /// Reads a spec file; the base topology path is relative to the spec's directory. Every
    /// variant is validated (its topology parsed) before anything runs.
    public static func load(file: String) throws -> CompareSpec {
        let root = try ConfigMap.load(file: file)
        root.expected = [
            "name", "base", "seeds", "target_accuracy", "set", "variants", "grid", "final_window", "baseline",
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
            seeds = try items.map { path, node in
                guard case .scalar(let s) = node, let seed = Int(s.string), seed >= 0 else {
                    throw ConfigError(
                        file: file, line: node.mark?.line, path: path, message: "expected a non-negative integer seed")
                }
                return seed
            }
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
        if let items = try root.sequence("variants") {
            for (i, (path, node)) in items.enumerated() {
                let v = try ConfigMap(node, path: path, file: file)
                v.expected = ["name", "set"]
                guard let name = try v.string("name") else { throw v.error(nil, "missing required key 'name'") }
                let sets = try v.map("set").map { try overrides(of: $0) } ?? []
                if let set = try v.map("set") { try refuseSeed(sets, set, "seed") }
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
            for (i, combination) in combinations.enumerated() {
                let name = combination.map { "\($0.0.split(separator: ".").last!)=\($0.1)" }.joined(separator: " ")
                variants.append(
                    Variant(id: slug(i, name), name: name, overrides: common + combination.map { "\($0.0)=\($0.1)" }))
            }
        } else {
            throw root.error(nil, "missing 'variants' (a list of {name, set}) or 'grid' (key.path: [values])")
        }
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
        return spec
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
