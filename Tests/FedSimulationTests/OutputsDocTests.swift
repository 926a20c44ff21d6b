import Foundation
import XCTest

@testable import FedSimulation

/// `docs/OUTPUTS.md` documents every column `rounds.csv` has.
final class OutputsDocTests: XCTestCase {
    func testEveryRoundsColumnIsDocumented() throws {
        let doc = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/OUTPUTS.md"), encoding: .utf8)
        let section = try XCTUnwrap(doc.components(separatedBy: "## `rounds.jsonl` and `rounds.csv`").last)
            .components(separatedBy: "\n## ").first!
        var documented = Set<String>()
        for span in section.components(separatedBy: "`").enumerated() where span.offset % 2 == 1 {
            documented.insert(span.element)
        }
        let columns = RunDirectory.csvHeader.trimmingCharacters(in: .newlines).split(separator: ",").map(String.init)
        XCTAssertGreaterThan(columns.count, 20)
        for column in columns {
            XCTAssertTrue(documented.contains(column), "docs/OUTPUTS.md does not document \(column)")
        }
    }
}
