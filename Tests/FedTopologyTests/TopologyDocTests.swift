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
