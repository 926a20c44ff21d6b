import FedTestSupport
import Foundation
import XCTest

/// The README's module table says what each module imports; the sources must agree.
final class RepositoryTests: XCTestCase {
    let root = Fedsim.repository

    /// FedSim's own modules: the folders of Sources/.
    var ownModules: Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path)) ?? [])
    }

    func imports(of module: String) throws -> Set<String> {
        let dir = root.appendingPathComponent("Sources/\(module)")
        var result = Set<String>()
        let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                let i = words.first == "@testable" ? 1 : 0
                guard words.count > i + 1, words[i] == "import" else { continue }
                let name = String(words[i + 1])
                if ownModules.contains(name) { result.insert(name) }
            }
        }
        return result
    }

    func testTheReadmesModuleTableMatchesTheImports() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "## Architecture").dropFirst().first)
        var listed = Set<String>()
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let module = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let claimed = cells[3] == "—" ? Set<String>() : Set(cells[3].components(separatedBy: ", "))
            XCTAssertEqual(claimed, try imports(of: module), "README's imports for \(module)")
            listed.insert(module)
        }
        let modules = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path)
        XCTAssertEqual(listed, Set(modules), "every module in Sources/ has a row, and no other")
    }

    /// Every file a command's `--help` example names (`Topologies/….yaml`, `Scripts/…`) exists:
    /// one example named a spec that was never shipped.
    func testEveryFileTheHelpExamplesNameExists() throws {
        let dir = root.appendingPathComponent("Sources/fedsim")
        var checked = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where line.contains("fedsim ") || line.contains("Scripts/") {
                for word in line.split(whereSeparator: { " \"'`(),".contains($0) }) {
                    guard word.hasPrefix("Topologies/") || word.hasPrefix("Scripts/"), !word.contains("\\("),
                        word.hasSuffix(".yaml") || word.hasSuffix(".sh") || word.hasSuffix(".json")
                    else { continue }
                    XCTAssertTrue(
                        FileManager.default.fileExists(atPath: root.appendingPathComponent(String(word)).path),
                        "\(file) names \(word), which does not exist")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 10, "the check found the examples")
    }
}
