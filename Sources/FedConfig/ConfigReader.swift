import Foundation
import Yams

/// A configuration problem, located by its key path (and line, when known):
/// `spec.yaml:4: clients.optimizer.beta2: 1.2 is outside [0, 1)`.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String?
    public var line: Int?
    public var path: String
    public var message: String

    public init(file: String? = nil, line: Int? = nil, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        var prefix = ""
        if let file {
            prefix = file + (line.map { ":\($0)" } ?? "") + ": "
        } else if let line {
            prefix = "line \(line): "
        }
        return prefix + (path.isEmpty ? "" : path + ": ") + message
    }
}

/// An allowed numeric interval, printed the way errors show it: `[0, 1)`, `(0, inf)`.
public struct NumberRange: Sendable, CustomStringConvertible {
    public var lower: Double
    public var lowerInclusive: Bool
    public var upper: Double
    public var upperInclusive: Bool

    public init(lower: Double, lowerInclusive: Bool, upper: Double, upperInclusive: Bool) {
        self.lower = lower
        self.lowerInclusive = lowerInclusive
        self.upper = upper
        self.upperInclusive = upperInclusive
    }

    public static func closed(_ a: Double, _ b: Double) -> NumberRange {
        .init(lower: a, lowerInclusive: true, upper: b, upperInclusive: true)
    }
    public static func halfOpen(_ a: Double, _ b: Double) -> NumberRange {
        .init(lower: a, lowerInclusive: true, upper: b, upperInclusive: false)
    }
    public static let positive = NumberRange(lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false)
    public static let nonNegative = NumberRange(lower: 0, lowerInclusive: true, upper: .infinity, upperInclusive: false)
    public static let any = NumberRange(
        lower: -.infinity, lowerInclusive: false, upper: .infinity, upperInclusive: false)
    public static func atLeast(_ a: Double) -> NumberRange {
        .init(lower: a, lowerInclusive: true, upper: .infinity, upperInclusive: false)
    }

    public func contains(_ x: Double) -> Bool {
        (lowerInclusive ? x >= lower : x > lower) && (upperInclusive ? x <= upper : x < upper)
    }

    public var description: String {
        func show(_ x: Double) -> String {
            if x.isInfinite { return x > 0 ? "inf" : "-inf" }
            return x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
        }
        return (lowerInclusive ? "[" : "(") + show(lower) + ", " + show(upper) + (upperInclusive ? "]" : ")")
    }
}

/// Reads one YAML mapping strictly: typed getters with defaults and ranges, and `finish()`
/// rejects every key nobody asked for, so a typo never passes silently.
public final class ConfigMap {
    public let path: String
    public let file: String?
    private let pairs: [(key: String, value: Node)]
    private let line: Int?
    private var used: Set<String> = []

    /// Parses `text` (YAML or JSON) whose top level must be a mapping.
    public static func parse(_ text: String, file: String? = nil, path: String = "") throws -> ConfigMap {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigError(file: file, path: path, message: "not valid YAML: \(ConfigMap.describe(error))")
        }
        guard let node else { throw ConfigError(file: file, path: path, message: "the file is empty") }
        return try ConfigMap(node, path: path, file: file)
    }

    /// Reads and parses a file.
    public static func load(file: String, path: String = "") throws -> ConfigMap {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(path: "", message: "cannot read \(file): no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, path: "", message: "not UTF-8 text")
        }
        return try parse(text, file: file, path: path)
    }

    public init(_ node: Node, path: String, file: String?) throws {
        self.path = path
        self.file = file
        line = node.mark.map { $0.line }
        guard case .mapping(let mapping) = node else {
            throw ConfigError(
                file: file, line: node.mark?.line, path: path,
                message: "expected a mapping of keys to values, found \(ConfigMap.kind(node))")
        }
        var seen = Set<String>()
        var pairs: [(String, Node)] = []
        for (k, v) in mapping {
            guard case .scalar(let scalar) = k else {
                throw ConfigError(file: file, line: k.mark?.line, path: path, message: "keys must be plain names")
            }
            if !seen.insert(scalar.string).inserted {
                throw ConfigError(
                    file: file, line: k.mark?.line, path: ConfigMap.join(path, scalar.string), message: "duplicate key")
            }
            pairs.append((scalar.string, v))
        }
        self.pairs = pairs
    }

    public var keys: [String] { pairs.map(\.key) }
    public func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    /// The path of `key` inside this mapping, e.g. `clients.optimizer.lr`.
    public func path(of key: String) -> String { ConfigMap.join(path, key) }

    public func error(_ key: String?, _ message: String) -> ConfigError {
        let node = key.flatMap { k in pairs.first { $0.key == k }?.value }
        return ConfigError(
            file: file, line: node?.mark?.line ?? line, path: key.map(path(of:)) ?? path, message: message)
    }

    /// The raw node for `key`, marking it used.
    public func node(_ key: String) -> Node? {
        guard let value = pairs.first(where: { $0.key == key })?.value else { return nil }
        used.insert(key)
        return value
    }

    private func scalar(_ key: String, expected: String) throws -> String? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let s) = node else {
            throw error(key, "expected \(expected), found \(ConfigMap.kind(node))")
        }
        if s.style == .plain && (s.string == "~" || s.string == "null" || s.string.isEmpty) {
            throw error(key, "expected \(expected), found nothing")
        }
        return s.string
    }

    public func double(_ key: String, default value: Double, in range: NumberRange = .any) throws -> Double {
        try optionalDouble(key, in: range) ?? value
    }

    public func optionalDouble(_ key: String, in range: NumberRange = .any) throws -> Double? {
        guard let text = try scalar(key, expected: "a number") else { return nil }
        guard let x = Double(text.trimmingCharacters(in: .whitespaces)), x.isFinite else {
            throw error(key, "expected a finite number, found '\(text)'")
        }
        guard range.contains(x) else { throw error(key, "\(text) is outside \(range)") }
        return x
    }

    public func int(_ key: String, default value: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
        try optionalInt(key, in: range) ?? value
    }

    public func optionalInt(_ key: String, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int? {
        guard let text = try scalar(key, expected: "an integer") else { return nil }
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        guard let x = Int(cleaned) ?? Double(cleaned).flatMap({ $0 == $0.rounded() && abs($0) < 1e18 ? Int($0) : nil })
        else {
            throw error(key, "expected an integer, found '\(text)'")
        }
        guard range.contains(x) else {
            let upper = range.upperBound == Int.max ? "inf)" : "\(range.upperBound)]"
            throw error(key, "\(text) is outside [\(range.lowerBound), \(upper)")
        }
        return x
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let text = try scalar(key, expected: "true or false") else { return value }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(key, "expected true or false, found '\(text)'")
        }
    }

    public func string(_ key: String) throws -> String? {
        try scalar(key, expected: "a string")
    }

    public func choice<E: RawRepresentable & CaseIterable>(
        _ key: String, default value: E? = nil, as _: E.Type = E.self
    ) throws -> E
    where E.RawValue == String {
        guard let text = try scalar(key, expected: "one of " + E.allCases.map(\.rawValue).joined(separator: ", "))
        else {
            if let value { return value }
            throw error(
                nil, "missing required key '\(key)' (one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let e = E(rawValue: text) else {
            throw error(key, "'\(text)' is not one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return e
    }

    public func map(_ key: String) throws -> ConfigMap? {
        guard let node = node(key) else { return nil }
        return try ConfigMap(node, path: path(of: key), file: file)
    }

    /// Elements of a sequence value (each as a node with its own path `key[i]`).
    public func sequence(_ key: String) throws -> [(path: String, node: Node)]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let seq) = node else { throw error(key, "expected a list, found \(ConfigMap.kind(node))") }
        return seq.enumerated().map { ("\(path(of: key))[\($0.offset)]", $0.element) }
    }

    /// Throws for the first key nobody read (a typo or a setting that does not apply here).
    public func finish(hint: ((String) -> String?)? = nil) throws {
        for (key, _) in pairs where !used.contains(key) {
            if let message = hint?(key) { throw error(key, message) }
            let near = used.union(expected).min { ConfigMap.distance($0, key) < ConfigMap.distance($1, key) }
            var message = "unknown key"
            if let near, ConfigMap.distance(near, key) <= 2 { message += " (did you mean '\(near)'?)" }
            throw error(key, message)
        }
    }

    /// Keys a caller may declare as known even when absent, for "did you mean" suggestions.
    public var expected: Set<String> = []

    public static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    public static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let s): "'\(s.string)'"
        case .alias: "an alias"
        }
    }

    /// The first line of a YAML parser error.
    public static func describe(_ error: YamlError) -> String {
        let text = "\(error)"
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    /// Levenshtein distance, for suggestions.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
