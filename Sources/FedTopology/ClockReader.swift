import FedClient
import FedConfig
import FedCore
import Foundation
import Yams

/// The `clock` section (`docs/TOPOLOGY.md`): the virtual clock's devices, availability and
/// deadline, and the optional trace file of measured devices.
extension TopologyReader {
    func readClock(_ m: ConfigMap, clientCount: Int) throws -> VirtualClock {
        m.expected = TopologyKeys.of("clock")
        var clock = VirtualClock()
        clock.secondsPerSample = try m.double("seconds_per_sample", default: 0, in: .closed(0, 1e6))
        clock.speed = try lognormal(m, "speed", median: .positive) ?? clock.speed
        clock.latency = try lognormal(m, "latency", median: .closed(0, 1e6)) ?? clock.latency
        clock.upload = try lognormal(m, "upload", median: .positive)
        clock.download = try lognormal(m, "download", median: .positive)
        clock.availability = try m.double(
            "availability", default: 1, in: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: true)
        )
        clock.sampleOnline = try m.bool("sample_online", default: false)
        clock.deadline = try m.optionalDouble(
            "deadline", in: NumberRange(lower: 0, lowerInclusive: false, upper: 1e12, upperInclusive: true))
        if m.has("late") && clock.deadline == nil {
            throw m.error("late", "a late policy needs a deadline (clock.deadline, in virtual seconds)")
        }
        clock.late = try m.choice("late", default: VirtualClock.LatePolicy.drop)
        clock.overcommit = try m.double("overcommit", default: 1, in: .closed(1, 10))
        if let path = try m.string("trace") {
            clock.tracePath = path
            let file =
                path.hasPrefix("/") ? path : URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).path
            clock.trace = try Self.readTrace(file: file, clientCount: clientCount, key: m.path(of: "trace"))
        }
        try m.finish()
        return clock
    }

    /// A number (the same for every client) or `{median, sigma}` (lognormal per client).
    private func lognormal(_ m: ConfigMap, _ key: String, median range: NumberRange) throws -> LogNormal? {
        guard let node = m.node(key) else { return nil }
        if case .mapping = node {
            let d = try ConfigMap(node, path: m.path(of: key), file: m.file)
            d.expected = TopologyKeys.of("clock.lognormal")
            guard d.has("median") else { throw d.error(nil, "missing required key 'median'") }
            let result = LogNormal(
                median: try d.double("median", default: 1, in: range),
                sigma: try d.double("sigma", default: 0, in: .closed(0, 10)))
            try d.finish()
            return result
        }
        let value = try m.double(key, default: 1, in: range)
        return LogNormal(median: value)
    }

    /// Reads a trace: a CSV with a header naming `client` and any of `speed`, `latency`,
    /// `upload`, `download`, `online`; one row per client id 0 … count − 1. An empty cell leaves
    /// that quantity to the clock's draw.
    static func readTrace(file: String, clientCount: Int, key: String) throws -> ClockTrace {
        let limit = 1 << 30
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
            let data = FileManager.default.contents(atPath: file)
        else { throw ConfigError(path: key, message: "cannot read the trace \(file): no such file or not readable") }
        if let size = attributes[.size] as? Int, size > limit {
            throw ConfigError(path: key, message: "the trace \(file) is larger than 1 GiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, path: "", message: "the trace is not UTF-8 text")
        }
        var hash = FNV1a64()
        data.withUnsafeBytes { hash.add($0) }
        func fail(_ line: Int, _ message: String) -> ConfigError {
            ConfigError(file: file, line: line, path: "", message: message)
        }
        let columns = ["client", "speed", "latency", "upload", "download", "online"]
        var header: [String]?
        var rows = [ClockTrace.Row?](repeating: nil, count: clientCount)
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw[...]
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard let names = header else {
                for name in cells where !columns.contains(name) {
                    throw fail(number, "unknown trace column '\(name)' (columns: \(columns.joined(separator: ", ")))")
                }
                guard cells.first == "client" else { throw fail(number, "the trace's first column must be 'client'") }
                guard Set(cells).count == cells.count else { throw fail(number, "a trace column is named twice") }
                header = cells
                continue
            }
            guard cells.count == names.count else {
                throw fail(
                    number, "expected \(names.count) cells (\(names.joined(separator: ","))), found \(cells.count)")
            }
            guard let id = Int(cells[0]), id >= 0 else { throw fail(number, "client '\(cells[0])' is not a client id") }
            guard id < clientCount else {
                throw fail(number, "client \(id) is outside 0-\(clientCount - 1) (clients.count is \(clientCount))")
            }
            guard rows[id] == nil else { throw fail(number, "client \(id) has a second row") }
            var row = ClockTrace.Row()
            for (name, cell) in zip(names, cells).dropFirst() where !cell.isEmpty {
                if name == "online" {
                    row.online = try cell.split(separator: ";").map { window in
                        let ends = window.split(separator: "-", omittingEmptySubsequences: false).map {
                            Double($0.trimmingCharacters(in: .whitespaces))
                        }
                        guard ends.count == 2, let a = ends[0], let b = ends[1], a.isFinite, b.isFinite, a >= 0, a < b
                        else {
                            throw fail(
                                number,
                                "online window '\(window)' is not START-END in virtual seconds (0 ≤ START < END)")
                        }
                        return a...b
                    }
                    continue
                }
                guard let value = Double(cell), value.isFinite, name == "latency" ? value >= 0 : value > 0 else {
                    throw fail(
                        number, "\(name) '\(cell)' is not a \(name == "latency" ? "non-negative" : "positive") number")
                }
                switch name {
                case "speed": row.speed = value
                case "latency": row.latency = value
                case "upload": row.upload = value
                default: row.download = value
                }
            }
            rows[id] = row
        }
        guard header != nil else { throw ConfigError(file: file, path: "", message: "the trace is empty") }
        if let missing = rows.firstIndex(where: { $0 == nil }) {
            throw ConfigError(
                file: file, path: "",
                message: "client \(missing) has no row (the trace needs one row per client, 0-\(clientCount - 1))")
        }
        return ClockTrace(rows: rows.map { $0! }, contentHash: hash.value)
    }
}
