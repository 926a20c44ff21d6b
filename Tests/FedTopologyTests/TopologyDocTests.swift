import FedTopology
import Foundation
import XCTest

/// `docs/TOPOLOGY.md` is checked against the key table the parser uses (`TopologyKeys`): every
/// key is documented in its section, and no table documents a key that does not exist.
final class TopologyDocTests: XCTestCase {
    let doc = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/TOPOLOGY.md"), encoding: .utf8)

    /// The text under `## <heading>` up to the next `## `.
    func block(_ section: String) throws -> String {
        let top = section.split(separator: ".").first.map(String.init) ?? ""
        let heading = top.isEmpty ? "## Top level" : "## `\(top)`"
        let start = try XCTUnwrap(doc.range(of: heading + "\n"), "docs/TOPOLOGY.md has no '\(heading)' section")
        let rest = doc[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }

    /// Words inside backticks.
    func codeWords(_ text: String) -> Set<String> {
        var words = Set<String>()
        for span in text.components(separatedBy: "`").enumerated() where span.offset % 2 == 1 {
            for word in span.element.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }) {
                words.insert(String(word))
            }
        }
        return words
    }

    func testEveryKeyIsDocumentedInItsSection() throws {
        for (section, keys) in TopologyKeys.sections {
            let documented = codeWords(try block(section))
            for key in keys {
                XCTAssertTrue(
                    documented.contains(key),
                    "docs/TOPOLOGY.md does not document \(section.isEmpty ? key : section + "." + key)")
            }
        }
    }

    func testEveryDocumentedKeyExists() throws {
        for (section, _) in TopologyKeys.sections where !section.contains(".") {
            let text = try block(section)
            // Rows of tables headed `| key |`: their first column names keys (maybe `local.epochs`).
            var inKeyTable = false
            for line in text.split(separator: "\n") {
                if line.hasPrefix("| key ") {
                    inKeyTable = true
                    continue
                }
                if !line.hasPrefix("|") {
                    inKeyTable = false
                    continue
                }
                guard inKeyTable, let first = line.split(separator: "|").first else { continue }
                let cell = first.trimmingCharacters(in: .whitespaces)
                guard cell.hasPrefix("`") else { continue }
                let path = cell.trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                let parts = path.split(separator: ".").map(String.init)
                let owner = ([section] + parts.dropLast()).filter { !$0.isEmpty }.joined(separator: ".")
                XCTAssertTrue(
                    TopologyKeys.of(owner).contains(parts.last!),
                    "docs/TOPOLOGY.md documents \(path) under \(section), which the parser does not accept")
            }
        }
    }
}

/// The defaults and ranges that `docs/TOPOLOGY.md`'s tables state are the parser's: each stated
/// default is what a topology that leaves the key out resolves to, and each stated numeric upper
/// bound is accepted while the next value above it is refused.
final class TopologyDocDefaultsTests: XCTestCase {
    let doc = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/TOPOLOGY.md"), encoding: .utf8)

    let minimal = """
        data: {source: blobs}
        model: {kind: softmax}
        clients: {optimizer: {name: adamw}}
        """

    /// (section, key, default cell, range cell) of every `| key | default | range | meaning |` row.
    var rows: [(section: String, key: String, defaultText: String, range: String)] {
        var result: [(String, String, String, String)] = []
        var section = ""
        var columns: [String] = []
        for line in doc.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                section = line.hasPrefix("## `") ? line.dropFirst(4).prefix { $0 != "`" }.description : ""
                columns = []
                continue
            }
            guard line.hasPrefix("|") else {
                columns = []
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.first == "key" {
                columns = cells
                continue
            }
            guard columns.first == "key", cells.count == columns.count, cells[0].hasPrefix("`") else { continue }
            let key = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let d = columns.firstIndex(of: "default").map { cells[$0] } ?? ""
            let r = columns.firstIndex(of: "range").map { cells[$0] } ?? ""
            result.append((section, key, d, r))
        }
        return result
    }

    func resolved(_ overrides: [String] = []) throws -> String {
        try Topology.parse(minimal, baseDirectory: "/tmp", overrides: overrides).resolvedYAML()
    }

    /// The resolved value of `section.key` (one level of nesting under the section), as text.
    func value(_ yaml: String, _ section: String, _ key: String) -> String? {
        let path = (section.isEmpty ? [] : [section]) + key.split(separator: ".").map(String.init)
        var indent = 0
        var lines = yaml.split(separator: "\n").map(String.init)[...]
        for (depth, name) in path.enumerated() {
            guard let i = lines.firstIndex(where: { $0.hasPrefix(String(repeating: " ", count: indent) + name + ":") })
            else { return nil }
            let line = lines[i]
            if depth == path.count - 1 {
                return line.dropFirst(indent + name.count + 1).trimmingCharacters(in: .whitespaces)
            }
            lines = lines[(i + 1)...]
            indent += 2
        }
        return nil
    }

    func testStatedDefaultsAreTheParsersDefaults() throws {
        let yaml = try resolved()
        var checked = 0
        for row in rows {
            var stated = row.defaultText
            if stated.hasPrefix("`"), stated.hasSuffix("`"), !stated.dropFirst().dropLast().contains("`") {
                stated = String(stated.dropFirst().dropLast())
            } else if Double(stated) == nil {
                continue  // prose ("required", "the file's name", "`count`", …)
            }
            // A default that names another key (`count`) is that key's value, not a literal.
            guard !stated.contains(" "), !stated.contains("{"), !TopologyKeys.of(row.section).contains(stated),
                let got = value(yaml, row.section, row.key)
            else { continue }
            if let a = Double(stated), let b = Double(got) {
                XCTAssertEqual(a, b, "\(row.section).\(row.key): docs say \(stated), the parser resolves \(got)")
            } else {
                XCTAssertEqual(stated, got, "\(row.section).\(row.key)")
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 15, "the check covers the tables")
    }

    /// The writer keeps every setting: each numeric key of the tables, set to a value other than
    /// its default (its lower or upper bound), survives `resolvedYAML` and a second parse. A key
    /// the writer dropped would come back as its default.
    func testEveryNumericSettingSurvivesTheWriter() throws {
        var checked = 0
        var dropped: [String] = []
        /// "0.5", "10⁷", "2⁶³", "10⁻⁴" as numbers.
        func number(_ text: String) -> Double? {
            if let x = Double(text) { return x }
            let digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
            guard let i = text.firstIndex(where: { digits.contains($0) || $0 == "⁻" }), let base = Double(text[..<i])
            else { return nil }
            var exponent = 0
            var sign = 1
            for c in text[i...] {
                if c == "⁻" {
                    sign = -1
                } else if let d = digits.firstIndex(of: c) {
                    exponent = exponent * 10 + digits.distance(from: digits.startIndex, to: d)
                } else {
                    return nil
                }
            }
            return pow(base, Double(sign * exponent))
        }
        for row in rows where row.range.hasPrefix("[") || row.range.hasPrefix("(") {
            let body = row.range.prefix { $0 != "]" && $0 != ")" }.dropFirst()
            let bounds = body.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard bounds.count == 2, let lower = number(bounds[0]), let upper = number(bounds[1]) else { continue }
            let path = (row.section.isEmpty ? "" : row.section + ".") + row.key
            let isInteger = !bounds[0].contains(".") && !bounds[1].contains(".") && lower == lower.rounded()
            func text(_ x: Double) -> String { isInteger && abs(x) < 1e15 ? String(Int(x)) : String(x) }
            let inside = isInteger ? lower + 1 : lower + (min(upper, lower + 1) - lower) / 2
            var candidates = [text(inside)]
            if row.range.hasPrefix("[") { candidates.append(text(lower)) }
            if row.range.contains("]") { candidates.append(text(upper)) }
            for value in candidates {
                guard let t = try? Topology.parse(minimal, baseDirectory: "/tmp", overrides: ["\(path)=\(value)"]),
                    t != (try Topology.parse(minimal, baseDirectory: "/tmp"))
                else { continue }
                let again = try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp")
                if again != t { dropped.append("\(path)=\(value)") }
                checked += 1
                break
            }
        }
        XCTAssertEqual(dropped, [], "settings the writer loses")
        XCTAssertGreaterThanOrEqual(checked, 15, "the check covers the tables")
    }

    func testStatedUpperBoundsAreTheParsersBounds() throws {
        var checked = 0
        for row in rows where row.range.hasPrefix("[") || row.range.hasPrefix("(") {
            let body = row.range.prefix { $0 != "]" && $0 != ")" }.dropFirst()
            let bounds = body.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard bounds.count == 2, let upper = Double(bounds[1]),
                let closing = row.range.first(where: { $0 == "]" || $0 == ")" })
            else { continue }
            let path = (row.section.isEmpty ? "" : row.section + ".") + row.key
            let isInteger = !bounds[1].contains(".") && Double(bounds[0]).map { $0 == $0.rounded() } == true
            let above = isInteger ? String(Int(upper) + 1) : String(upper * 1.5 + 1)
            XCTAssertThrowsError(try resolved(["\(path)=\(above)"]), "\(path)=\(above) is outside \(row.range)")
            if closing == "]" {
                let at = isInteger ? String(Int(upper)) : String(upper)
                XCTAssertNoThrow(try resolved(["\(path)=\(at)"]), "\(path)=\(at) is inside \(row.range)")
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 8, "the check covers the tables")
    }
}
